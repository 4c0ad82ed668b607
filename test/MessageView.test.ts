/**
 * One decoded view per message, whatever the expressions read: on a corpus
 * of real-world header shapes, the header-only path (no expression reads
 * `body`) and the full path (one does) give the same view apart from the
 * body, and so the same keys; and the view is what docs/batching.md (Expressions) promises.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import MailComposer from "nodemailer/lib/mail-composer/index.js"
import type { MessageView } from "../src/domain/message/Message.ts"
import { AppConfig } from "../src/services/runtime/AppConfig.ts"
import { Classifier } from "../src/services/message/Classifier.ts"
import { testConfig } from "./support/config.ts"

const envelope = { mailFrom: "app@example.org", rcptTo: ["ops@example.com"] }

/** The fields every expression reads (everything but the body). */
const KEY = '{{subject}}|{{from}}|{{to}}|{{date}}|{{header "X-Tag"}}|{{header "From"}}'

/** A classifier whose expressions read the headers only, or also the body. */
const classifierReading = (what: "headers" | "body") =>
  Classifier.pipe(
    Effect.provide(
      Layer.provide(
        Classifier.Default,
        AppConfig.layer(testConfig("/failmail-test", { batchExpr: what === "body" ? "{{#if body}}{{/if}}" : "", groupExpr: KEY }))
      )
    )
  )

/** Both views of a message, and both group keys. */
const bothPaths = (raw: Uint8Array) =>
  Effect.gen(function* () {
    const headersOnly = yield* Effect.flatMap(classifierReading("headers"), (c) => c.classify(raw, envelope))
    const withBody = yield* Effect.flatMap(classifierReading("body"), (c) => c.classify(raw, envelope))
    return { headersOnly, withBody }
  })

const crlf = (...lines: ReadonlyArray<string>) => Buffer.from(lines.join("\r\n"), "utf8")
const latin1 = (text: string) => Buffer.from(text, "latin1")

interface Case {
  readonly name: string
  readonly raw: () => Uint8Array | Promise<Uint8Array>
  readonly expected: Partial<Omit<MessageView, "headers" | "envelope">> & {
    readonly headers?: Readonly<Record<string, string>>
  }
}

