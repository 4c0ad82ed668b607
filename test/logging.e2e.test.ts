/**
 * Log lines carry their context as fields (docs/operations.md, "Log lines"):
 * with `--log-format=json` a log pipeline can filter on `component`,
 * `batch`, `summary` and `connection`; the text format shows the same
 * fields as `key=value`.
 */
import nodemailer from "nodemailer"
import { describe, expect, it } from "vitest"
import { fillDisk, freeDisk } from "./support/diskFull.ts"
import { eventually, settledSummaries, startWithUpstream } from "./support/failmail.ts"
import { Conversation } from "./support/smtpClient.ts"

/** One message over an open session: the code of the answer to its final dot. */
const sendOver = async (session: Conversation, subject: string): Promise<number> => {
  await session.command("MAIL FROM:<app@example.org>")
  await session.command("RCPT TO:<ops@example.com>")
  await session.command("DATA")
  return (await session.command(`Subject: ${subject}\r\n\r\nbody\r\n.`)).code
}

/** One JSON log line, as `--log-format=json` writes it. */
interface JsonLine {
  readonly message: string
  readonly logLevel: string
  readonly annotations: Record<string, unknown>
  readonly spans: Record<string, number>
}

const jsonLines = (logs: ReadonlyArray<string>): ReadonlyArray<JsonLine> => logs.map((line) => JSON.parse(line) as JsonLine)

const send = (port: number, subject: string, team = "db") =>
  nodemailer
    .createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
    .sendMail({ from: "app@example.org", to: "ops@example.com", subject, text: "body", headers: { "X-Team": team } })

/** Batches by team, so a summary's batch key is something to see. */
const BY_TEAM = { batchExpr: `{{.Header.Get "X-Team"}}` } as const

describe("JSON log lines", () => {
  it("a delivered summary: its line names component dispatcher, the batch, the summary's id and the delivery's duration", async () => {
    const { failmail, upstream } = await startWithUpstream({ ...BY_TEAM, logFormat: "json", bindHttp: "127.0.0.1:0" })
    await send(failmail.port, "disk full")
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.batch).toBe("db")
    const relayed = await eventually("the summary's line", () =>
      jsonLines(failmail.logs).find((line) => line.message === `summary "${summary?.subject}" relayed to ops@example.com`)
    )
    const [listed] = (await (await fetch(`http://127.0.0.1:${failmail.httpPort}/api/summaries`)).json()) as Array<{ id: number }>
    expect(relayed.annotations).toEqual({ component: "dispatcher", batch: "db", summary: listed?.id })
    expect(relayed.spans["delivery"]).toBeGreaterThanOrEqual(0)
  })

  it("a message that cannot be stored: the 451 line names component smtp and the connection", async () => {
    const { failmail } = await startWithUpstream({ logFormat: "json", debugReceiver: true })
    fillDisk()
    try {
      await expect(send(failmail.port, "while broken")).rejects.toMatchObject({ responseCode: 451 })
    } finally {
      freeDisk()
    }
    const lines = jsonLines(failmail.logs)
    const refused = lines.find((line) => line.message.startsWith("cannot store message; answered 451: "))
    expect(refused?.logLevel).toBe("ERROR")
    expect(refused?.annotations).toMatchObject({ component: "smtp", connection: expect.stringMatching(/^\w+$/) })
    // The same connection's conversation (--debug-receiver) carries the same id.
    const answered = lines.find((line) => line.message.startsWith("S: 451 "))
    expect(answered?.annotations).toEqual({ component: "smtp", connection: refused?.annotations["connection"] })
  })

  it("the listeners say which they are: component smtp and http, the address in the message", async () => {
    const { failmail } = await startWithUpstream({ logFormat: "json", bindHttp: "127.0.0.1:0" })
    const lines = jsonLines(failmail.logs)
    expect(lines).toContainEqual(
      expect.objectContaining({ message: `listening on 127.0.0.1:${failmail.port}`, annotations: { component: "smtp" } })
    )
    expect(lines).toContainEqual(
      expect.objectContaining({ message: `listening on 127.0.0.1:${failmail.httpPort}`, annotations: { component: "http" } })
    )
  })
})

describe("text log lines", () => {
  it("a delivered summary's line: component, batch and summary as key=value, and the delivery's duration", async () => {
    const { failmail, upstream } = await startWithUpstream(BY_TEAM)
    await send(failmail.port, "disk full")
    await settledSummaries(upstream, failmail, 1)
    const relayed = await eventually("the summary's line", () => failmail.logs.find((line) => line.includes("relayed to ops@example.com")))
    for (const field of [/ component=dispatcher( |$)/, / batch=db( |$)/, / summary=\d+( |$)/, / delivery=\d+ms( |$)/]) {
      expect(relayed).toMatch(field)
    }
  })

  it("show the same fields as key=value after the message", async () => {
    const { failmail } = await startWithUpstream({ debugReceiver: true })
    const conversation = await Conversation.open(failmail.port)
    await conversation.read()
    await conversation.command("EHLO client.example")
    await conversation.quit()
    const greeting = failmail.logs.find((line) => line.includes('message="C: EHLO client.example"'))
    expect(greeting).toMatch(/ component=smtp( |$)/)
    expect(greeting).toMatch(/ connection=\w+( |$)/)
  })
})

describe("bounded logs", () => {
  it("on a full disk, 300 refusals grow the log by less than 30 KB: the first is logged with its reason, the rest counted in one line per interval, no stack trace", async () => {
    const { failmail } = await startWithUpstream({})
    const session = await Conversation.open(failmail.port)
    await session.read()
    await session.command("EHLO client.example")
    const before = failmail.logs.length
    fillDisk()
    try {
      for (let n = 1; n <= 300; n++) expect(await sendOver(session, `refused ${n}`)).toBe(451)
    } finally {
      freeDisk()
    }
    await session.quit()
    expect(Buffer.byteLength(failmail.logs.slice(before).join("\n"))).toBeLessThan(30 * 1024)
    const counted = await eventually(
      "the line counting the refusals",
      () => failmail.logs.find((line) => / × 299 more in the last 10 s: EFBIG/.test(line)),
      15_000,
      100
    )
    const written = failmail.logs.slice(before)
    expect(Buffer.byteLength(written.join("\n"))).toBeLessThan(30 * 1024)
    expect(written.filter((line) => line.includes("answered 451"))).toEqual([
      expect.stringMatching(/level=ERROR .*message="cannot store message; answered 451: spool .*EFBIG/),
      counted
    ])
    expect(counted).toMatch(/level=ERROR .*message="cannot store messages; answered 451 × 299 more in the last 10 s: EFBIG"/)
    expect(written.join("\n")).not.toMatch(/\bat .*\.ts:\d+/)
  }, 30_000)
})
