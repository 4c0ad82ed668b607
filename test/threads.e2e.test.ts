/**
 * Threads, returning and stopped groups end to end: alerts sent with a real
 * SMTP client, digests received by a real upstream, their headers parsed and
 * the conversations rebuilt as a mail client does (RFC 5256 REFERENCES: a
 * message's parent is the last id of its References, else its In-Reply-To;
 * following parents up gives its thread's root).
 */
import { Duration } from "effect"
import nodemailer from "nodemailer"
import { describe, expect, it } from "vitest"
import { type ReceivedSummary, settledSummaries, startWithUpstream } from "./support/failmail.ts"

interface Alert {
  readonly subject: string
  readonly to: string
  readonly batch?: string
}

/** Sends alerts with nodemailer, one connection each, one after the other. */
const send = async (port: number, alerts: ReadonlyArray<Alert>) => {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
  try {
    for (const alert of alerts) {
      await transport.sendMail({
        from: "app@example.org",
        to: alert.to,
        subject: alert.subject,
        text: `details of ${alert.subject}`,
        ...(alert.batch === undefined ? {} : { headers: { "X-Failmail-Split": alert.batch } })
      })
    }
  } finally {
    transport.close()
  }
}

const idsOf = (value: string | ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
  value === undefined ? [] : typeof value === "string" ? value.split(/\s+/).filter((id) => id !== "") : value

/** The conversations a mail client shows: root Message-ID → its messages, in the order received. */
const conversations = (summaries: ReadonlyArray<ReceivedSummary>): Map<string, Array<ReceivedSummary>> => {
  const byId = new Map(summaries.map((summary) => [summary.mail.messageId ?? "", summary]))
  const parentOf = (summary: ReceivedSummary): string | undefined => {
    const references = idsOf(summary.mail.references)
    return references[references.length - 1] ?? idsOf(summary.mail.inReplyTo)[0]
  }
  const rootOf = (summary: ReceivedSummary): string => {
    let current = summary
    for (let parent = parentOf(current); parent !== undefined && byId.has(parent); parent = parentOf(current)) current = byId.get(parent)!
    return current.mail.messageId ?? ""
  }
  const threads = new Map<string, Array<ReceivedSummary>>()
  for (const summary of summaries) {
    const root = rootOf(summary)
    threads.set(root, [...(threads.get(root) ?? []), summary])
  }
  return threads
}

const textOf = (summary: ReceivedSummary | undefined) => summary?.mail.text ?? ""
const htmlOf = (summary: ReceivedSummary | undefined) => (typeof summary?.mail.html === "string" ? summary.mail.html : "")

describe("threads, back and stopped groups at a real upstream", () => {
  it("a mail client folds each batch key's digests to each recipient set into one conversation; back and stopped groups are marked", async () => {
    // Batches wait 1 s, so each round's alerts share a digest however slowly they are sent.
    const { failmail, upstream } = await startWithUpstream({ waitPeriod: Duration.seconds(1), backAfter: Duration.seconds(3) })
    await send(failmail.port, [
      { subject: "disk full", to: "ops@example.com" },
      { subject: "db down", to: "ops@example.com" },
      { subject: "web slow", to: "dev@example.com" },
      { subject: "replica lag", to: "ops@example.com", batch: "db" }
    ])
    const firstRoundAt = Date.now()
    await settledSummaries(upstream, failmail, 3)
    await send(failmail.port, [
      { subject: "disk full", to: "ops@example.com" },
      { subject: "web slow", to: "dev@example.com" }
    ])
    await settledSummaries(upstream, failmail, 5)
    // Longer than --back-after without "db down" or "replica lag".
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstRoundAt + 3_300 - Date.now())))
    await send(failmail.port, [{ subject: "db down", to: "ops@example.com" }])
    await settledSummaries(upstream, failmail, 6)
    await send(failmail.port, [{ subject: "replica lag", to: "ops@example.com", batch: "db" }])
    const summaries = await settledSummaries(upstream, failmail, 7)

    const ids = summaries.map((summary) => summary.mail.messageId)
    expect(new Set(ids).size).toBe(7)
    const threads = [...conversations(summaries).values()].map((thread) =>
      thread.map((summary) => `${summary.delivery.to.join(",")} [${summary.batch}] ${summary.subject}`)
    )
    expect(threads).toHaveLength(3)
    expect(threads).toContainEqual([
      "ops@example.com [] [failmail] 2 instances of 2 messages",
      "ops@example.com [] [failmail] 1 instance: disk full",
      "ops@example.com [] [failmail] 1 instance: db down"
    ])
    expect(threads).toContainEqual(["dev@example.com [] [failmail] 1 instance: web slow", "dev@example.com [] [failmail] 1 instance: web slow"])
    expect(threads).toContainEqual(["ops@example.com [db] [failmail] 1 instance: replica lag", "ops@example.com [db] [failmail] 1 instance: replica lag"])
    // Every reply names the first digest of its thread, in both headers.
    for (const summary of summaries) {
      const references = idsOf(summary.mail.references)
      if (references.length === 0) continue
      expect(references).toHaveLength(1)
      expect(summary.mail.inReplyTo).toBe(references[0])
    }

    const opsThread = summaries.filter((summary) => summary.delivery.to.join() === "ops@example.com" && summary.batch === "")
    const [, second, third] = opsThread
    expect(textOf(second)).toMatch(/\nStopped: db down \(last seen [^)]+\)\n/)
    expect(htmlOf(second).replace(/<[^>]+>/g, "")).toMatch(/Stopped: db down \(last seen [^)]+\)/)
    expect(third?.mail.headers.get("x-failmail-back")).toBe("1")
    expect(third?.mail.headers.get("x-failmail-new")).toBe("0")
    expect(textOf(third)).toMatch(/Back: back after \d+s; first seen/)
    expect(htmlOf(third)).toMatch(/back after \d+s/)
    expect(textOf(third)).toMatch(/\nStopped: disk full \(last seen [^)]+\)\n/)
    expect(second?.mail.headers.get("x-failmail-back")).toBe("0")
  })
})
