/**
 * Summaries and pass-through mail on their way upstream, end to end over real
 * sockets on 127.0.0.1: what the upstream receives (envelope, subject,
 * counts, groups, recipients), what happens when it is down or refuses, and
 * the `--all-dir` and `--relay-all` copies.
 */
import { Duration, Redacted } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import nodemailer from "nodemailer"
import { simpleParser } from "mailparser"
import { afterAll, describe, expect, it } from "vitest"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"
import { removeCertificate, selfSignedCertificate } from "./support/certs.ts"
import { deadUpstream, eventually, GATHER, maildirNew, pythonMaildirCount, settledSummaries, spoolFiles, startWithUpstream, summariesAtStop, summariesOf, type Failmail } from "./support/failmail.ts"
import { Conversation } from "./support/smtpClient.ts"

afterAll(() => removeCertificate())

interface Alert {
  readonly subject: string
  readonly to: string | ReadonlyArray<string>
  readonly from?: string
  readonly text?: string
  readonly headers?: Record<string, string>
}

/** Sends alerts with nodemailer, one after the other (so arrival order is known), one connection each. */
const send = async (port: number, alerts: ReadonlyArray<Alert>) => {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
  try {
    for (const alert of alerts) {
      await transport.sendMail({
        from: alert.from ?? "app@example.org",
        to: typeof alert.to === "string" ? alert.to : [...alert.to],
        subject: alert.subject,
        text: alert.text ?? `details of ${alert.subject}`,
        ...(alert.headers === undefined ? {} : { headers: alert.headers })
      })
    }
  } finally {
    transport.close()
  }
}

/** Sends one message exactly as given (CRLF lines, ending with CRLF), dot-stuffed on the wire. */
const sendRaw = async (port: number, from: string, to: ReadonlyArray<string>, message: Buffer) => {
  const conversation = await Conversation.open(port)
  expect((await conversation.read()).code).toBe(220)
  expect((await conversation.command("EHLO client.example")).code).toBe(250)
  expect((await conversation.command(`MAIL FROM:<${from}>`)).code).toBe(250)
  for (const recipient of to) expect((await conversation.command(`RCPT TO:<${recipient}>`)).code).toBe(250)
  expect((await conversation.command("DATA")).code).toBe(354)
  const stuffed = Buffer.from(message.toString("latin1").replace(/^\./gm, ".."), "latin1")
  conversation.write(stuffed)
  conversation.write(".\r\n")
  expect((await conversation.read()).code).toBe(250)
  await conversation.quit()
}

const expectSpoolEmpty = (failmail: Failmail) => expect(spoolFiles(failmail.config.messageStore)).toEqual([])

/** Waits until the spool is empty, i.e. every summary was relayed or filed. */
const spoolDrained = (failmail: Failmail, timeoutMs = 5_000) =>
  eventually("an empty spool", () => spoolFiles(failmail.config.messageStore).length === 0, timeoutMs)

