import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import * as Settings from "../src/domain/settings/Settings.ts"
import { settingsTableMarkdown } from "../src/domain/settings/SettingsTable.ts"

const START = "<!-- settings-table:start -->"
const END = "<!-- settings-table:end -->"

const root = fileURLToPath(new URL("..", import.meta.url))
const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8").replace(/\r\n/g, "\n")
const readme = read("README.md")
const expected = settingsTableMarkdown({ hostname: "<hostname>" })

describe("README.md settings table", () => {
  it("has exactly one marked section", () => {
    expect(readme.split(START)).toHaveLength(2)
    expect(readme.split(END)).toHaveLength(2)
    expect(readme.indexOf(START)).toBeLessThan(readme.indexOf(END))
  })

  it("is the table generated from the settings definitions", () => {
    const actual = readme.slice(readme.indexOf(START) + START.length, readme.indexOf(END)).trim()
    expect(
      actual,
      `README.md is out of date with src/domain/settings/Settings.ts; put this between ${START} and ${END}:\n\n${expected}\n`
    ).toBe(expected.trim())
  })
})

describe("settingsTableMarkdown", () => {
  const lines = expected.split("\n")

  it.each(Settings.configKeys.map((key) => [Settings.settings[key].name, key] as const))(
    "has a row for --%s with its default and help",
    (name, key) => {
      const setting = Settings.settings[key]
      const row = lines.find((line) => line.startsWith(`| \`--${name}\` |`))
      expect(row).toBeDefined()
      const text = Settings.encodeValue(key, setting.defaultValue({ hostname: "<hostname>" }) as never)
      expect(row).toContain(text === "" ? "| none |" : `| \`${text}\` |`)
      expect(row).toContain(setting.help.replace(/\|/g, "\\|"))
    }
  )

  it("shows the host-dependent default as failmail@<hostname>", () => {
    expect(expected).toContain("| `--from` | `failmail@<hostname>` |")
  })

  it("lists the deprecated settings apart, and no command-line actions", () => {
    for (const name of ["poll", "receiver", "sender", "memory-store"]) {
      expect(lines.some((line) => line.startsWith(`| \`--${name}\` /`))).toBe(true)
    }
    for (const name of ["config", "write-config", "help", "version"]) {
      expect(lines.some((line) => line.startsWith(`| \`--${name}\``))).toBe(false)
    }
  })
})

/** Every page under `docs/`, as a path from the repository's root. */
const docsPages = fs
  .readdirSync(path.join(root, "docs"))
  .filter((name) => name.endsWith(".md"))
  .map((name) => `docs/${name}`)
  .sort()

/** Markdown without its fenced code blocks and inline code, where a `](…)` is not a link. */
const withoutCode = (markdown: string) => markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "``")

/** The targets of a page's inline links and images: `[text](target)`, `![alt](target)`. */
const linkTargets = (markdown: string): ReadonlyArray<string> =>
  [...withoutCode(markdown).matchAll(/\]\(([^()\s]+)(?:\s+"[^"]*")?\)/g)].map((match) => match[1]!)

/** A relative link: not a URL with a scheme, not `//host`, not an anchor in the same page. */
const isRelative = (target: string) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith("//") && !target.startsWith("#")

/** The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
const anchorsOf = (markdown: string): ReadonlySet<string> => {
  const seen = new Map<string, number>()
  const anchors = new Set<string>()
  for (const [, heading] of withoutCode(markdown.replace(/`/g, "\u0000")).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const slug = heading!
      .replace(/\u0000/g, "")
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-")
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return anchors
}

describe("README.md and docs/", () => {
  it("the README is at most 450 lines", () => {
    expect(readme.split("\n").length).toBeLessThanOrEqual(450)
  })

  it("the README links every page in docs/ by a relative link", () => {
    const linked = new Set(linkTargets(readme).filter(isRelative).map((target) => path.normalize(target.split("#")[0]!)))
    expect(docsPages.filter((page) => !linked.has(path.normalize(page)))).toEqual([])
  })

  it.each(["README.md", ...docsPages])("every relative link in %s points to a file that exists, and to a heading it has", (page) => {
    const broken: Array<string> = []
    for (const target of linkTargets(read(page)).filter(isRelative)) {
      const [file, anchor] = target.split("#") as [string, string | undefined]
      const resolved = path.join(path.dirname(path.join(root, page)), decodeURIComponent(file))
      if (!fs.existsSync(resolved)) {
        broken.push(`${target}: no such file`)
        continue
      }
      if (anchor !== undefined && resolved.endsWith(".md") && !anchorsOf(fs.readFileSync(resolved, "utf8")).has(anchor)) {
        broken.push(`${target}: no such heading`)
      }
    }
    expect(broken).toEqual([])
  })

  it("same-page anchors in the README and docs/ name a heading of the page", () => {
    const broken = ["README.md", ...docsPages].flatMap((page) => {
      const text = read(page)
      const anchors = anchorsOf(text)
      return linkTargets(text)
        .filter((target) => target.startsWith("#") && !anchors.has(target.slice(1)))
        .map((target) => `${page}: ${target}`)
    })
    expect(broken).toEqual([])
  })
})
