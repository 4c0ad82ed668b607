/**
 * `npm run bench`: starts the built failmail as a user runs it, drives it
 * with real SMTP load on 127.0.0.1 and prints one table of figures, with
 * postfix's smtp-sink run on the same load as the physical reference.
 * Progress goes to stderr; the table (markdown) to stdout.
 *
 *   1. new connection per message — 5 clients, 2 KB messages (rate vs smtp-sink)
 *   2. reused connections — 5 clients, many messages per connection (rate vs smtp-sink)
 *   3. acknowledgement latency — one client, connect → 250, p50/p99
 *   4. flood memory — 100,000 messages pending in one batch across 100 groups
 *   5. summary latency — batch deadline → summary accepted upstream, p50/p99
 *   6. recovery — restart with the flood in the spool: ready, summaries out
 *   7. idle memory — resident set before the first message, default configuration
 *   8. PostgreSQL store — ingest of one replica and of two behind the same load, beside the embedded store
 *   9. failover — kill -9 of the sending replica with mail pending → the other's summary upstream
 */
import * as fs from "node:fs"
import * as os from "node:os"
import { makeContext } from "./context.ts"
import { commandLabel } from "./failmail.ts"
import { runFlood, runRecovery, type FloodResult } from "./flood.ts"
import { runIdleMemory } from "./idle.ts"
import { runAckLatency, runSummaryLatency } from "./latency.ts"
import { parseOptions, sizesFor } from "./options.ts"
import { smtpSinkPath, smtpSourcePath, startSmtpSink, type Sink } from "./postfix-tools.ts"
import { runFailover, runPostgresIngest, withPostgres } from "./replicas.ts"
import { table, type Row } from "./report.ts"
import { runThroughput } from "./throughput.ts"
import { startRecorder } from "./upstream.ts"
import { projectRoot, runMain } from "./util.ts"

const SCENARIOS: Record<number, string> = {
  1: "new connection per message",
  2: "reused connections",
  3: "acknowledgement latency (connect → 250)",
  4: "flood memory (messages pending in one batch)",
  5: "summary latency (deadline → upstream 250)",
  6: "recovery (restart with the flood in the spool)",
  7: "idle memory (before the first message)",
  8: "PostgreSQL store: ingest, new connection per message",
  9: "failover (kill -9 of the sender, mail pending → summary upstream)"
}

const errorRow = (id: number, error: unknown): Row => ({
  id,
  scenario: SCENARIOS[id] ?? String(id),
  figure: "",
  target: "",
  pass: false,
  values: {},
  notes: [],
  error: error instanceof Error ? error.message.split("\n")[0] ?? error.message : String(error)
})

const startSink = async (): Promise<Sink> => {
  if (smtpSinkPath !== undefined) return startSmtpSink()
  const recorder = await startRecorder({ quiet: true })
  return { port: recorder.port, label: recorder.label, close: recorder.close }
}

const run = async (): Promise<number> => {
  const options = parseOptions(process.argv.slice(2))
  const sizes = sizesFor(options)
  const root = projectRoot()
  const wanted = (id: number) => options.scenarios.size === 0 || options.scenarios.has(id)
  if (options.profileDir !== undefined) fs.mkdirSync(options.profileDir, { recursive: true })

  const machine = {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    node: process.version,
    loadavg: os.loadavg().map((load) => load.toFixed(2)).join(" "),
    memoryMb: Math.round(os.totalmem() / 1024 / 1024)
  }
  const log = (message: string) => process.stderr.write(`bench: ${message}\n`)
  log(`${machine.nproc} cores (${machine.cpu}), Node ${machine.node}, load average ${machine.loadavg}`)
  log(`smtp-source: ${smtpSourcePath ?? "not installed (Node load generator)"}; smtp-sink: ${smtpSinkPath ?? "not installed (Node null sink)"}`)

  const sink = await startSink()
  const ctx = makeContext(root, options, sizes, sink)
  const rows: Array<Row> = []
  const attempt = async (id: number, body: () => Promise<Row>) => {
    log(`scenario ${id}: ${SCENARIOS[id]}`)
    const started = performance.now()
    try {
      const row = await body()
      rows.push(row)
      log(`  ${id}: ${row.figure} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
    } catch (error) {
      rows.push(errorRow(id, error))
      log(`  ${id}: error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
    }
  }
  try {
    // First, on a machine not yet warmed by the load scenarios' processes.
    if (wanted(7)) await attempt(7, () => runIdleMemory(ctx))
    if (wanted(1)) {
      await attempt(1, () =>
        runThroughput(ctx, { id: 1, scenario: SCENARIOS[1]!, reuse: false, messages: sizes.newConnectionMessages, target: { ratio: 0.8, of: "listener" } })
      )
    }
    if (wanted(2)) {
      await attempt(2, () =>
        runThroughput(ctx, { id: 2, scenario: SCENARIOS[2]!, reuse: true, messages: sizes.reusedMessages, target: { ratio: 0.6, of: "lower ceiling" } })
      )
    }
    if (wanted(3)) await attempt(3, () => runAckLatency(ctx))
    let flood: FloodResult | undefined
    if (wanted(4) || wanted(6)) {
      await attempt(4, async () => {
        flood = await runFlood(ctx)
        return flood.row
      })
    }
    if (wanted(5)) await attempt(5, () => runSummaryLatency(ctx))
    if (wanted(6)) {
      const recoverFrom = flood
      await attempt(6, () =>
        recoverFrom === undefined ? Promise.reject(new Error("no flood spool to recover (scenario 4 failed)")) : runRecovery(ctx, recoverFrom)
      )
    }
    if (wanted(8) || wanted(9)) {
      await withPostgres(ctx, async (postgres) => {
        if (wanted(8)) await attempt(8, () => runPostgresIngest(ctx, postgres))
        if (wanted(9)) await attempt(9, () => runFailover(ctx, postgres))
      }).catch((error: unknown) => {
        for (const id of [8, 9]) if (wanted(id) && !rows.some((row) => row.id === id)) rows.push(errorRow(id, error))
      })
    }
  } finally {
    await sink.close()
  }
  rows.sort((a, b) => a.id - b.id)

  const out = [
    "",
    `failmail benchmark${options.quick ? " (--quick: tiny counts, a smoke run of the harness, not a measurement)" : ""}`,
    `machine: ${machine.nproc} cores (nproc), ${machine.cpu}, ${machine.memoryMb} MB, Node ${machine.node}, load average at start ${machine.loadavg}`,
    `load: ${ctx.loadLabel}; reference: ${sink.label}; failmail: ${commandLabel(root, options.nodeOptions)}, spool synced to disk before every 250`,
    "",
    table(rows, options.quick),
    "",
    ...rows.flatMap((row) => row.notes),
    ""
  ]
  process.stdout.write(out.join("\n") + "\n")
  if (options.json !== undefined) {
    fs.writeFileSync(options.json, JSON.stringify({ machine, quick: options.quick, load: ctx.loadLabel, reference: sink.label, nodeOptions: options.nodeOptions, rows }, null, 2))
  }
  return rows.some((row) => row.error !== undefined) ? 1 : 0
}

runMain("bench", run)