describe("summaries upstream", () => {
  it("one summary per batch: subject, counts, groups, envelope and MIME structure", async () => {
    const { failmail, upstream } = await startWithUpstream(GATHER)
    await send(failmail.port, [
      { subject: "disk full on db1", to: "ops@example.com" },
      { subject: "cpu high", to: "ops@example.com", from: "monitor@example.org" },
      { subject: "disk full on db1", to: "ops@example.com", text: "latest details" }
    ])
    await send(failmail.port, [{ subject: "disk full on db1", to: "ops@example.com", text: "really the latest" }])
    const [summary, ...rest] = await summariesAtStop(upstream, failmail)
    expect(rest.map((extra) => extra.subject)).toEqual([])
    expect(summary?.subject).toBe("[failmail] 4 instances of 2 messages")
    expect(summary?.messages).toBe(4)
    expect(summary?.groups).toBe(2)
    expect(summary?.delivery.from).toBe("failmail@test")
    expect(summary?.delivery.to).toEqual(["ops@example.com"])
    const mail = summary!.mail
    expect(mail.from?.text).toBe("failmail@test")
    expect(mail.to).toMatchObject({ text: "ops@example.com" })
    expect(mail.date).toBeInstanceOf(Date)
    expect(mail.messageId).toMatch(/^<.+@test>$/)
    expect(mail.headers.get("mime-version")).toBe("1.0")
    expect(mail.headers.get("content-type")).toMatchObject({ value: "multipart/alternative" })
    expect(mail.html).toEqual(expect.stringContaining("disk full on db1"))
    const text = mail.text ?? ""
    expect(text).toContain("Total messages: 4")
    expect(text).toMatch(/group 1 of 2: 3 instances/)
    expect(text).toMatch(/group 2 of 2: 1 instance\b/)
    expect(text).toContain("really the latest")
    expect(text).toContain("monitor@example.org")
    expectSpoolEmpty(failmail)
  })

  it("a single message: `[failmail] 1 instance: <subject>`; X-Failmail-Split makes separate summaries", async () => {
    const { failmail, upstream } = await startWithUpstream(GATHER)
    await send(failmail.port, [
      { subject: "web down", to: "ops@example.com", headers: { "X-Failmail-Split": "web" } },
      { subject: "db down", to: "ops@example.com", headers: { "X-Failmail-Split": "db" } },
      { subject: "db down", to: "ops@example.com", headers: { "X-Failmail-Split": "db" } }
    ])
    const summaries = await summariesAtStop(upstream, failmail)
    expect(summaries).toHaveLength(2)
    const byBatch = new Map(summaries.map((summary) => [summary.batch, summary]))
    expect(byBatch.get("web")?.subject).toBe("[failmail] 1 instance: web down")
    expect(byBatch.get("web")?.messages).toBe(1)
    expect(byBatch.get("db")?.subject).toBe("[failmail] 2 instances: db down")
    expect(byBatch.get("db")?.messages).toBe(2)
  })

  it("nobody receives a message not addressed to them: one summary per set of recipients, each sent once", async () => {
    const { failmail, upstream } = await startWithUpstream(GATHER)
    await send(failmail.port, [{ subject: "alert A", to: ["a@x.example", "b@x.example", "c@x.example"] }])
    await send(failmail.port, [{ subject: "alert B", to: "b@x.example" }])
    const summaries = await summariesAtStop(upstream, failmail)
    expect(summaries).toHaveLength(2)
    const forB = summaries.find((summary) => summary.delivery.to.includes("b@x.example"))
    const forA = summaries.find((summary) => summary.delivery.to.includes("a@x.example"))
    expect(forB?.delivery.to).toEqual(["b@x.example"])
    expect(forB?.subject).toBe("[failmail] 2 instances of 2 messages")
    expect(forB?.mail.text ?? "").toContain("alert A")
    expect(forB?.mail.text ?? "").toContain("alert B")
    expect([...(forA?.delivery.to ?? [])].sort()).toEqual(["a@x.example", "c@x.example"])
    expect(forA?.subject).toBe("[failmail] 1 instance: alert A")
    expect(forA?.mail.text ?? "").not.toContain("alert B")
  })

  it("recipients are compared case-insensitively: OPS@x and ops@x are one recipient", async () => {
    const { failmail, upstream } = await startWithUpstream(GATHER)
    const message = (subject: string) => Buffer.from(`From: app@example.org\r\nSubject: ${subject}\r\n\r\nbody\r\n`)
    await sendRaw(failmail.port, "app@example.org", ["OPS@x.example"], message("shouted"))
    await sendRaw(failmail.port, "app@example.org", ["ops@x.example"], message("whispered"))
    await sendRaw(failmail.port, "app@example.org", ["OPS@x.example", "ops@x.example"], message("both"))
    const [summary, ...rest] = await summariesAtStop(upstream, failmail)
    expect(rest.map((extra) => extra.subject)).toEqual([])
    expect(summary?.delivery.to).toEqual(["ops@x.example"])
    expect(summary?.messages).toBe(3)
  })

  it("pending batches are summarized and relayed when failmail stops", async () => {
    const { failmail, upstream } = await startWithUpstream({ waitPeriod: Duration.seconds(30), maxWait: Duration.minutes(1) })
    await send(failmail.port, [{ subject: "right before shutdown", to: "ops@example.com" }])
    expect(upstream.deliveries).toEqual([])
    await failmail.close()
    const [summary, ...rest] = await settledSummaries(upstream, failmail, 1, 1_000)
    expect(rest.map((extra) => extra.subject)).toEqual([])
    expect(summary?.subject).toBe("[failmail] 1 instance: right before shutdown")
  })

  it("relays with STARTTLS and AUTH when the upstream asks for them", async () => {
    const cert = selfSignedCertificate()
    const { failmail, upstream } = await startWithUpstream(
      { relayUser: "relay", relayPassword: Redacted.make("relay-secret") },
      { auth: { user: "relay", pass: "relay-secret" }, tls: { cert: cert.cert, key: cert.key } }
    )
    await send(failmail.port, [{ subject: "over a secure relay", to: "ops@example.com" }])
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.delivery.secure).toBe(true)
    expect(summary?.delivery.user).toBe("relay")
  })
})

