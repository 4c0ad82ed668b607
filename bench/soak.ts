/**
 * `npm run soak`: mixed load against the built failmail for a while, then
 * the one question that matters: was every acknowledged message summarized
 * exactly once, and did memory stay flat?
 *
 * failmail runs as a user runs it (`node dist/main.js`, its own temporary
 * spool and fail-dir, wait-period 1 s, max-wait 5 s) and relays to the
 * recording upstream on 127.0.0.1, which answers each summary's DATA
 * `--upstream-delay` late (so reloads meet summaries in flight). For
 * `--duration`, it gets:
 * - clients on a new connection per message and clients reusing one,
 *   paced to `--rate` messages a second in all;
 * - a client sending 1 MB messages, one a second;
 * - garbage sessions: random bytes, DATA abandoned half-way, connections
 *   dropped at once, junk commands;
 * - a SIGHUP every `--hup-every`.
 * Then SIGTERM (failmail summarizes what is pending and exits), and the
 * summaries the upstream received, plus any filed in the fail-dir, are
 * compared with what was acknowledged, batch key by batch key. RSS is read
 * from /proc/<pid>/status every second.
 *
 * The SIGTERM waits for the last reload to finish.
 *
 * Prints the figures on stdout; exits 1 when a message was lost, summarized
 * twice or left in the spool by the stop (or failmail did not exit 0),
 * 0 otherwise.
 */
import { Duration, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as GoDuration from "../src/domain/settings/GoDuration.ts"
import { Failmail } from "./failmail.ts"
import { readFlags } from "./flags.ts"
import { headerOf } from "./headers.ts"
import { GARBAGE_KINDS, Ledger, runClient, runGarbage, type ClientKind, type GarbageKind } from "./soak-load.ts"
import { judge } from "./soak-verdict.ts"
import { startRecorder, type Recorder } from "./upstream.ts"
import { int, now, projectRoot, runMain, sleep, waitExit } from "./util.ts"

interface SoakOptions {
  readonly durationMs: number
  readonly rate: number
  readonly hupEveryMs: number
  readonly upstreamDelayMs: number
  readonly json: string | undefined
}

const usage = `usage: node dist-bench/bench/soak.js [--duration D] [--rate N] [--hup-every D] [--upstream-delay D] [--json FILE]
  --duration D        how long the load runs (Go syntax: 30s, 5m; default 30s)
  --rate N            messages a second from the 2 KB clients, in all (default 100)
  --hup-every D       SIGHUP failmail this often (default 3s; 0: never)
  --upstream-delay D  the upstream answers each summary's DATA this late (default 500ms: a relay across a network)
  --json FILE         also write the figures as JSON`

const parseOptions = (argv: ReadonlyArray<string>): SoakOptions => {
  const options = { durationMs: 30_000, rate: 100, hupEveryMs: 3_000, upstreamDelayMs: 500, json: undefined as string | undefined }
  const duration = (flag: string, text: string) =>
    Either.match(GoDuration.parse(text), {
      onLeft: (problem) => {
        throw new Error(`${flag}: ${problem}\n${usage}`)
      },
      onRight: (value) => Duration.toMillis(value)
    })
  readFlags(argv, usage, {
    "--duration": (value) => {
      options.durationMs = duration("--duration", value())
      if (options.durationMs <= 0) throw new Error(`--duration must be more than 0\n${usage}`)
    },
    "--rate": (value) => {
      const rate = Number(value())
      if (!Number.isFinite(rate) || rate <= 0) throw new Error(`--rate: a number of messages a second, more than 0\n${usage}`)
      options.rate = rate
    },
    "--hup-every": (value) => {
      options.hupEveryMs = duration("--hup-every", value())
    },
    "--upstream-delay": (value) => {
      options.upstreamDelayMs = duration("--upstream-delay", value())
    },
    "--json": (value) => {
      options.json = value()
    }
  })
  return options
}

/** The well-behaved clients: name, kind and share of the rate. */
const CLIENTS: ReadonlyArray<{ readonly name: string; readonly kind: ClientKind }> = [
  ...[1, 2, 3, 4].map((n) => ({ name: `new${n}`, kind: "new-connection" as const })),
  ...[1, 2, 3, 4].map((n) => ({ name: `reused${n}`, kind: "reused-connection" as const })),
  { name: "large", kind: "large" }
]
const GARBAGE_CLIENTS = 2
const LARGE_PER_SECOND = 1

/** Messages per batch key found in a fail-dir's `new/` (summaries filed instead of relayed). */
const filedSummaries = (failDir: string): ReadonlyArray<{ readonly batch: string; readonly messages: number }> => {
  const dir = path.join(failDir, "new")
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir).map((name) => {
    const raw = fs.readFileSync(path.join(dir, name))
    return { batch: headerOf(raw, "X-Failmail-Batch"), messages: Number(headerOf(raw, "X-Failmail-Messages") || "0") }
  })
}

