/**
 * A storm to one person over real sockets on 127.0.0.1: 1,000 alerts, each
 * its own batch key, sent by a real SMTP client (nodemailer, a pool of
 * connections) within 6 s, and what a real upstream receives. The same
 * storm on the TestClock, to the millisecond, is in storm.test.ts; here the
 * issue's own bounds, in real time, from the first message accepted. The
 * client sends as fast as it can; on a loaded machine that may take longer
 * than 6 s, which makes the storm last longer, not its first digest later.
 */
import { Duration } from "effect"
import nodemailer from "nodemailer"
import { describe, expect, it } from "vitest"
import { eventually, spoolFiles, startWithUpstream, summariesOf } from "./support/failmail.ts"

describe("a storm to one person, end to end", () => {
  it("1,000 batch keys to one address within 6 s (--wait-period 2s --max-wait 10s): at most 3 mails, the first within 7 s, every message within 60 s", async () => {
    const { failmail, upstream } = await startWithUpstream({
      waitPeriod: Duration.seconds(2),
      maxWait: Duration.seconds(10),
      batchExpr: `{{.Header.Get "Subject"}}`
    })
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: failmail.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 10 })
    // When the first message was accepted (its 250): the storm's clock starts there.
    let firstAccepted = Number.POSITIVE_INFINITY
    try {
      await Promise.all(
        Array.from({ length: 1_000 }, (_, i) =>
          transport
            .sendMail({ from: "app@example.org", to: "ops@example.com", subject: `alert ${i}`, text: `details of alert ${i}` })
            .then(() => {
              firstAccepted = Math.min(firstAccepted, Date.now())
            })
        )
      )
    } finally {
      transport.close()
    }
    const all = () => summariesOf(upstream, failmail)
    await eventually(
      "every message summarized upstream",
      async () => (await all()).reduce((sum, summary) => sum + summary.messages, 0) === 1_000 && spoolFiles(failmail.config.messageStore).length === 0,
      60_000,
      100
    )
    const summaries = await all()
    expect(summaries.length).toBeLessThanOrEqual(3)
    expect(Math.min(...summaries.map((summary) => summary.delivery.at)) - firstAccepted).toBeLessThanOrEqual(7_000)
    expect(summaries.every((summary) => summary.delivery.to.join() === "ops@example.com")).toBe(true)
    expect(summaries[0]?.mail.text).toContain("Storm: this digest merges")
  }, 90_000)
})
