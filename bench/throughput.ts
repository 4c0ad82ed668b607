/**
 * Scenarios 1 and 2: ingest throughput, failmail against the null sink on
 * the very same load, rounds rotating the order so that all see the same
 * machine. failmail's spool fsyncs every message before its 250.
 *
 * Two ceilings are measured beside it, in the same run: the pinned listener
 * (smtp-server) answering 250 without storing anything, and the disk's
 * cheapest durable write with as many writers as there are clients. Where
 * there is a tmpfs (`/dev/shm`), failmail is also run with its spool there:
 * every step of its own, without the disk's latency, which tells the CPU
 * failmail spends per message from the time it waits for the disk.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { measureDisk, startBareListener } from "./ceilings.ts"
import type { Context } from "./context.ts"
import type { Row } from "./report.ts"
import { tempDir } from "../test/support/tempdir.ts"
import { fixed, int, median } from "./util.ts"

interface Spec {
  readonly id: 1 | 2
  readonly scenario: string
  readonly reuse: boolean
  readonly messages: number
  /** The target: at least `ratio` × the listener's rate, or × the lower of the listener's and the disk's. */
  readonly target: { readonly ratio: number; readonly of: "listener" | "lower ceiling" }
}

export const runThroughput = async (ctx: Context, spec: Spec): Promise<Row> => {
  const { sizes } = ctx
  const failmail = await ctx.startHolding(`s${spec.id}`)
  const shm = fs.existsSync("/dev/shm") ? tempDir("failmail-bench-", "/dev/shm") : undefined
  const onTmpfs = shm === undefined ? undefined : await ctx.startHolding(`s${spec.id}-tmpfs`, shm)
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
    if (onTmpfs !== undefined) await load(onTmpfs.port, warmup)
    let spooled = warmup
    let spooledOnTmpfs = warmup
    const bare = await startBareListener(ctx.root)
    const rates = { sink: [] as Array<number>, bare: [] as Array<number>, failmail: [] as Array<number>, tmpfs: [] as Array<number> }
    try {
      await load(bare.port, warmup)
      const measure = {
        sink: async () => (spec.messages / (await load(ctx.sink.port, spec.messages))) * 1000,
        bare: async () => (spec.messages / (await load(bare.port, spec.messages))) * 1000,
        failmail: async () => {
          const ms = await load(failmail.port, spec.messages)
          spooled += spec.messages
          await failmail.expectSpooled(spooled)
          return (spec.messages / ms) * 1000
        },
        tmpfs: async () => {
          if (onTmpfs === undefined) return Number.NaN
          const ms = await load(onTmpfs.port, spec.messages)
          spooledOnTmpfs += spec.messages
          await onTmpfs.expectSpooled(spooledOnTmpfs)
          return (spec.messages / ms) * 1000
        }
      }
      const labels = { sink: ctx.sink.label, bare: bare.label, failmail: "failmail", tmpfs: "failmail, spool on tmpfs" }
      const order = onTmpfs === undefined ? (["sink", "bare", "failmail"] as const) : (["sink", "bare", "failmail", "tmpfs"] as const)
      for (let round = 0; round < sizes.rounds; round++) {
        // Rotate who goes first, so a drift in the machine's load hits all alike.
        for (let i = 0; i < order.length; i++) {
          const who = order[(round + i) % order.length] as (typeof order)[number]
          const rate = await measure[who]()
          rates[who].push(rate)
          ctx.log(`  ${spec.id}: round ${round + 1}: ${labels[who]} ${int(rate)} msg/s`)
        }
      }
    } finally {
      await bare.close()
    }
    const disk = await measureDisk(ctx.root, path.dirname(failmail.spoolDir), sizes.sessions, sizes.messageSize, ctx.options.quick ? 1 : 3)
    ctx.log(`  ${spec.id}: disk ceiling ${int(disk.rate)} durable records/s (${sizes.sessions} writers)`)
    const failmailRates = rates.failmail
    const sinkRates = rates.sink
    const bareRate = median(rates.bare)
    const tmpfsRate = onTmpfs === undefined ? undefined : median(rates.tmpfs)
    const failmailRate = median(failmailRates)
    const sinkRate = median(sinkRates)
    const ratio = failmailRate / sinkRate
    const reference = spec.target.of === "listener" ? bareRate : Math.min(bareRate, disk.rate)
    const memory = failmail.memory()
    const problems = failmail.problems()
    return {
      id: spec.id,
      scenario: spec.scenario,
      figure:
        `${int(failmailRate)} msg/s = ${fixed(ratio, 2)} × ${ctx.sink.label} (${int(sinkRate)} msg/s); ` +
        `ceilings: listener ${fixed(bareRate / sinkRate, 2)} ×, disk ${fixed(disk.rate / sinkRate, 2)} ×` +
        (tmpfsRate === undefined ? "" : `; failmail without the disk ${fixed(tmpfsRate / sinkRate, 2)} ×`),
      target: `≥ ${spec.target.ratio} × the ${spec.target.of} (${fixed((spec.target.ratio * reference) / sinkRate, 2)} × ${ctx.sink.label})`,
      pass: failmailRate >= spec.target.ratio * reference,
      values: {
        failmailRate,
        sinkRate,
        ratio,
        bareRate,
        bareRatio: bareRate / sinkRate,
        diskRate: disk.rate,
        diskRatio: disk.rate / sinkRate,
        ...(tmpfsRate === undefined ? {} : { tmpfsRate, tmpfsRatio: tmpfsRate / sinkRate }),
        messages: spec.messages,
        rounds: sizes.rounds,
        ...(memory === undefined ? {} : { rssKb: memory.rssKb })
      },
      notes: [
        `${spec.id}: ${sizes.sessions} concurrent ${ctx.loadLabel} sessions, ${spec.reuse ? "reused connections" : "a new connection per message"}, ` +
          `${int(spec.messages)} messages of ${int(sizes.messageSize)} bytes per run, median of ${sizes.rounds} alternating rounds ` +
          `(failmail: ${failmailRates.map(int).join(", ")}; ${ctx.sink.label}: ${sinkRates.map(int).join(", ")} msg/s). ` +
          `Ceilings in the same run: the bare listener (smtp-server answering 250 without storing) ${int(bareRate)} msg/s = ` +
          `${fixed(bareRate / sinkRate, 2)} × ${ctx.sink.label}; the disk (${sizes.sessions} writers, each waiting for its own record, ` +
          `group-committed append with O_DSYNC to a preallocated file) ${int(disk.rate)} records/s = ${fixed(disk.rate / sinkRate, 2)} × ${ctx.sink.label}.` +
          (tmpfsRate === undefined
            ? ""
            : ` failmail with its spool on tmpfs (its own CPU per message, no disk latency): ${rates.tmpfs.map(int).join(", ")} msg/s, ` +
              `median ${int(tmpfsRate)} = ${fixed(tmpfsRate / bareRate, 2)} × the listener.`) +
          (problems.length > 0 ? ` failmail logged ${problems.length} warnings/errors, first: ${problems[0]}` : "")
      ]
    }
  } finally {
    await failmail.dispose(ctx.stopHow)
    await onTmpfs?.dispose(ctx.stopHow)
  }
}