/** Waits until the upstream has received nothing new for `quietMs` (its lines come through a pipe). */
const settled = async (recorder: Recorder, quietMs: number, timeoutMs: number) => {
  const end = now() + timeoutMs
  let seen = -1
  while (now() < end && seen !== recorder.accepted.length) {
    seen = recorder.accepted.length
    await sleep(quietMs)
  }
}

const run = async (): Promise<number> => {
  const options = parseOptions(process.argv.slice(2))
  const root = projectRoot()
  const log = (message: string) => process.stderr.write(`soak: ${message}\n`)
  const recorder = await startRecorder({ delayMs: options.upstreamDelayMs })
  // No relay budget: the soak makes about four batches a second, and summaries the budget holds stay in the spool at a stop by design.
  const failmail = await Failmail.start({
    root,
    label: "soak",
    relayAddr: recorder.address,
    waitPeriod: "1s",
    maxWait: "5s",
    extraArgs: ["--relay-rate=0"]
  })
  log(`failmail pid ${failmail.pid} on 127.0.0.1:${failmail.port}; load for ${int(options.durationMs / 1000)} s`)

  const rss: Array<number> = []
  const sampler = setInterval(() => {
    // An exiting process has no VmRSS any more: keep only real samples.
    const memory = failmail.memory()
    if (memory !== undefined && Number.isFinite(memory.rssKb)) rss.push(memory.rssKb)
  }, 1_000)
  let hups = 0
  let linesAtLastHup = 0
  const hangups =
    options.hupEveryMs > 0
      ? setInterval(() => {
          linesAtLastHup = failmail.lines.length
          if (failmail.child.kill("SIGHUP")) hups++
        }, options.hupEveryMs)
      : undefined

  const ledger = new Ledger()
  const garbage = new Map<GarbageKind, number>()
  const until = now() + options.durationMs
  const regular = CLIENTS.filter((client) => client.kind !== "large").length
  await Promise.all([
    ...CLIENTS.map((client) =>
      runClient({
        port: failmail.port,
        kind: client.kind,
        name: client.name,
        perSecond: client.kind === "large" ? LARGE_PER_SECOND : options.rate / regular,
        until,
        ledger
      })
    ),
    ...Array.from({ length: GARBAGE_CLIENTS }, () => runGarbage({ port: failmail.port, until, pauseMs: 100, counts: garbage }))
  ])
  clearInterval(hangups)
  // The stop is judged on its own: let the last reload finish first (each graph logs "failmail ready").
  if (hups > 0) await failmail.waitForLine(/failmail ready/, 30_000, linesAtLastHup).catch(() => undefined)

  log("load done; SIGTERM")
  const stopStarted = now()
  failmail.child.kill("SIGTERM")
  const exit = await waitExit(failmail.child, 120_000)
  const stopMs = now() - stopStarted
  clearInterval(sampler)
  await settled(recorder, 500, 10_000)
  await recorder.close()

  // Summarized per key: relayed upstream, or filed in the fail-dir.
  const summarized = new Map<string, number>()
  const add = (batch: string, messages: number) => summarized.set(batch, (summarized.get(batch) ?? 0) + messages)
  for (const summary of recorder.accepted) add(summary.batch, summary.messages)
  const filed = filedSummaries(path.join(failmail.dir, "failed"))
  for (const summary of filed) add(summary.batch, summary.messages)
  const leftover = new Map<string, number>()
  for (const { keys } of await failmail.held()) leftover.set(keys.batchKey, (leftover.get(keys.batchKey) ?? 0) + 1)

  const { lost, duplicated, lostKeys, duplicatedKeys, unknownKeys: unknown } = judge(ledger.keys, summarized, leftover)
  const leftInSpool = [...leftover.values()].reduce((sum, count) => sum + count, 0)
  const messagesSummarized = [...summarized.values()].reduce((sum, count) => sum + count, 0)
  const cleanStop = exit === 0
  // SIGTERM summarizes every pending batch: a message still spooled after a clean exit was not lost, but the stop broke its promise.
  const ok = lost === 0 && duplicated === 0 && unknown.length === 0 && cleanStop && leftInSpool === 0

  const mb = (kb: number) => (kb / 1024).toFixed(0)
  const refused = [...ledger.refused].sort(([a], [b]) => a - b)
  const lines = [
    `failmail soak: ${int(options.durationMs / 1000)} s, ${int(options.rate)} msg/s of 2 KB (4 clients on new connections, 4 on reused ones), ${LARGE_PER_SECOND} msg/s of 1 MB, ${GARBAGE_CLIENTS} garbage clients, SIGHUP every ${options.hupEveryMs > 0 ? `${options.hupEveryMs / 1000} s` : "never"}, upstream answering DATA after ${int(options.upstreamDelayMs)} ms`,
    "",
    `acknowledged (250)          ${int(ledger.acknowledged)} messages in ${int(ledger.keys.size)} batch keys (1 MB: ${int(ledger.large)})`,
    `refused                     ${refused.length === 0 ? "0" : refused.map(([code, count]) => `${code}: ${int(count)}`).join(", ")}`,
    `connection errors           ${int(ledger.connectionErrors)} (before the message was sent)`,
    `unanswered after DATA       ${int(ledger.unanswered)} (stored or not: both are right)`,
    `summarized upstream         ${int(recorder.accepted.reduce((sum, s) => sum + s.messages, 0))} messages in ${int(recorder.accepted.length)} summaries`,
    `filed in the fail-dir       ${int(filed.reduce((sum, s) => sum + s.messages, 0))} messages in ${int(filed.length)} summaries`,
    `left in the spool           ${int(leftInSpool)} (not summarized at the stop; sent at the next start)`,
    `lost                        ${int(lost)}${lostKeys.length === 0 ? "" : ` — ${lostKeys.slice(0, 10).join(", ")}`}`,
    `summarized twice            ${int(duplicated)}${duplicatedKeys.length === 0 ? "" : ` — ${duplicatedKeys.slice(0, 10).join(", ")}`}`,
    ...(unknown.length === 0 ? [] : [`summaries of unknown keys   ${unknown.slice(0, 10).join(", ")}`]),
    `garbage sessions            ${GARBAGE_KINDS.map((kind) => `${kind}: ${int(garbage.get(kind) ?? 0)}`).join(", ")}`,
    `SIGHUPs                     ${int(hups)}`,
    `stop                        exit ${exit} ${int(stopMs)} ms after SIGTERM`,
    `RSS MB, every second        ${rss.map(mb).join(" ")}`,
    rss.length === 0 ? "" : `RSS MB min / max / last     ${mb(Math.min(...rss))} / ${mb(Math.max(...rss))} / ${mb(rss[rss.length - 1] as number)}`,
    "",
    ok ? "OK: every acknowledged message summarized exactly once" : "FAIL: see lost / summarized twice / left in the spool / stop above"
  ]
  process.stdout.write(`${lines.join("\n")}\n`)
  if (options.json !== undefined) {
    const figures = {
      durationMs: options.durationMs,
      acknowledged: ledger.acknowledged,
      large: ledger.large,
      refused: Object.fromEntries(refused),
      connectionErrors: ledger.connectionErrors,
      unanswered: ledger.unanswered,
      summaries: recorder.accepted.length,
      summarized: messagesSummarized,
      filed: filed.length,
      leftInSpool,
      lost,
      duplicated,
      unknownKeys: unknown,
      garbage: Object.fromEntries(garbage),
      hups,
      exit,
      stopMs,
      rssKb: rss,
      ok
    }
    fs.writeFileSync(options.json, `${JSON.stringify(figures, null, 2)}\n`)
  }
  if (ok) fs.rmSync(failmail.dir, { recursive: true, force: true })
  else log(`failmail's directory kept for a look: ${failmail.dir}`)
  return ok ? 0 : 1
}

runMain("soak", run)