describe("the relay budget (--relay-rate)", () => {
  it("a flood over 30 batch keys at 3/s: the upstream gets at most 3 at once, storm digests, and every message", async () => {
    const { failmail, upstream } = await startWithUpstream({ relayRate: RelayBudget.rateOf(3, 1_000) })
    await send(
      failmail.port,
      Array.from({ length: 30 }, (_, i) => ({ subject: `alert ${i}`, to: "ops@example.com", headers: { "X-Failmail-Split": `key-${i}` } }))
    )
    const all = async () => summariesOf(upstream, failmail)
    await eventually(
      "all 30 messages summarized upstream",
      async () => (await all()).reduce((sum, summary) => sum + summary.messages, 0) === 30 && spoolFiles(failmail.config.messageStore).length === 0,
      20_000
    )
    const summaries = await all()
    const times = summaries.map((summary) => summary.delivery.at)
    // The budget holds in any window of 1 s; arrival adds a little delay, so check half-second windows here.
    for (const start of times) expect(times.filter((at) => at >= start && at < start + 500).length).toBeLessThanOrEqual(3)
    expect(summaries.length).toBeLessThan(30)
    const storms = summaries.filter((summary) => summary.mail.headers.get("x-failmail-storm") !== undefined)
    expect(storms.length).toBeGreaterThan(0)
    expect(storms[0]?.mail.text).toContain("Storm: this digest merges")
  })

  it("an upstream that answers slowly and unevenly never accepts more than N summaries within one period (--relay-rate 3/s)", async () => {
    const delays = [900, 50, 1_500, 300, 10, 1_100, 600]
    const { failmail, upstream } = await startWithUpstream(
      { relayRate: RelayBudget.rateOf(3, 1_000), stormThreshold: 0 },
      { replyDelayMs: (n) => delays[n % delays.length] as number }
    )
    // 18 teams' alerts: 18 summaries, none merged (one per recipient set), due at once.
    await send(
      failmail.port,
      Array.from({ length: 18 }, (_, i) => ({ subject: `alert ${i}`, to: `team-${i}@example.com`, headers: { "X-Failmail-Split": `key-${i}` } }))
    )
    await eventually("all 18 summaries accepted upstream", async () => (await summariesOf(upstream, failmail)).length === 18, 30_000)
    const accepted = (await summariesOf(upstream, failmail)).map((summary) => summary.delivery.at)
    for (const start of accepted) expect(accepted.filter((at) => at >= start && at < start + 1_000).length).toBeLessThanOrEqual(3)
  })
})

