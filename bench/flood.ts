/**
 * Scenario 4: flood memory — many messages pending in one batch across many
 * groups (wait-period long enough that nothing is summarized meanwhile);
 * failmail's resident memory from /proc/<pid>/status.
 *
 * Scenario 6: recovery — failmail is killed (SIGKILL, a crash) with the
 * flood in its spool and restarted on it: time until it is ready (its
 * `failmail ready` line, and SMTP answering), and until the summary of the
 * recovered batch is accepted upstream and the spool is empty.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { Context } from "./context.ts"
import type { Failmail } from "./failmail.ts"
import { mb, type Row } from "./report.ts"
import { startRecorder } from "./upstream.ts"
import { fixed, freePort, greets, int, now, pollUntil, removeDir, sleep } from "./util.ts"

export interface FloodResult {
  readonly row: Row
  /** The crashed failmail's directory, its spool full. */
  readonly dir: string
  readonly messages: number
}

export const runFlood = async (ctx: Context): Promise<FloodResult> => {
  const { sizes } = ctx
  const total = sizes.floodGroups * sizes.floodPerGroup
  const failmail = await ctx.startHolding("s4")
  let keep = false
  try {
    const idle = failmail.memory()
    let peakRss = idle?.rssKb ?? 0
    let sampling = true
    const sampler = (async () => {
      for (let i = 0; sampling && i < 100_000; i++) {
        peakRss = Math.max(peakRss, failmail.memory()?.rssKb ?? 0)
        await sleep(100)
      }
    })()
    const started = now()
    let nextGroup = 0
    // Two loads at a time (10 connections), one subject (group) each, every message reusing its connection.
    const worker = async () => {
      while (nextGroup < sizes.floodGroups) {
        const group = nextGroup++
        await ctx.load({
          port: failmail.port,
          sessions: sizes.sessions,
          messages: sizes.floodPerGroup,
          size: sizes.messageSize,
          reuse: true,
          subject: `flood alert ${String(group).padStart(3, "0")}`,
          timeoutMs: 600_000
        })
        if (group % 10 === 9) ctx.log(`  4: ${(group + 1) * sizes.floodPerGroup} messages in`)
      }
    }
    await Promise.all([worker(), worker()])
    const elapsed = now() - started
    await failmail.expectSpooled(total, 30_000)
    sampling = false
    await sampler
    const end = failmail.memory()
    peakRss = Math.max(peakRss, end?.rssKb ?? 0)
    const hwm = end?.hwmKb ?? Number.NaN
    if (ctx.options.profileDir !== undefined) await heapSnapshot(ctx, failmail)
    const problems = failmail.problems()
    // A crash, so that the spool stays full for the recovery scenario.
    await failmail.stop("kill")
    keep = true
    return {
      dir: failmail.dir,
      messages: total,
      row: {
        id: 4,
        scenario: "flood memory (messages pending in one batch)",
        figure: `peak ${mb(hwm)} (VmHWM); ${mb(end?.rssKb ?? Number.NaN)} at the end; ${mb(idle?.rssKb ?? Number.NaN)} idle before`,
        target: "RSS < 200 MB",
        pass: hwm < 200 * 1024,
        values: {
          hwmKb: hwm,
          rssEndKb: end?.rssKb ?? Number.NaN,
          rssIdleKb: idle?.rssKb ?? Number.NaN,
          sampledPeakRssKb: peakRss,
          messages: total,
          groups: sizes.floodGroups,
          ingestRate: (total / elapsed) * 1000
        },
        notes: [
          `4: ${int(total)} messages of ${sizes.messageSize} bytes, ${sizes.floodGroups} subjects (groups) × ${int(sizes.floodPerGroup)}, ` +
            `one batch (no X-Failmail-Split), --wait-period=1h so all stay pending; ${ctx.loadLabel}, 2 × ${sizes.sessions} reused connections; ` +
            `ingested at ${int((total / elapsed) * 1000)} msg/s. VmHWM is the kernel's peak resident set of the failmail process ` +
            `(idle: ${mb(idle?.rssKb ?? Number.NaN)}; sampled peak every 100 ms: ${mb(peakRss)}).` +
            (problems.length > 0 ? ` failmail logged ${problems.length} warnings/errors, first: ${problems[0]}` : "")
        ]
      }
    }
  } finally {
    if (!keep) await failmail.dispose("kill")
  }
}

