import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { commandOf } from "../src/domain/settings/Command.ts"
import { parse, type SendmailOptions } from "../src/domain/sendmail/Sendmail.ts"
import { DotLineScanner, envelopeRecipients, prepare, type Fill } from "../src/domain/sendmail/SendmailMessage.ts"

const options = (args: ReadonlyArray<string>, env: Record<string, string> = {}): SendmailOptions => {
  const parsed = parse(args, env)
  if (Either.isLeft(parsed)) throw new Error(parsed.left)
  return parsed.right
}

const problem = (args: ReadonlyArray<string>): string => {
  const parsed = parse(args, {})
  if (Either.isRight(parsed)) throw new Error(`expected ${JSON.stringify(args)} to be refused`)
  return parsed.left
}

describe("failmail sendmail command line", () => {
  it("reads what Debian's and cronie's cron pass", () => {
    const cron = options(["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"])
    expect(cron).toMatchObject({ fullName: "CronDaemon", ignoreDots: true, extractRecipients: false, recipients: ["root"] })
    expect(options(["-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t"]).extractRecipients).toBe(true)
  })

  it("takes option values attached or as the next argument, and clustered letters", () => {
    expect(options(["-f", "app@example.org", "ops@example.com"]).sender).toBe("app@example.org")
    expect(options(["-fapp@example.org", "ops@example.com"]).sender).toBe("app@example.org")
    expect(options(["-r", "<app@example.org>", "x"]).sender).toBe("app@example.org")
    expect(options(["-f", "<>", "x"]).sender).toBe("")
    expect(options(["-ti"])).toMatchObject({ extractRecipients: true, ignoreDots: true })
    expect(options(["-tif", "a@b"])).toMatchObject({ extractRecipients: true, ignoreDots: true, sender: "a@b" })
  })

  it("accepts recipients before and after options, and everything after -- as recipients", () => {
    expect(options(["a@example.com", "-i", "b@example.com", "--", "-c@example.com"]).recipients).toEqual([
      "a@example.com",
      "b@example.com",
      "-c@example.com"
    ])
  })

  it("-oi ignores dots, other -o options are ignored", () => {
    expect(options(["-oi", "x"]).ignoreDots).toBe(true)
    expect(options(["-oem", "-odb", "-oee", "x"]).ignoreDots).toBe(false)
  })

  it("submits to --smtp, else FAILMAIL_SMTP, else the default --bind-addr", () => {
    expect(options(["x"]).smtp).toEqual({ host: "localhost", port: 2525 })
    expect(options(["x"], { FAILMAIL_SMTP: "127.0.0.1:2626" }).smtp).toEqual({ host: "127.0.0.1", port: 2626 })
    expect(options(["--smtp", "[::1]:2727", "x"], { FAILMAIL_SMTP: "127.0.0.1:2626" }).smtp).toEqual({ host: "::1", port: 2727 })
    expect(options(["--smtp=mail.example:26", "x"]).smtp).toEqual({ host: "mail.example", port: 26 })
    expect(options(["--smtp", "mail.example", "x"]).smtp).toEqual({ host: "mail.example", port: 25 })
  })

  it("bounds the submission by --timeout (Go duration, default 30s)", () => {
    expect(options(["x"]).timeoutMs).toBe(30_000)
    expect(options(["--timeout", "1500ms", "x"]).timeoutMs).toBe(1_500)
  })

  it("refuses unknown options, missing values, modes it does not do and bad addresses, naming them", () => {
    expect(problem(["-Z", "x"])).toMatch(/unknown option -Z/)
    expect(problem(["--smpt", "h:1"])).toMatch(/unknown option --smpt/)
    expect(problem(["-f"])).toMatch(/option -f needs a value/)
    expect(problem(["-bs"])).toMatch(/-bs is not supported/)
    expect(problem(["-bp"])).toMatch(/-bp is not supported/)
    expect(options(["-bm", "x"]).recipients).toEqual(["x"])
    expect(problem(["--smtp", "host:99999", "x"])).toMatch(/^--smtp: invalid port/)
    expect(parse(["x"], { FAILMAIL_SMTP: "a:b:c" })).toEqual(Either.left('FAILMAIL_SMTP: invalid address "a:b:c" (use host:port)'))
    expect(problem(["--timeout", "soon", "x"])).toMatch(/^--timeout: invalid duration "soon"/)
    expect(problem(["--timeout", "0s", "x"])).toMatch(/^--timeout: must be greater than zero/)
  })
})

describe("which command runs", () => {
  it("a first argument naming a subcommand picks it; anything else is the daemon's", () => {
    expect(commandOf("/usr/bin/failmail", ["preview", "--batch-expr", "x", "dir"])).toEqual({
      _tag: "Subcommand",
      name: "preview",
      args: ["--batch-expr", "x", "dir"]
    })
    expect(commandOf("/usr/bin/failmail", ["--bind-addr", "x:1"])).toEqual({ _tag: "Daemon", args: ["--bind-addr", "x:1"] })
    expect(commandOf("/usr/bin/failmail", ["previews"])).toEqual({ _tag: "Daemon", args: ["previews"] })
    expect(commandOf("/usr/bin/failmail", ["--help", "sendmail"])).toEqual({ _tag: "Daemon", args: ["--help", "sendmail"] })
  })

  it("a program named sendmail is the sendmail command, whatever its arguments", () => {
    expect(commandOf("/usr/sbin/sendmail", ["-t", "preview"])).toEqual({ _tag: "Subcommand", name: "sendmail", args: ["-t", "preview"] })
    expect(commandOf("/usr/lib/sendmail.d/failmail", ["-t"])).toEqual({ _tag: "Daemon", args: ["-t"] })
  })
})

