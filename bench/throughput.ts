/**
 * Scenarios 1 and 2: ingest throughput, failmail against the null sink on
 * the very same load, rounds alternating between the two so that both see
 * the same machine. failmail's spool fsyncs every message before its 250.
 */
import type { Context } from "./context.ts"
import type { Row } from "./report.ts"
import { fixed, int, median } from "./util.ts"

interface Spec {
  readonly id: 1 | 2
  readonly scenario: string
  readonly reuse: boolean
  readonly messages: number
  readonly targetRatio: number
}

export const runThroughput = async (ctx: Context, spec: Spec): Promise<Row> => {
  const { sizes } = ctx
  const failmail = await ctx.startFailmail({
    label: `s${spec.id}`,
    relayAddr: `127.0.0.1:${ctx.sink.port}`,
    waitPeriod: "1h",
    maxWait: "2h",
    logLevel: "info"
  })
  try {
    const load = (port: number, messages: number) =>
      ctx.load({
        port,
        sessions: sizes.sessions,
        messages,
        size: sizes.messageSize,
        reuse: spec.reuse,
        timeoutMs: 600_000
      })
    // Warm-up (JIT, connection pools, page cache), not measured.
    const warmup = Math.max(20, Math.round(spec.messages / 10))
    await load(ctx.sink.port, warmup)
    await load(failmail.port, warmup)
    let spooled = warmup
    const sinkRates: Array<number> = []
    const failmailRates: Array<number> = []
    for (let round = 0; round < sizes.rounds; round++) {
      const measureFailmail = async () => {
        const ms = await load(failmail.port, spec.messages)
        spooled += spec.messages
        await failmail.expectSpooled(spooled)
        failmailRates.push((spec.messages / ms) * 1000)
        ctx.log(`  ${spec.id}: round ${round + 1}: failmail ${int((spec.messages / ms) * 1000)} msg/s`)
      }
      const measureSink = async () => {
        const ms = await load(ctx.sink.port, spec.messages)
        sinkRates.push((spec.messages / ms) * 1000)
        ctx.log(`  ${spec.id}: round ${round + 1}: ${ctx.sink.label} ${int((spec.messages / ms) * 1000)} msg/s`)
      }
      // Alternate who goes first, so a drift in the machine's load hits both alike.
      if (round % 2 === 0) {
        await measureSink()
        await measureFailmail()
      } else {
        await measureFailmail()
        await measureSink()
      }
    }
    const failmailRate = median(failmailRates)
    const sinkRate = median(sinkRates)
    const ratio = failmailRate / sinkRate
    const memory = failmail.memory()
    const problems = failmail.problems()
    return {
      id: spec.id,
      scenario: spec.scenario,
      figure: `${int(failmailRate)} msg/s = ${fixed(ratio, 2)} × ${ctx.sink.label} (${int(sinkRate)} msg/s)`,
      target: `≥ ${spec.targetRatio} × ${ctx.sink.label}`,
      pass: ratio >= spec.targetRatio,
      values: {
        failmailRate,
        sinkRate,
        ratio,
        messages: spec.messages,
        rounds: sizes.rounds,
        ...(memory === undefined ? {} : { rssKb: memory.rssKb })
      },
      notes: [
        `${spec.id}: ${sizes.sessions} concurrent ${ctx.loadLabel} sessions, ${spec.reuse ? "reused connections" : "a new connection per message"}, ` +
          `${int(spec.messages)} messages of ${int(sizes.messageSize)} bytes per run, median of ${sizes.rounds} alternating rounds ` +
          `(failmail: ${failmailRates.map(int).join(", ")}; ${ctx.sink.label}: ${sinkRates.map(int).join(", ")} msg/s).` +
          (problems.length > 0 ? ` failmail logged ${problems.length} warnings/errors, first: ${problems[0]}` : "")
      ]
    }
  } finally {
    await failmail.dispose(ctx.stopHow)
  }
}
