import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { type ParsedMail, simpleParser } from "mailparser"
import * as fs from "node:fs"
import * as path from "node:path"
import { ConfigError } from "../src/domain/settings/Errors.ts"
import type { SummaryGroup, SummaryInput } from "../src/domain/delivery/Summary.ts"
import { AppConfig, type RunningConfig } from "../src/services/runtime/AppConfig.ts"
import { SilenceLinks } from "../src/services/silences/SilenceLinks.ts"
import { storeInMemory } from "./support/memory.ts"
import { Renderer } from "../src/services/delivery/Renderer.ts"
import { summaryGroup as group, T0 } from "./support/summary.ts"
import { summarizedTokens } from "./support/digests.ts"
import { scopedTempDir } from "./support/tempdir.ts"
import { testConfig } from "./support/config.ts"

const config = (overrides: Partial<RunningConfig> = {}): RunningConfig =>
  testConfig("/failmail-test", { from: "failmail@alerts.example.com", ...overrides })

const rendererLayer = (overrides: Partial<RunningConfig> = {}) =>
  Renderer.Default.pipe(
    Layer.provide(SilenceLinks.Default),
    Layer.provide(Layer.merge(AppConfig.layer(config(overrides)), storeInMemory()))
  )

const input = (groups: ReadonlyArray<SummaryGroup>, batchKey = "db-errors"): SummaryInput => ({
  batchKey,
  batches: [{ key: batchKey, count: groups.reduce((sum, g) => sum + g.count, 0) }],
  recipients: ["ops@example.com", "dev@example.com"],
  groups,
  createdAt: T0 + 60_000
})

const renderParsed = (summary: SummaryInput) =>
  Effect.gen(function* () {
    const renderer = yield* Renderer
    const rendered = yield* renderer.render(summary)
    const parsed: ParsedMail = yield* Effect.promise(() => simpleParser(rendered.raw))
    return { rendered, parsed }
  })

const header = (parsed: ParsedMail, name: string): unknown => parsed.headers.get(name)

const headerLines = (parsed: ParsedMail, name: string): ReadonlyArray<string> =>
  parsed.headerLines.filter((line) => line.key === name).map((line) => line.line)

const withTempDir = <A, E, R>(use: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(scopedTempDir("failmail-renderer-"), use))