describe("where standard input ends", () => {
  const endOf = (chunks: ReadonlyArray<string>): number | undefined => {
    const scanner = new DotLineScanner()
    for (const chunk of chunks) {
      const end = scanner.feed(Buffer.from(chunk))
      if (end !== undefined) return end
    }
    return scanner.finish()
  }

  it("a line holding a single dot ends the message (LF or CRLF), even split across reads", () => {
    expect(endOf(["Subject: a\n\nbody\n.\nafter\n"])).toBe("Subject: a\n\nbody\n".length)
    expect(endOf(["Subject: a\r\n\r\nbody\r\n.\r\nafter"])).toBe("Subject: a\r\n\r\nbody\r\n".length)
    expect(endOf(["body\n", ".", "\r", "\nafter"])).toBe("body\n".length)
    expect(endOf([".\n"])).toBe(0)
    expect(endOf(["body\n."])).toBe("body\n".length)
  })

  it("dots that are not alone on their line do not", () => {
    expect(endOf(["a\n..\n.b\n a.\n"])).toBeUndefined()
    expect(endOf(["a\n.", "x\n"])).toBeUndefined()
  })
})

describe("the message sendmail submits", () => {
  const fill: Fill = { from: "root@host.example", fullName: undefined, now: Date.UTC(2026, 10, 26, 12, 0, 0), messageId: "<id@host.example>" }
  const submitted = (text: string, overrides: Partial<Fill> = {}) => {
    const prepared = prepare(Buffer.from(text, "utf8"), { ...fill, ...overrides })
    return { text: prepared.message.toString("utf8"), recipients: prepared.headerRecipients }
  }

  it("removes Bcc (folded too) and reports To, Cc and Bcc addresses", () => {
    const result = submitted(
      'To: "Ops, Team" <ops@example.com>, dev@example.com\nCc: root\nBcc: secret@example.com,\n  other@example.com\nSubject: s\nFrom: a@b\nDate: x\nMessage-ID: <m@b>\n\nbody\nBcc: not a header\n'
    )
    expect(result.recipients).toEqual(["ops@example.com", "dev@example.com", "root", "secret@example.com", "other@example.com"])
    expect(result.text).toBe(
      'To: "Ops, Team" <ops@example.com>, dev@example.com\nCc: root\nSubject: s\nFrom: a@b\nDate: x\nMessage-ID: <m@b>\n\nbody\nBcc: not a header\n'
    )
  })

  it("adds From (with the -F name), Date and Message-ID when missing, in the message's line ends", () => {
    expect(submitted("Subject: s\r\n\r\nbody\r\n", { fullName: "Cron Daemon" }).text).toBe(
      "Subject: s\r\nFrom: Cron Daemon <root@host.example>\r\nDate: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <id@host.example>\r\n\r\nbody\r\n"
    )
    expect(submitted("Subject: s\n\nb\n", { fullName: "Ops, Team" }).text).toContain('From: "Ops, Team" <root@host.example>\n')
    expect(submitted("Subject: s\n\nb\n", { fullName: "Crön" }).text).toContain("From: =?UTF-8?B?Q3LDtm4=?= <root@host.example>\n")
  })

  it("keeps a From that is there (-F applies only when it is missing)", () => {
    const text = submitted("From: App <app@example.org>\nSubject: s\n\nb\n", { fullName: "Cron" }).text
    expect(text).toContain("From: App <app@example.org>\n")
    expect(text).not.toContain("Cron")
  })

  it("a message without headers becomes the body, after the added headers and a blank line", () => {
    expect(submitted("just text\nmore\n").text).toBe(
      "From: root@host.example\nDate: Thu, 26 Nov 2026 12:00:00 +0000\nMessage-ID: <id@host.example>\n\njust text\nmore\n"
    )
  })

  it("drops an mbox From_ line and keeps 8-bit bytes as they came", () => {
    const raw = Buffer.concat([Buffer.from("From root Thu Nov 26 12:00:00 2026\nSubject: caf"), Buffer.from([0xe9]), Buffer.from("\nFrom: a@b\nDate: d\nMessage-ID: <m>\n\nb\n")])
    const message = prepare(raw, fill).message
    expect(message.subarray(0, 13).toString("latin1")).toBe("Subject: caf\xe9")
    expect(message.includes(Buffer.from("From root"))).toBe(false)
  })
})

describe("envelope recipients", () => {
  it("splits comma lists, adds the local domain to bare names, drops duplicates case-insensitively", () => {
    expect(envelopeRecipients(["root", "ops@example.com, Dev@Example.com"], ["OPS@example.com", "dev@example.com", "bob"], "host.example")).toEqual([
      "root@host.example",
      "ops@example.com",
      "Dev@Example.com",
      "bob@host.example"
    ])
  })
})
