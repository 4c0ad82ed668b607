import MailComposer from "nodemailer/lib/mail-composer/index.js"
import { simpleParser } from "mailparser"
import { describe, expect, it } from "vitest"
import { messageView, readHeaders } from "../src/domain/message/HeaderBlock.ts"

const envelope = { mailFrom: "app@example.org", rcptTo: ["ops@example.com"] }
const bytes = (text: string) => Buffer.from(text, "utf8")

describe("readHeaders", () => {
  it("unfolds folded lines, lower-cases names and keeps the first value", () => {
    const headers = readHeaders(
      bytes("Subject: a very\r\n long subject\r\nX-Failmail-Split: first\r\nx-failmail-split: second\r\n\r\nSubject: not a header\r\n")
    )
    expect(headers).toEqual({ subject: "a very long subject", "x-failmail-split": "first" })
  })

  it("decodes RFC 2047 encoded-words", () => {
    const headers = readHeaders(bytes("Subject: =?UTF-8?B?w6ljaGVjIGR1IHNhdXZlZ2FyZGU=?=\n\nbody\n"))
    expect(headers["subject"]).toBe("échec du sauvegarde")
  })

  it("reads LF-only messages and a message that is all headers", () => {
    expect(readHeaders(bytes("Subject: lf\nFrom: a@b\n"))).toEqual({ subject: "lf", from: "a@b" })
  })

  it("gives no headers for a message whose first line is not a header", () => {
    expect(readHeaders(bytes("this is not a header\r\nSubject: late\r\n\r\nbody"))).toEqual({})
    expect(readHeaders(bytes(""))).toEqual({})
  })

  it("agrees with the full MIME parse on what expressions read", async () => {
    const raw = await new MailComposer({
      from: '"Build Bot" <bot@example.org>',
      to: "ops@example.com",
      subject: `Nightly job failed: ${"x".repeat(100)} — ünïcödé`,
      text: "stack trace",
      headers: { "X-Failmail-Split": "nightly" }
    })
      .compile()
      .build()
    const parsed = await simpleParser(raw)
    const view = messageView(raw, envelope)
    expect(view.subject).toBe(parsed.subject)
    expect(view.headers["x-failmail-split"]).toBe("nightly")
    expect(view.from).toContain("bot@example.org")
    expect(view.body).toBe("")
    expect(view.envelope).toBe(envelope)
  })
})

describe("addresses", () => {
  it("are read as a person reads them: names decoded, Unicode domains, an encoded-word in an address only when it is plain", () => {
    const fromOf = (value: string) => messageView(bytes(`From: ${value}\r\n\r\nbody\r\n`), envelope).from
    expect(fromOf("=?utf-8?B?QnVpbGQgQm90IOKckw==?= <bot@example.org>")).toBe("Build Bot ✓ <bot@example.org>")
    expect(fromOf("=?iso-8859-1?Q?J=F6rg?= <j@x.de>")).toBe("Jörg <j@x.de>")
    expect(fromOf("Name <user@xn--mnchen-3ya.de>")).toBe("Name <user@münchen.de>")
    // A name that decodes to address syntax stays a (quoted) name; an address hiding one is dropped.
    expect(fromOf("=?utf-8?B?Q0VPIDxjZW9AYmFuay5jb20+?= <evil@x.example>")).toBe('"CEO <ceo@bank.com>" <evil@x.example>')
    expect(fromOf("=?utf-8?B?Q0VPIDxjZW9AYmFuay5jb20+?=@x.example")).toBe("")
    expect(fromOf('Team: a@x.example, "Doe, John" <john@x.example>;')).toBe('Team: a@x.example, "Doe, John" <john@x.example>;')
    expect(fromOf("Undisclosed recipients:;")).toBe("Undisclosed recipients:;")
  })
})