describe("when the upstream fails", () => {
  it("upstream down, no retries: the fail-dir holds exactly one copy per summary, readable by Python", async () => {
    const { failmail } = await startWithUpstream({
      relayAddr: await deadUpstream(),
      relayRetryFor: Duration.millis(0),
      relayTimeout: Duration.seconds(1)
    })
    await send(failmail.port, [
      { subject: "web down", to: "ops@example.com", headers: { "X-Failmail-Split": "web" } },
      { subject: "db down", to: "ops@example.com", headers: { "X-Failmail-Split": "db" } },
      { subject: "db down", to: "dba@example.com", headers: { "X-Failmail-Split": "db" } }
    ])
    const failDir = failmail.config.failDir
    await eventually("3 summaries filed", () => maildirNew(failDir).length >= 3)
    await spoolDrained(failmail)
    const files = maildirNew(failDir)
    expect(files).toHaveLength(3)
    expect(fs.readdirSync(path.join(failDir, "tmp"))).toEqual([])
    expect(pythonMaildirCount(failDir)).toBe(3)
    const subjects = await Promise.all(files.map(async (file) => (await simpleParser(fs.readFileSync(file))).subject))
    expect(subjects.sort()).toEqual(["[failmail] 1 instance: db down", "[failmail] 1 instance: db down", "[failmail] 1 instance: web down"])
    expect(fs.statSync(files[0]!).mode & 0o777).toBe(0o600)
    expect(fs.statSync(failDir).mode & 0o777).toBe(0o700)
  })

  it("upstream down with a short retry window: retried, then filed once", async () => {
    const { failmail } = await startWithUpstream({
      relayAddr: await deadUpstream(),
      relayRetryFor: Duration.millis(500),
      relayTimeout: Duration.millis(500)
    })
    await send(failmail.port, [{ subject: "nobody listens", to: "ops@example.com" }])
    await eventually("the summary filed", () => maildirNew(failmail.config.failDir).length >= 1, 8_000)
    await spoolDrained(failmail)
    expect(maildirNew(failmail.config.failDir)).toHaveLength(1)
    expect(pythonMaildirCount(failmail.config.failDir)).toBe(1)
    expect(failmail.logs.filter((line) => line.includes("relay of")).length).toBeGreaterThanOrEqual(2)
  })

  it("a permanent 550 goes to the fail-dir at once, without a retry", async () => {
    // An hour to retry in: filed at all means filed without waiting for that window to end.
    const { failmail, upstream } = await startWithUpstream({ relayRetryFor: Duration.hours(1) })
    // Only one failure is queued: a retry would have been accepted.
    upstream.failNext(550, 1)
    await send(failmail.port, [{ subject: "refused for good", to: "ops@example.com" }])
    await eventually("the summary filed", () => maildirNew(failmail.config.failDir).length >= 1)
    await spoolDrained(failmail)
    expect(upstream.attempts()).toBe(1)
    expect(upstream.deliveries).toEqual([])
    expect(maildirNew(failmail.config.failDir)).toHaveLength(1)
    const filed = await simpleParser(fs.readFileSync(maildirNew(failmail.config.failDir)[0]!))
    expect(filed.subject).toBe("[failmail] 1 instance: refused for good")
  })

  it("a 451 once, then OK: delivered exactly once, nothing filed", async () => {
    const { failmail, upstream } = await startWithUpstream({ relayRetryFor: Duration.seconds(10) })
    upstream.failNext(451, 1)
    await send(failmail.port, [{ subject: "try again", to: "ops@example.com" }])
    const [summary, ...rest] = await settledSummaries(upstream, failmail, 1, 8_000)
    expect(rest.map((extra) => extra.subject)).toEqual([])
    expect(summary?.subject).toBe("[failmail] 1 instance: try again")
    expect(upstream.attempts()).toBe(2)
    expect(maildirNew(failmail.config.failDir)).toEqual([])
  })
})

