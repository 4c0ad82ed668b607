/**
 * Scenario 3: acknowledgement latency — one client, a new connection per
 * message, connect → 250 after DATA, sequentially.
 *
 * Scenario 5: summary latency — every message its own batch (distinct
 * X-Failmail-Split), so each batch's deadline is its message's arrival time
 * + wait-period; the figure is the time from that deadline to the moment
 * the recording upstream accepted the summary.
 */
import type { Context } from "./context.ts"
import type { Failmail } from "./failmail.ts"
import type { Row } from "./report.ts"
import { Conversation } from "../test/support/smtpClient.ts"
import { BENCH_CLIENT, buildMessage } from "./messages.ts"
import { startRecorder } from "./upstream.ts"
import { fixed, now, percentile, sleep } from "./util.ts"

const FROM = "app@bench.localhost"
const TO = "ops@bench.localhost"

export const runAckLatency = async (ctx: Context): Promise<Row> => {
  const { sizes } = ctx
  const failmail = await ctx.startHolding("s3")
  try {
    const latencies: Array<number> = []
    const total = sizes.latencyWarmup + sizes.latencyMessages
    for (let i = 0; i < total; i++) {
      const message = buildMessage({ from: FROM, to: TO, subject: `latency ${i % 10}`, size: sizes.messageSize, seq: i })
      const started = now()
      const connection = await Conversation.greeted(failmail.port, BENCH_CLIENT)
      await connection.ehlo("bench.localhost")
      const timing = await connection.send(FROM, [TO], message)
      await connection.quit()
      if (i >= sizes.latencyWarmup) latencies.push(timing.ackAt - started)
    }
    await failmail.expectSpooled(total)
    const p50 = percentile(latencies, 50)
    const p99 = percentile(latencies, 99)
    const max = percentile(latencies, 100)
    return {
      id: 3,
      scenario: "acknowledgement latency (connect → 250)",
      figure: `p50 ${fixed(p50, 1)} ms, p99 ${fixed(p99, 1)} ms (max ${fixed(max, 1)} ms)`,
      target: "p50 < 3 ms, p99 < 15 ms",
      pass: p50 < 3 && p99 < 15,
      values: { p50, p99, max, messages: latencies.length },
      notes: [
        `3: one client, ${latencies.length} sequential messages of ${sizes.messageSize} bytes (after ${sizes.latencyWarmup} unmeasured), ` +
          `each on a new connection: connect, greeting, EHLO, MAIL, RCPT, DATA, message; timed from connect() to the 250 ` +
          `(which failmail sends after the fsync'd spool write).`
      ]
    }
  } finally {
    await failmail.dispose(ctx.stopHow)
  }
}

/** The arrival time failmail stored with each spooled message, by batch key (one already summarized is gone: its ack time is used instead). */
const readArrivals = async (failmail: Failmail, into: Map<string, number>) => {
  for (const record of await failmail.held()) into.set(record.keys.batchKey, record.receivedAt)
}

export const runSummaryLatency = async (ctx: Context): Promise<Row> => {
  const { sizes } = ctx
  const recorder = await startRecorder()
  const waitMs = sizes.summaryWaitMs
  const failmail = await ctx.startFailmail({
    label: "s5",
    relayAddr: recorder.address,
    waitPeriod: `${waitMs}ms`,
    maxWait: "10m",
    logLevel: "info",
    // The scenario times the batch timers and the relay, not the relay budget (which would hold all but 60 a minute)
    // nor the storm merge (200 batches to one address due within a second are a storm: one digest, by design).
    extraArgs: ["--relay-rate=0", "--storm-threshold=0"]
  }).catch(async (error: unknown) => {
    await recorder.close()
    throw error
  })
  try {
    const run = `${process.pid}-${Date.now()}`
    const keyOf = (i: number) => `latency-${run}-${i}`
    const sent = new Map<string, { dataEndWall: number; ackWall: number }>()
    const stored = new Map<string, number>()
    const connection = await Conversation.greeted(failmail.port, BENCH_CLIENT)
    await connection.ehlo("bench.localhost")
    const started = now()
    for (let i = 0; i < sizes.summaryBatches; i++) {
      const at = started + i * sizes.summaryGapMs
      if (at > now()) await sleep(at - now())
      const key = keyOf(i)
      const message = buildMessage({ from: FROM, to: TO, subject: `summary latency ${i}`, split: key, size: sizes.messageSize, seq: i })
      const timing = await connection.send(FROM, [TO], message)
      sent.set(key, { dataEndWall: timing.dataEndWall, ackWall: timing.ackWall })
      await readArrivals(failmail, stored)
    }
    await connection.quit()
    const deliveries = await recorder.waitFor(sizes.summaryBatches, waitMs + 30_000)
    const exact: Array<number> = []
    const lower: Array<number> = []
    const upper: Array<number> = []
    let unmatched = 0
    let fromAck = 0
    for (const delivery of deliveries) {
      const message = sent.get(delivery.batch)
      if (message === undefined) {
        unmatched++
        continue
      }
      const receivedAt = stored.get(delivery.batch)
      if (receivedAt === undefined) fromAck++
      exact.push(delivery.at - ((receivedAt ?? message.ackWall) + waitMs))
      lower.push(delivery.at - (message.ackWall + waitMs))
      upper.push(delivery.at - (message.dataEndWall + waitMs))
    }
    const missing = sizes.summaryBatches - exact.length
    const p50 = percentile(exact, 50)
    const p99 = percentile(exact, 99)
    const max = percentile(exact, 100)
    return {
      id: 5,
      scenario: "summary latency (deadline → upstream 250)",
      figure: `p50 ${fixed(p50, 1)} ms, p99 ${fixed(p99, 1)} ms (max ${fixed(max, 1)} ms)${missing > 0 ? `; ${missing} summaries missing` : ""}`,
      target: "p99 < 50 ms",
      pass: p99 < 50 && missing === 0,
      values: {
        p50,
        p99,
        max,
        batches: exact.length,
        missing,
        ackBasedP99: percentile(lower, 99),
        sendBasedP99: percentile(upper, 99)
      },
      notes: [
        `5: ${sizes.summaryBatches} messages ${sizes.summaryGapMs} ms apart over one connection, each with its own X-Failmail-Split ` +
          `(so its own batch), --wait-period=${waitMs}ms. Deadline = the arrival time failmail stored with the message ` +
          `(receivedAt, read from its spool file) + wait-period; end = the recording upstream (a separate Node process) accepting the ` +
          `summary, on the same clock (Date.now(), whole milliseconds on both sides, so each figure carries up to ±1 ms of rounding). ` +
          `Bracket: taking the client's 250 (later than the arrival) as the arrival gives a lower bound, p99 ${fixed(percentile(lower, 99), 1)} ms; ` +
          `taking the moment the client finished sending DATA (earlier) gives an upper bound, p99 ${fixed(percentile(upper, 99), 1)} ms.` +
          (fromAck > 0 ? ` ${fromAck} arrival times were not read from the spool in time; their 250 was used.` : "") +
          (unmatched > 0 ? ` ${unmatched} unexpected deliveries.` : "")
      ]
    }
  } finally {
    await failmail.dispose(ctx.stopHow)
    await recorder.close()
  }
}
