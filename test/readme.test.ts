import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import * as Settings from "../src/domain/settings/Settings.ts"
import { settingsTableMarkdown } from "../src/domain/settings/SettingsTable.ts"

const START = "<!-- settings-table:start -->"
const END = "<!-- settings-table:end -->"

const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8").replace(/\r\n/g, "\n")
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