describe("--all-dir and --relay-all", () => {
  /** A message with lines that need dot-stuffing, 8-bit bytes, a long line and trailing blanks. */
  const tricky = (n: number) =>
    Buffer.concat([
      Buffer.from(
        `From: App <app@example.org>\r\nTo: ops@example.com\r\nSubject: tricky ${n}\r\nX-Trace:   spaced   \r\n\r\n` +
          `.starts with a dot\r\n..two dots\r\n.\r\nline with trailing blanks   \r\n${"long ".repeat(300)}\r\n`,
        "latin1"
      ),
      Buffer.from("8-bit: Größe ✓\r\n\r\n", "utf8")
    ])

  it("--all-dir archives every message byte for byte as received", async () => {
    const { failmail, upstream } = await startWithUpstream((dir) => ({ ...GATHER, allDir: path.join(dir, "all") }))
    const messages = [tricky(1), tricky(2), Buffer.from("Subject: minimal\r\n\r\n.\r\n")]
    for (const message of messages) await sendRaw(failmail.port, "app@example.org", ["ops@example.com"], message)
    const allDir = failmail.config.allDir
    await eventually("3 archived messages", () => maildirNew(allDir).length >= 3)
    const archived = maildirNew(allDir).map((file) => fs.readFileSync(file))
    expect(archived).toHaveLength(3)
    for (const message of messages) expect(archived.some((copy) => copy.equals(message)), message.toString("latin1").slice(0, 60)).toBe(true)
    expect(pythonMaildirCount(allDir)).toBe(3)
    // The archive is a copy: the summary still goes out and the spool empties.
    const [summary] = await summariesAtStop(upstream, failmail)
    expect(summary?.messages).toBe(3)
    expect(maildirNew(allDir)).toHaveLength(3)
  })

  it("--relay-all relays each message unchanged with its original envelope, besides the summary", async () => {
    const { failmail, upstream } = await startWithUpstream({ ...GATHER, relayAll: true })
    await sendRaw(failmail.port, "app@example.org", ["ops@example.com", "Dev@Example.com"], tricky(1))
    await sendRaw(failmail.port, "", ["ops@example.com"], tricky(2))
    await eventually("both messages passed through", () => upstream.deliveries.length >= 2)
    // Summaries as usual: ops received both messages, dev only the first.
    const summaries = await summariesAtStop(upstream, failmail)
    expect(summaries.map((summary) => [summary.delivery.to.join(","), summary.messages]).sort()).toEqual([
      ["dev@example.com", 1],
      ["ops@example.com", 2]
    ])
    const passed = upstream.deliveries.filter((delivery) => delivery.from !== failmail.config.from)
    expect(passed).toHaveLength(2)
    const first = passed.find((delivery) => delivery.from === "app@example.org")
    // Domains are case-insensitive (and get normalized on the way); the local part is kept as sent.
    expect(first?.to.map((address) => address.toLowerCase())).toEqual(["ops@example.com", "dev@example.com"])
    expect(first?.to[1]).toMatch(/^Dev@/)
    expect(first?.raw.equals(tricky(1))).toBe(true)
    const second = passed.find((delivery) => delivery.from === "")
    expect(second?.to).toEqual(["ops@example.com"])
    expect(second?.raw.equals(tricky(2))).toBe(true)
    expect(upstream.deliveries).toHaveLength(4)
  })

  it("--relay-all: a message the upstream refuses for good is filed in the fail-dir", async () => {
    const { failmail, upstream } = await startWithUpstream({ relayAll: true, relayRetryFor: Duration.seconds(10) })
    upstream.failNext(550, 1)
    await sendRaw(failmail.port, "app@example.org", ["ops@example.com"], tricky(3))
    await eventually("the refused message filed", () => maildirNew(failmail.config.failDir).length >= 1)
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.messages).toBe(1)
    const filed = maildirNew(failmail.config.failDir)
    expect(filed).toHaveLength(1)
    expect(fs.readFileSync(filed[0]!).equals(tricky(3))).toBe(true)
    expect(upstream.deliveries.filter((delivery) => delivery.from !== failmail.config.from)).toEqual([])
  })

  it("--relay-all: a copy still waiting for a retry when failmail stops is filed in the fail-dir, not dropped", async () => {
    const { failmail, upstream } = await startWithUpstream({
      relayAll: true,
      relayRetryFor: Duration.minutes(10),
      waitPeriod: Duration.minutes(10),
      maxWait: Duration.hours(1)
    })
    upstream.failNext(451, 1_000)
    await sendRaw(failmail.port, "app@example.org", ["ops@example.com"], tricky(4))
    await eventually("the copy refused once", () => upstream.attempts() >= 1)
    await failmail.close()
    // The copy, byte for byte; the summary is filed beside it, as the upstream still refuses.
    const filed = maildirNew(failmail.config.failDir).map((file) => fs.readFileSync(file))
    expect(filed.filter((raw) => raw.equals(tricky(4)))).toHaveLength(1)
    expect(filed).toHaveLength(2)
    // Logged as the --relay-all copy of that SMTP connection's message.
    const line = failmail.logs.find((text) => text.includes("failmail stopped while it was pending"))
    expect(line).toMatch(/ component=relay-all( |$)/)
    expect(line).toMatch(/ connection=\w+( |$)/)
  })
})
