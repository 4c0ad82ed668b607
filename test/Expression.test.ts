import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { compile, fromGoTemplate, type Expression } from "../src/domain/message/Expression.ts"
import type { MessageView } from "../src/domain/message/Message.ts"

/** A message view with the given subject and extra (lower-cased) headers. */
const view = (subject: string, overrides: Partial<MessageView> = {}): MessageView => ({
  subject,
  from: "alerts@example.com",
  to: "ops@example.com",
  date: "Wed, 25 Nov 2026 09:03:00 +0000",
  body: "body text",
  headers: { subject, from: "alerts@example.com", to: "ops@example.com", ...overrides.headers },
  envelope: { mailFrom: "bounce@example.com", rcptTo: ["ops@example.com", "Dev@Example.com"] },
  ...overrides
})

const expression = (source: string, name = "batch-expr"): Expression => {
  const compiled = compile(source, name)
  if (Either.isLeft(compiled)) throw new Error(`unexpected compile error: ${compiled.left}`)
  return compiled.right
}

const key = (source: string, message: MessageView): string => {
  const result = expression(source).evaluate(message)
  if (Either.isLeft(result)) throw new Error(`unexpected evaluation warning: ${result.left}`)
  return result.right
}

const compileError = (source: string, name = "batch-expr"): string => {
  const compiled = compile(source, name)
  if (Either.isRight(compiled)) throw new Error(`expected a compile error for ${source}`)
  return compiled.left
}

describe("docs/batching.md examples (SPEC §2)", () => {
  it("match batches by the [site] tag", () => {
    const source = String.raw`{{match "\[\w+\]" (.Header.Get "Subject")}}`
    const bosDb = key(source, view("[bos] error in db"))
    expect(bosDb).toBe("[bos]")
    expect(key(source, view("[bos] error in web"))).toBe(bosDb)
    expect(key(source, view("[nyc] error in db"))).not.toBe(bosDb)
  })

  it("replace batches by everything but the [site] tag", () => {
    const source = String.raw`{{replace "\[\w+\]" (.Header.Get "Subject") "*"}}`
    const bosDb = key(source, view("[bos] error in db"))
    expect(bosDb).toBe("* error in db")
    expect(key(source, view("[nyc] error in db"))).toBe(bosDb)
    expect(key(source, view("[bos] error in web"))).not.toBe(bosDb)
  })

  it("accepts Go back-quoted raw strings", () => {
    const source = "{{match `\\[\\w+\\]` (.Header.Get `Subject`)}}"
    expect(key(source, view("[bos] error in db"))).toBe("[bos]")
    expect(key(source, view("[nyc] error in db"))).toBe("[nyc]")
    const replaced = "{{replace `\\[\\w+\\]` (.Header.Get \"Subject\") `*`}}"
    expect(key(replaced, view("[bos] error in db"))).toBe(key(replaced, view("[nyc] error in db")))
  })

  it("the default batch-expr reads X-Failmail-Split", () => {
    const source = `{{.Header.Get "X-Failmail-Split"}}`
    expect(key(source, view("a", { headers: { "x-failmail-split": "shard-1" } }))).toBe("shard-1")
    expect(key(source, view("a"))).toBe("")
  })

  it("the default group-expr is the subject", () => {
    const source = `{{.Header.Get "Subject"}}`
    expect(key(source, view("disk full"))).toBe("disk full")
    expect(key(source, view("disk full"))).not.toBe(key(source, view("disk fine")))
  })
})