/** Asks failmail (started with --heapsnapshot-signal=SIGUSR2) for a heap snapshot and copies it to the profile directory. */
const heapSnapshot = async (ctx: Context, failmail: Failmail) => {
  const before = new Set(fs.readdirSync(failmail.dir))
  process.kill(failmail.pid, "SIGUSR2")
  const file = await pollUntil(
    "heap snapshot",
    () => fs.readdirSync(failmail.dir).find((name) => name.endsWith(".heapsnapshot") && !before.has(name)),
    120_000,
    200
  )
  // Written once its size stops changing.
  let size = -1
  for (let i = 0; i < 600; i++) {
    const current = fs.statSync(path.join(failmail.dir, file)).size
    if (current === size && current > 0) break
    size = current
    await sleep(500)
  }
  const target = path.join(path.resolve(ctx.options.profileDir as string), "failmail-s4-flood.heapsnapshot")
  fs.copyFileSync(path.join(failmail.dir, file), target)
  ctx.log(`  4: heap snapshot in ${target}`)
}

export const runRecovery = async (ctx: Context, flood: FloodResult): Promise<Row> => {
  const recorder = await startRecorder()
  let failmail: Failmail | undefined
  try {
    const port = await freePort()
    const spawned = now()
    const spawnedWall = Date.now()
    let smtpAt = Number.NaN
    let polling = true
    const poller = (async () => {
      for (let i = 0; polling && i < 100_000; i++) {
        if (await greets(port, 2000)) {
          smtpAt = now()
          return
        }
        await sleep(10)
      }
    })()
    // max-wait 1s: the recovered batch (its first message long ago) is overdue and goes out at once.
    failmail = await ctx.startFailmail({
      label: "s6",
      dir: flood.dir,
      port,
      relayAddr: recorder.address,
      waitPeriod: "1s",
      maxWait: "1s",
      logLevel: "info",
      readyTimeoutMs: 300_000
    })
    const readyMs = failmail.readyAt - failmail.spawnedAt
    await pollUntil("SMTP answering", () => (Number.isNaN(smtpAt) ? undefined : true), 30_000, 10).catch(() => undefined)
    polling = false
    await poller
    const smtpMs = smtpAt - spawned
    // Every recovered message is in some accepted summary.
    const deadline = now() + 600_000
    let summarized = 0
    for (let i = 0; i < 1_000_000 && now() < deadline; i++) {
      summarized = recorder.accepted.reduce((sum, delivery) => sum + delivery.messages, 0)
      if (summarized >= flood.messages) break
      await sleep(20)
    }
    const lastSummary = recorder.accepted.at(-1)
    // The upstream stamps with Date.now(); `spawned` is monotonic: convert through the wall clock at spawn.
    const summaryMs = summarized >= flood.messages && lastSummary !== undefined ? lastSummary.at - spawnedWall : Number.NaN
    let emptyMs = Number.NaN
    const current = failmail
    await pollUntil("empty spool", async () => ((await current.spooled()) === 0 ? true : undefined), 600_000, 100)
      .then(() => (emptyMs = now() - spawned))
      .catch(() => undefined)
    const recovered = /recovered (\d+) messages/.exec(failmail.lines.find((line) => /recovered \d+ messages/.test(line.text))?.text ?? "")
    const problems = failmail.problems()
    return {
      id: 6,
      scenario: "recovery (restart with the flood in the spool)",
      figure:
        `ready ${fixed(readyMs / 1000, 2)} s (SMTP answering ${fixed(smtpMs / 1000, 2)} s); ` +
        `summaries accepted ${fixed(summaryMs / 1000, 2)} s; spool empty ${fixed(emptyMs / 1000, 2)} s`,
      target: "ready < 3 s",
      pass: readyMs < 3_000 && smtpMs < 3_000,
      values: {
        readyMs,
        smtpMs,
        summaryMs,
        emptyMs,
        messages: flood.messages,
        recovered: Number(recovered?.[1] ?? Number.NaN),
        summaries: recorder.accepted.length
      },
      notes: [
        `6: failmail killed with SIGKILL holding ${int(flood.messages)} spooled messages, restarted on the same spool with ` +
          `--max-wait=1s (so the recovered batch is overdue and is summarized at once); times from the spawn of \`node dist/main.js\`: ` +
          `its "failmail ready" log line, the first SMTP greeting on its port, the recording upstream accepting the last summary ` +
          `(${recorder.accepted.length} summaries covering ${int(summarized)} messages), and the spool directory being empty.` +
          (problems.length > 0 ? ` failmail logged ${problems.length} warnings/errors, first: ${problems[0]}` : "")
      ]
    }
  } finally {
    await failmail?.stop(ctx.stopHow)
    await recorder.close()
    removeDir(flood.dir)
  }
}