describe("Renderer", () => {
  it.effect("with --external-url, each group of the HTML part links to silence it; held-back mail is listed at the end", () =>
    Effect.gen(function* () {
      const held = [{ silenceId: "abc123", matchers: 'subject=~"^disk"', endsAt: T0 + 3_600_000, comment: "known", author: "ann", count: 3 }]
      const { parsed } = yield* renderParsed({ ...input([group(1, { subject: "cpu hot" })]), held })
      const html = parsed.html as string
      expect(html.match(/>silence 1 h</g)).toHaveLength(1)
      expect(html).toContain(">silence 24 h<")
      expect(html).toContain('href="https://failmail.example.com/silence?t&#x3D;')
      expect(html).toMatch(/<b>3<\/b> held back by silence <code>abc123<\/code>/)
      expect(parsed.text).toMatch(/Silenced \(not in this summary; summarized when the silence ends\):\n- Silence abc123 \(subject=~"\^disk", "known" by ann\) until .*: held back 3 messages\n$/)
    }).pipe(Effect.provide(rendererLayer({ externalUrl: "https://failmail.example.com" }))))

  it.effect("without --external-url, no silence links", () =>
    Effect.gen(function* () {
      const { parsed } = yield* renderParsed(input([group(1)]))
      expect(parsed.html).not.toContain("silence 1 h")
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("subject for one group with one instance", () =>
    Effect.gen(function* () {
      const { rendered, parsed } = yield* renderParsed(input([group(1, { subject: "disk full on db1" })]))
      expect(parsed.subject).toBe("[failmail] 1 instance: disk full on db1")
      expect(rendered.subject).toBe("[failmail] 1 instance: disk full on db1")
      expect(rendered).toMatchObject({ messageCount: 1, groupCount: 1, batchKey: "db-errors" })
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("subject for one group with seven instances", () =>
    Effect.gen(function* () {
      const { parsed } = yield* renderParsed(input([group(1, { count: 7, subject: "disk full on db1" })]))
      expect(parsed.subject).toBe("[failmail] 7 instances: disk full on db1")
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("subject for several groups", () =>
    Effect.gen(function* () {
      const { parsed } = yield* renderParsed(
        input([group(1, { count: 3 }), group(2, { count: 2 }), group(3, { count: 2 })])
      )
      expect(parsed.subject).toBe("[failmail] 7 instances of 3 messages")
      expect(header(parsed, "x-failmail-messages")).toBe("7")
      expect(header(parsed, "x-failmail-groups")).toBe("3")
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("uses --subject-prefix", () =>
    Effect.gen(function* () {
      const { parsed } = yield* renderParsed(input([group(1, { subject: "x" })]))
      expect(parsed.subject).toBe("[alerts] 1 instance: x")
    }).pipe(Effect.provide(rendererLayer({ subjectPrefix: "[alerts]" }))))

  it.effect("builds a multipart/alternative message with the standard headers", () =>
    Effect.gen(function* () {
      const { rendered, parsed } = yield* renderParsed(input([group(1, { count: 2, subject: "disk full" })]))
      const raw = rendered.raw.toString("utf8")
      expect(header(parsed, "content-type")).toMatchObject({ value: "multipart/alternative" })
      expect(header(parsed, "mime-version")).toBe("1.0")
      expect(parsed.date?.getTime()).toBe(T0 + 60_000)
      expect(parsed.messageId).toMatch(/^<[^@\s]+@alerts\.example\.com>$/)
      expect(header(parsed, "x-failmail-batch")).toBe("db-errors")
      expect(parsed.from?.text).toBe("failmail@alerts.example.com")
      expect(parsed.to).toMatchObject({ text: "ops@example.com, dev@example.com" })
      expect(rendered.from).toBe("failmail@alerts.example.com")
      expect(rendered.recipients).toEqual(["ops@example.com", "dev@example.com"])
      expect(raw).toMatch(/\r\n\r\n/)
      expect(raw.replace(/\r\n/g, "")).not.toContain("\n")

      const text = parsed.text ?? ""
      expect(text).toContain("--- Failmail ---")
      expect(text).toContain("Total messages: 2")
      expect(text).toContain("Unique messages: 1")
      expect(text).toContain("Oldest message: Tue, 14 Nov 2023 22:13:21 +0000")
      expect(text).toContain("- Message group 1 of 1: 2 instances")
      expect(text).toContain("From Tue, 14 Nov 2023 22:13:21 +0000 to Tue, 14 Nov 2023 22:13:22 +0000")
      expect(text).toContain('Subject: "disk full"')
      expect(text).toContain("Senders: app1@example.com")
      expect(text).toContain("Body:\nbody of group 1")

      const html = typeof parsed.html === "string" ? parsed.html : ""
      expect(html).toContain("<!DOCTYPE html>")
      expect(html).toContain("disk full")
      expect(html).toContain("<pre")
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("always writes X-Failmail-Batch, also for the empty default key", () =>
    Effect.gen(function* () {
      const { parsed } = yield* renderParsed(input([group(1)], ""))
      // mailparser leaves empty headers out of `headers`, but the line is there.
      expect(headerLines(parsed, "x-failmail-batch")).toEqual(["X-Failmail-Batch: "])
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("encodes a non-ASCII batch key and strips CR/LF from it", () =>
    Effect.gen(function* () {
      const { rendered, parsed } = yield* renderParsed(input([group(1)], "zürich\r\nBcc: evil@x"))
      // mailparser does not decode encoded words in unknown headers: check nodemailer's encoding itself.
      expect(headerLines(parsed, "x-failmail-batch")).toEqual(["X-Failmail-Batch: =?UTF-8?Q?z=C3=BCrich_Bcc=3A_evil=40x?="])
      expect(parsed.bcc).toBeUndefined()
      expect(rendered.raw.toString("latin1")).not.toMatch(/^Bcc:/im)
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("escapes HTML from subjects and bodies", () =>
    Effect.gen(function* () {
      const { parsed } = yield* renderParsed(
        input([
          group(1, {
            subject: `<script>alert("subject")</script>`,
            body: `<script>alert("body")</script><img src=x onerror=alert(1)>`,
            senders: ["<b>bold</b>@example.com"]
          }),
          group(2)
        ])
      )
      const html = typeof parsed.html === "string" ? parsed.html : ""
      expect(html).not.toContain("<script")
      expect(html).not.toContain("<img")
      expect(html).not.toContain("<b>bold")
      expect(html).toContain("&lt;script&gt;")
      expect(parsed.text).toContain(`<script>alert("body")</script>`)
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("a subject with CR/LF never produces a header", () =>
    Effect.gen(function* () {
      const { rendered, parsed } = yield* renderParsed(input([group(1, { subject: "boom\r\nBcc: evil@x" })]))
      expect(parsed.subject).toBe("[failmail] 1 instance: boom Bcc: evil@x")
      expect(parsed.bcc).toBeUndefined()
      expect(parsed.headers.has("bcc")).toBe(false)
      expect(rendered.raw.toString("latin1")).not.toMatch(/^Bcc:/im)
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("stays bounded with 5,000 groups of 10 KB bodies", () =>
    Effect.gen(function* () {
      const body = "0123456789".repeat(1_024)
      const groups = Array.from({ length: 5_000 }, (_, i) => group(i + 1, { count: 3, body }))
      const { rendered, parsed } = yield* renderParsed(input(groups))
      expect(rendered.raw.length).toBeLessThan(1_000_000)
      expect(parsed.subject).toBe("[failmail] 15000 instances of 5000 messages")
      const text = parsed.text ?? ""
      expect(text).toContain("more characters cut]")
      expect(text).toContain("- Message group 1000 of 5000: 3 instances")
      expect(text).not.toContain("- Message group 1001 of 5000")
      expect(text).toContain("4000 more groups (12000 messages) omitted")
      expect(header(parsed, "x-failmail-groups")).toBe("5000")
    }).pipe(Effect.provide(rendererLayer())))

  it.effect("--template with an absolute path replaces the text part", () =>
    withTempDir((dir) =>
      Effect.gen(function* () {
        const file = path.join(dir, "custom.hbs")
        fs.writeFileSync(file, "CUSTOM {{messageCount}} in {{groupCount}}{{#each groups}} [{{subject}}]{{/each}}\n")
        const { parsed } = yield* renderParsed(input([group(1, { subject: "a & <b>" }), group(2)])).pipe(
          Effect.provide(rendererLayer({ template: file }))
        )
        expect(parsed.text?.trim()).toBe("CUSTOM 2 in 2 [a & <b>] [subject 2]")
        expect(parsed.html).toContain("a &amp; &lt;b&gt;")
      })
    ))

  it.effect("--template with a relative path works too", () =>
    withTempDir((dir) =>
      Effect.gen(function* () {
        const file = path.join(dir, "relative.hbs")
        fs.writeFileSync(file, "RELATIVE {{subject}}\n")
        const { parsed } = yield* renderParsed(input([group(1, { subject: "x" })])).pipe(
          Effect.provide(rendererLayer({ template: path.relative(process.cwd(), file) }))
        )
        expect(parsed.text?.trim()).toBe("RELATIVE [failmail] 1 instance: x")
      })
    ))

  it.effect("a missing template file is a ConfigError", () =>
    Effect.gen(function* () {
      const error = yield* Renderer.pipe(Effect.provide(rendererLayer({ template: "/nonexistent/dir/x.hbs" })), Effect.flip)
      expect(error).toBeInstanceOf(ConfigError)
      expect(error.message).toMatch(/^template \/nonexistent\/dir\/x\.hbs: cannot read: ENOENT/)
      expect(error.message).not.toContain("\n")
    }))

  it.effect("a template that does not compile is a ConfigError", () =>
    withTempDir((dir) =>
      Effect.gen(function* () {
        const file = path.join(dir, "broken.hbs")
        fs.writeFileSync(file, "{{#each groups}}\nunclosed\n")
        const error = yield* Renderer.pipe(Effect.provide(rendererLayer({ template: file })), Effect.flip)
        expect(error).toBeInstanceOf(ConfigError)
        expect(error.message).toContain(`template ${file}: cannot compile:`)
        expect(error.message).not.toContain("\n")
      })
    ))

  it.effect("a template naming a field that does not exist is a ConfigError", () =>
    withTempDir((dir) =>
      Effect.gen(function* () {
        const file = path.join(dir, "typo.hbs")
        fs.writeFileSync(file, "{{mesageCount}}\n")
        const error = yield* Renderer.pipe(Effect.provide(rendererLayer({ template: file })), Effect.flip)
        expect(error.message).toMatch(/cannot compile: .*mesageCount/)
      })
    ))

  it.effect("a template failing at run time falls back to a plain rendering", () =>
    withTempDir((dir) =>
      Effect.gen(function* () {
        // The check at start renders a sample that has omitted groups, so this branch only fails later.
        const file = path.join(dir, "late.hbs")
        fs.writeFileSync(file, "{{#unless hasOmitted}}{{noSuchField}}{{/unless}}\n")
        const { parsed } = yield* renderParsed(input([group(1, { subject: "still here" })])).pipe(
          Effect.provide(rendererLayer({ template: file }))
        )
        expect(parsed.subject).toBe("[failmail] 1 instance: still here")
        expect(parsed.text).toContain("--- Failmail ---")
        expect(parsed.text).toContain('Subject: "still here"')
        expect(parsed.html).toContain("still here")
      })
    ))
})

describe("Renderer: a digest that reads at a glance", () => {
  it.effect("both parts open with an overview; each group shows its count per minute (text sparkline, HTML bars without images)", () =>
    Effect.gen(function* () {
      const minute = (n: number) => T0 + n * 60_000
      const { rendered, parsed } = yield* renderParsed(
        input([
          group(1, { subject: "db <down>", count: 3, firstAt: minute(0), lastAt: minute(4), times: [minute(0), minute(0), minute(4)] }),
          group(2, {
            subject: "disk full",
            count: 5,
            firstAt: minute(0),
            lastAt: minute(4),
            times: [minute(0), minute(1), minute(2), minute(3), minute(4)],
            novelty: "ongoing",
            firstSeen: minute(-600),
            instancesSince: 90
          })
        ])
      )
      expect(header(parsed, "x-failmail-new")).toBe("1")
      expect(rendered.subject).toBe("[failmail] 8 instances of 2 messages")
      const text = parsed.text ?? ""
      expect(text).toContain("Total messages: 8\nUnique messages: 2\nNew groups: 1\nOngoing groups: 1\nBusiest: \"disk full\" (5 instances)\n")
      expect(text).toContain("- Message group 1 of 2: 3 instances\n  New\n")
      expect(text).toContain("  Per minute: [█   ▄]\n")
      expect(text).toContain("  Ongoing: first seen Tue, 14 Nov 2023 12:13:20 +0000, 90 instances since\n")
      expect(text).toContain("  Per minute: [█████]\n")
      const html = parsed.html || ""
      expect(html.indexOf("New groups")).toBeLessThan(html.indexOf("Group 1 of 2"))
      expect(html).toContain("db &lt;down&gt;")
      expect(html).not.toContain("<down>")
      expect(html).not.toMatch(/<img|src=|url\(/i)
      expect(html.match(/background:#0969da;/g)).toHaveLength(10)
    }).pipe(Effect.provide(rendererLayer()))
  )
})

describe("a summary's text as the end-to-end tests count its messages", () => {
  it.effect("a group of an earlier digest named on a Stopped: line is not counted as summarized again; the summary's own groups are", () =>
    Effect.gen(function* () {
      const groups = [group(1, { subject: "alert [m-00001]" }), group(2, { subject: "alert [m-00002]" })]
      const { parsed } = yield* renderParsed({ ...input(groups), stopped: [{ subject: "alert [m-00003]", lastSeen: T0 }] })
      const text = parsed.text ?? ""
      expect(text).toContain("Stopped: alert [m-00003] (last seen")
      expect(summarizedTokens(text, /\[m-\d{5}\]/g)).toEqual(["[m-00001]", "[m-00002]"])
    }).pipe(Effect.provide(rendererLayer()))
  )
})