describe("Go-template compatibility", () => {
  it("rewrites .Header.Get and raw strings only inside mustaches", () => {
    expect(fromGoTemplate(`{{.Header.Get "Subject"}}`)).toBe(`{{header "Subject"}}`)
    expect(fromGoTemplate(`{{ .Header.Get "Subject" }}`)).toBe(`{{ header "Subject" }}`)
    expect(fromGoTemplate(`{{lower (.Header.Get "Subject")}}`)).toBe(`{{lower (header "Subject")}}`)
    expect(fromGoTemplate("{{match `a\"b` subject}}")).toBe(`{{match "a\\"b" subject}}`)
    expect(fromGoTemplate(".Header.Get `x` {{subject}}")).toBe(".Header.Get `x` {{subject}}")
    expect(fromGoTemplate(`{{replace ".Header.Get" subject "\`"}}`)).toBe(`{{replace ".Header.Get" subject "\`"}}`)
    expect(fromGoTemplate(`{{!-- .Header.Get }} --}}{{subject}}`)).toBe(`{{!-- .Header.Get }} --}}{{subject}}`)
    expect(fromGoTemplate(`{{- subject -}}`)).toBe(`{{~ subject ~}}`)
  })

  it("a raw string may contain double quotes", () => {
    expect(key('{{replace `"` subject `\'`}}', view('say "hi"'))).toBe("say 'hi'")
  })

  it("Go trim markers work", () => {
    expect(key("a  {{- subject -}}  b", view("x"))).toBe("axb")
  })

  it("Go regexp syntax: (?i) and (?P<name>…)", () => {
    expect(key(`{{match "(?i)error" subject}}`, view("ERROR in db"))).toBe("ERROR")
    expect(key(`{{replace "(?P<site>\\w+)-\\d+" subject "\${site}"}}`, view("bos-12 down"))).toBe("bos down")
  })
})

describe("helpers", () => {
  it("header is case-insensitive and empty when absent", () => {
    const message = view("s", { headers: { "x-site": "bos" } })
    expect(key(`{{header "X-SITE"}}`, message)).toBe("bos")
    expect(key(`{{header "x-site"}}`, message)).toBe("bos")
    expect(key(`{{header "X-Missing"}}`, message)).toBe("")
  })

  it("a lone header lookup renders what the same lookup renders inside a template", () => {
    const messages = [
      view("s", { headers: { "x-site": "<b>&amp; \"bos\"</b>" } }),
      view("s", { headers: { constructor: "own" } }),
      view("s", { headers: {} }),
      view("=?utf-8?q?caf=C3=A9?=")
    ]
    for (const name of ["X-Site", "constructor", "toString", "Subject"]) {
      for (const message of messages) {
        expect(key(`{{header "${name}"}}`, message)).toBe(key(`{{#if true}}{{header "${name}"}}{{/if}}`, message))
        expect(key(`{{.Header.Get "${name}"}}`, message)).toBe(key(`{{#if true}}{{header "${name}"}}{{/if}}`, message))
      }
    }
  })

  it("header works inside blocks that change the context", () => {
    expect(key(`{{#with envelope}}{{header "Subject"}}{{/with}}`, view("inner"))).toBe("inner")
  })

  it("match returns the leftmost match or empty", () => {
    expect(key(`{{match "\\d+" subject}}`, view("a 12 b 34"))).toBe("12")
    expect(key(`{{match "\\d+" subject}}`, view("none"))).toBe("")
  })

  it("replace replaces every match and expands $1, $<name>, ${1}, ${name}", () => {
    expect(key(`{{replace "\\d" subject "#"}}`, view("a1b22"))).toBe("a#b##")
    expect(key(`{{replace "(\\w+)@(\\w+)" subject "$2:$1"}}`, view("me@host you@there"))).toBe("host:me there:you")
    expect(key(`{{replace "(?<user>\\w+)@\\w+" subject "<$<user>>"}}`, view("me@host"))).toBe("<me>")
    expect(key(`{{replace "(\\w+)@\\w+" subject "\${1}0"}}`, view("me@host"))).toBe("me0")
    expect(key(`{{replace "(?<user>\\w+)@\\w+" subject "\${user}!"}}`, view("me@host"))).toBe("me!")
    expect(key(`{{replace "x" subject "$$"}}`, view("axb"))).toBe("a$b")
  })

  it("lower, upper, trim, normalize", () => {
    expect(key("{{lower subject}}", view("Disk FULL"))).toBe("disk full")
    expect(key("{{upper subject}}", view("Disk full"))).toBe("DISK FULL")
    expect(key("{{trim subject}}", view("  padded \t"))).toBe("padded")
    expect(key("[{{trim (lower subject)}}]", view("  MiXeD  "))).toBe("[mixed]")
    const normalized = "{{normalize subject}}"
    expect(key(normalized, view("timeout after 1523ms for user 42"))).toBe(
      key(normalized, view("timeout after 87ms for user 7"))
    )
    expect(key(normalized, view("timeout after 87ms for user 7"))).toBe("timeout after <duration> for user <n>")
  })

  it("non-string arguments are stringified, missing ones are empty", () => {
    expect(key("{{upper envelope.to}}", view("s"))).toBe("OPS@EXAMPLE.COM,DEV@EXAMPLE.COM")
    expect(key("{{upper nothing}}", view("s"))).toBe("")
    expect(key("{{lower}}", view("s"))).toBe("")
    expect(key(`{{match "\\d" 42}}`, view("s"))).toBe("4")
  })
})