const corpus: ReadonlyArray<Case> = [
  {
    name: "UTF-8 Q display name",
    raw: () => crlf("From: =?UTF-8?Q?=C3=9Cli?= <uli@x.example>", "Subject: hi", "", "body"),
    expected: { from: "Üli <uli@x.example>", headers: { from: "Üli <uli@x.example>", subject: "hi" } }
  },
  {
    name: "comment as the name",
    raw: () => crlf("From: bot@x.example (Build Bot)", "Subject: build", "", "body"),
    expected: { from: "Build Bot <bot@x.example>", headers: { from: "bot@x.example (Build Bot)", subject: "build" } }
  },
  {
    name: "quoted name with a comma, several recipients",
    raw: () => crlf('From: "Doe, John" <john@x.example>', "To: ops@x.example, Dev Team <dev@x.example>", "", "b"),
    expected: { from: '"Doe, John" <john@x.example>', to: "ops@x.example, Dev Team <dev@x.example>" }
  },
  {
    name: "group syntax and undisclosed recipients",
    raw: () => crlf("From: a@x.example", "To: undisclosed-recipients:;", "Subject: s", "", "b"),
    expected: { to: "undisclosed-recipients:;" }
  },
  {
    name: "encoded name that looks like an address",
    raw: () => crlf("From: =?utf-8?B?Q0VPIDxjZW9AYmFuay5jb20+?= <evil@x.example>", "", "b"),
    expected: { from: '"CEO <ceo@bank.com>" <evil@x.example>' }
  },
  {
    name: "encoded custom header",
    raw: () => crlf("Subject: s", "X-Tag: =?UTF-8?Q?caf=C3=A9?=", "", "b"),
    expected: { headers: { subject: "s", "x-tag": "café" } }
  },
  {
    name: "ISO-8859-1 Q subject",
    raw: () => crlf("Subject: =?ISO-8859-1?Q?caf=E9_en_panne?=", "", "b"),
    expected: { subject: "café en panne" }
  },
  {
    name: "UTF-8 B words folded over two lines",
    raw: () => crlf("Subject: =?UTF-8?B?w6ljaGVjIGR1?=", " =?UTF-8?B?IHNhdXZlZ2FyZGU=?=", "", "b"),
    expected: { subject: "échec du sauvegarde" }
  },
  {
    name: "Windows-1252 euro sign",
    raw: () => crlf("Subject: =?windows-1252?Q?=80100_overdue?=", "", "b"),
    expected: { subject: "€100 overdue" }
  },
  {
    name: "Shift_JIS",
    raw: () => crlf("Subject: =?Shift_JIS?B?g2WDWINn?=", "", "b"),
    expected: { subject: "テスト" }
  },
  {
    name: "ISO-2022-JP",
    raw: () => crlf("Subject: =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=", "", "b"),
    expected: { subject: "テスト" }
  },
  {
    name: "KOI8-R",
    raw: () => crlf("From: =?KOI8-R?B?8NLJ18XU?= <ru@x.example>", "Subject: =?KOI8-R?B?8NLJ18XU?=", "", "b"),
    expected: { subject: "Привет", from: "Привет <ru@x.example>" }
  },
  {
    name: "plain header folded with tab and space",
    raw: () => crlf("Subject: Disk usage", "\tabove 90%", "  on db-1", "X-Tag: t", "", "b"),
    expected: { subject: "Disk usage above 90% on db-1", headers: { subject: "Disk usage above 90% on db-1", "x-tag": "t" } }
  },
  {
    name: "raw 8-bit UTF-8 headers",
    raw: () => crlf("From: Jürgen Groß <jg@x.example>", "Subject: Störung – Datenbank", "", "b"),
    expected: { subject: "Störung – Datenbank", from: "Jürgen Groß <jg@x.example>" }
  },
  {
    name: "raw 8-bit Latin-1 header",
    raw: () => Buffer.concat([latin1("Subject: caf\u00e9 down\r\nFrom: a@x.example\r\n\r\nb")]),
    expected: { subject: "café down" }
  },
  {
    name: "duplicate headers: the first counts",
    raw: () => crlf("Subject: first", "From: one@x.example", "subject: second", "From: two@x.example", "X-Tag: a", "X-TAG: b", "", "b"),
    expected: { subject: "first", from: "one@x.example", headers: { subject: "first", from: "one@x.example", "x-tag": "a" } }
  },
  {
    name: "missing Subject",
    raw: () => crlf("From: a@x.example", "To: ops@x.example", "", "no subject here"),
    expected: { subject: "", headers: { from: "a@x.example", to: "ops@x.example" } }
  },
  {
    name: "malformed encoded words stay readable",
    raw: () => crlf("Subject: =?UTF-8?Q?unterminated", "X-Tag: =?x-unknown?Q?abc?=", "", "b"),
    expected: { subject: "=?UTF-8?Q?unterminated", headers: { subject: "=?UTF-8?Q?unterminated", "x-tag": "abc" } }
  },
  {
    name: "LF line ends, no space after the colon",
    raw: () => Buffer.from("SUBJECT:lf only\nFrom:a@x.example\n\nbody\n"),
    expected: { subject: "lf only", from: "a@x.example" }
  },
  {
    name: "first line is not a header",
    raw: () => crlf("this is not a header", "Subject: late", "", "b"),
    expected: { subject: "", from: "", headers: {} }
  },
  {
    name: "Date as written",
    raw: () => crlf("Date: Tue, 14 Nov 2023 22:13:20 +0000 (UTC)", "Subject: d", "", "b"),
    expected: { date: "Tue, 14 Nov 2023 22:13:20 +0000 (UTC)" }
  },
  {
    name: "a multipart message composed by nodemailer",
    raw: () =>
      new MailComposer({
        from: '"Build Bot ✓" <bot@example.org>',
        to: "Ops Ünit <ops@example.com>",
        subject: `Nightly job failed: ${"x".repeat(100)} — ünïcödé`,
        text: "stack trace ✗",
        html: "<p>stack trace ✗</p>",
        headers: { "X-Tag": "nightly ✓" }
      })
        .compile()
        .build(),
    expected: {
      subject: `Nightly job failed: ${"x".repeat(100)} — ünïcödé`,
      from: "Build Bot ✓ <bot@example.org>",
      to: "Ops Ünit <ops@example.com>"
    }
  }
]

describe("MessageView", () => {
  for (const { name, raw, expected } of corpus) {
    it.effect(`${name}: both paths give the same view`, () =>
      Effect.gen(function* () {
        const bytes = yield* Effect.promise(async () => raw())
        const { headersOnly, withBody } = yield* bothPaths(bytes)
        expect(headersOnly.view.body).toBe("")
        expect({ ...withBody.view, body: "" }).toEqual(headersOnly.view)
        expect(withBody.keys.groupKey).toBe(headersOnly.keys.groupKey)
        expect(withBody.sender).toBe(headersOnly.sender)
        const { headers, ...fields } = expected
        expect(headersOnly.view).toMatchObject(fields)
        if (headers !== undefined) expect(headersOnly.view.headers).toEqual(headers)
      })
    )
  }

  it.effect("the full path also decodes the body, without touching the headers", () =>
    Effect.gen(function* () {
      const raw = crlf(
        "From: =?UTF-8?Q?=C3=9Cli?= <uli@x.example>",
        "Subject: =?UTF-8?Q?caf=C3=A9?=",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "caf=C3=A9 is down"
      )
      const { headersOnly, withBody } = yield* bothPaths(raw)
      expect(withBody.view.body.trim()).toBe("café is down")
      expect(withBody.view.subject).toBe("café")
      expect(headersOnly.view.from).toBe("Üli <uli@x.example>")
    })
  )
})