describe("context", () => {
  it("exposes subject, from, to, date, body", () => {
    const message = view("subj", { body: "the body" })
    expect(key("{{subject}}|{{from}}|{{to}}|{{date}}|{{body}}", message)).toBe(
      "subj|alerts@example.com|ops@example.com|Wed, 25 Nov 2026 09:03:00 +0000|the body"
    )
  })

  it("exposes the envelope", () => {
    expect(key("{{envelope.from}}", view("s"))).toBe("bounce@example.com")
    expect(key("{{#each envelope.to}}[{{this}}]{{/each}}", view("s"))).toBe("[ops@example.com][Dev@Example.com]")
    expect(key("{{envelope.to.[1]}}", view("s"))).toBe("Dev@Example.com")
  })

  it("exposes headers by lower-cased name", () => {
    const message = view("s", { headers: { "x-failmail-split": "7" } })
    expect(key("{{headers.x-failmail-split}}", message)).toBe("7")
    expect(key(`{{lookup headers "x-failmail-split"}}`, message)).toBe("7")
  })

  it("does not HTML-escape", () => {
    expect(key("{{subject}}", view("a & <b>"))).toBe("a & <b>")
    expect(key("{{lower subject}}", view(`"Q" & 'R' <s>`))).toBe(`"q" & 'r' <s>`)
  })

  it("keeps the source", () => {
    expect(expression(`{{.Header.Get "Subject"}}`).source).toBe(`{{.Header.Get "Subject"}}`)
  })
})

describe("compile errors", () => {
  it("reports bad syntax in one line naming the setting", () => {
    for (const source of ["{{subject", "{{#if subject}}x", "{{match (subject}}", "{{/if}}"]) {
      const error = compileError(source, "group-expr")
      expect(error).toMatch(/^group-expr: /)
      expect(error).not.toContain("\n")
    }
  })

  it("reports unknown helpers", () => {
    const error = compileError(`{{frobnicate subject}}`)
    expect(error).toMatch(/^batch-expr: /)
    expect(error).toContain("frobnicate")
    expect(error).not.toContain("\n")
    expect(compileError(`{{lower (frobnicate subject)}}`)).toContain("frobnicate")
  })

  it("accepts an empty expression and plain text", () => {
    expect(key("", view("s"))).toBe("")
    expect(key("constant", view("s"))).toBe("constant")
  })
})

describe("run-time regexp errors", () => {
  it("an invalid pattern compiles but evaluates to Left with a one-line warning", () => {
    const compiled = expression(`{{match "[" subject}}`)
    const result = compiled.evaluate(view("s"))
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left).toMatch(/^batch-expr: invalid regular expression "\[": /)
      expect(result.left).not.toContain("\n")
    }
    // Evaluated again (cached failure), still a warning, never a throw.
    expect(Either.isLeft(compiled.evaluate(view("t")))).toBe(true)
  })

  it("a pattern taken from the message is checked per message", () => {
    const compiled = expression(`{{replace (header "X-Pattern") subject "_"}}`, "group-expr")
    expect(compiled.evaluate(view("a1", { headers: { "x-pattern": "\\d" } }))).toEqual(Either.right("a_"))
    const bad = compiled.evaluate(view("a1", { headers: { "x-pattern": "(" } }))
    expect(bad).toEqual(Either.left(expect.stringMatching(/^group-expr: invalid regular expression "\(": /)))
  })
})
