/**
 * Relaying rules (SPEC §5, §6, §7) on the TestClock: retries with backoff for
 * transient failures, none for permanent ones, the fail-dir exactly once, and
 * nothing leaves the spool before it was relayed or filed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Ref } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  advanceTo,
  awaitWakeUpAt,
  eventually,
  pendingWakeUps,
  rawMessage,
  recordingRelay,
  type RecordingRelay,
  settle,
  startPipeline,
  testConfig
} from "./support/pipeline.ts"
import { processServices } from "../src/layers/Main.ts"
import type { RunningConfig } from "../src/services/AppConfig.ts"
import { Relay, RelayError } from "../src/services/Relay.ts"

const WAIT = 30_000
/** How long Dispatcher waits before trying an unwritable fail-dir again. */
const FAIL_DIR_RETRY = 30_000

const transient = new RelayError({ reason: "421 try again later", transient: true })
const permanent = new RelayError({ reason: "550 mailbox unavailable", transient: false })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "failmail-dispatcher-"))),
  (dir) =>
    Effect.sync(() => {
      // A test may have left a read-only directory behind.
      for (const sub of ["failed", "failed/new", "failed/tmp", "failed/cur"]) {
        try {
          fs.chmodSync(path.join(dir, sub), 0o700)
        } catch {
          // absent, or a file
        }
      }
      fs.rmSync(dir, { recursive: true, force: true })
    })
)

/** A relay that dies (a defect, not a RelayError) on its first attempt, then is `relay`. */
const dyingOnce = (relay: Layer.Layer<Relay>): Layer.Layer<Relay> =>
  Layer.effect(
    Relay,
    Effect.map(Relay, (inner) => {
      let died = false
      return Relay.make({
        send: (envelope, raw) =>
          died ? inner.send(envelope, raw) : Effect.suspend(() => ((died = true), Effect.dieMessage("relay bug")))
      })
    })
  ).pipe(Layer.provide(relay))

/** A running pipeline with a recording relay; `prepare` runs on the configuration before it starts. */
const setup = <A = void>(
  overrides: Partial<RunningConfig> = {},
  prepare?: (config: RunningConfig) => A,
  wrapRelay: (relay: Layer.Layer<Relay>) => Layer.Layer<Relay> = (relay) => relay
) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const config = testConfig(dir, overrides)
    const prepared = prepare === undefined ? (undefined as A) : prepare(config)
    const relay = yield* recordingRelay()
    const pipeline = yield* startPipeline(config, wrapRelay(relay.layer))
    return {
      ...pipeline,
      config,
      relay,
      prepared,
      /** A message for `to`, in batch `split`. */
      accept: (subject: string, options: { split?: string; to?: string } = {}) =>
        pipeline.intake.accept(
          rawMessage({ subject, headers: options.split === undefined ? {} : { "X-Failmail-Split": options.split } }),
          { mailFrom: "app@example.com", rcptTo: [options.to ?? "ops@example.com"] }
        )
    }
  })

const filesIn = (dir: string) => (fs.existsSync(dir) && fs.statSync(dir).isDirectory() ? fs.readdirSync(dir) : [])
const failed = (config: RunningConfig) => filesIn(path.join(config.failDir, "new"))
const spooled = (config: RunningConfig) => filesIn(path.join(config.messageStore, "msg")).filter((name) => name.endsWith(".eml"))

const awaitAttempts = (relay: RecordingRelay, n: number) =>
  eventually(`${n} relay attempts`, Effect.sync(() => relay.attempts.length >= n))
const awaitSent = (relay: RecordingRelay, n: number) =>
  eventually(`${n} summaries relayed`, Effect.sync(() => relay.sent.length >= n))
const awaitFailed = (config: RunningConfig, n: number) =>
  eventually(`${n} summaries in the fail-dir`, Effect.sync(() => failed(config).length >= n))
const awaitSpoolEmpty = (config: RunningConfig) =>
  eventually("an empty spool", Effect.sync(() => spooled(config).length === 0), { intervalMs: 5 })

/** Waits until a fiber sleeps until after `now` (a retry being scheduled), and returns the earliest such instant. */
const nextWakeUpAfter = (now: number) =>
  Effect.gen(function* () {
    yield* eventually(
      `a timer after ${now}`,
      Effect.map(pendingWakeUps, (wakeUps) => wakeUps.some((instant) => instant > now))
    )
    return Math.min(...(yield* pendingWakeUps).filter((instant) => instant > now))
  })

/**
 * Makes `dir` a fail-dir that cannot be written. A read-only directory does
 * not stop root, so when it does not stop us, a regular file takes its place.
 * Returns how to make it writable again.
 */
const unwritableFailDir = (dir: string): (() => void) => {
  fs.mkdirSync(dir, { mode: 0o700 })
  fs.chmodSync(dir, 0o500)
  try {
    fs.mkdirSync(path.join(dir, "probe"))
  } catch {
    return () => fs.chmodSync(dir, 0o700)
  }
  fs.chmodSync(dir, 0o700)
  fs.rmSync(dir, { recursive: true })
  fs.writeFileSync(dir, "a file where the fail-dir should be")
  return () => fs.rmSync(dir)
}

describe("Dispatcher retries", () => {
  it.scoped("retries transient failures with jittered exponential backoff, then delivers once", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("db down")
      yield* awaitWakeUpAt(WAIT)
      yield* pipeline.relay.failNext(3, transient)
      yield* advanceTo(WAIT)

      let now = WAIT
      for (const [attempt, base] of [[1, 1_000], [2, 2_000], [3, 4_000]] as const) {
        yield* awaitAttempts(pipeline.relay, attempt)
        const retryAt = yield* nextWakeUpAfter(now)
        // About `base` later: 1 s, doubling, ±20% jitter.
        expect(retryAt - now).toBeGreaterThanOrEqual(base * 0.8)
        expect(retryAt - now).toBeLessThanOrEqual(base * 1.2)
        yield* advanceTo(retryAt - 1)
        yield* settle()
        expect(pipeline.relay.attempts).toHaveLength(attempt)
        yield* advanceTo(retryAt)
        now = retryAt
      }

      yield* awaitSent(pipeline.relay, 1)
      yield* awaitSpoolEmpty(pipeline.config)
      yield* settle()
      expect(pipeline.relay.attempts.map((attempt) => attempt.error?.reason)).toEqual([
        transient.reason,
        transient.reason,
        transient.reason,
        undefined
      ])
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(pipeline.relay.sent[0]?.at).toBe(now)
      expect(failed(pipeline.config)).toEqual([])
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "delivered", attempts: 4, error: "" })
      expect(pipeline.history.totals).toMatchObject({ summariesDelivered: 1, summariesFailed: 0 })
      expect(yield* pendingWakeUps).toEqual([])
    })
  )

  it.scoped("does not retry a permanent failure: one file in the fail-dir, 0600 in 0700 dirs", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("disk full")
      yield* awaitWakeUpAt(WAIT)
      yield* pipeline.relay.failNext(Infinity, permanent)
      yield* advanceTo(WAIT)
      yield* awaitFailed(pipeline.config, 1)
      yield* awaitSpoolEmpty(pipeline.config)

      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(yield* pendingWakeUps).toEqual([])
      const [name] = failed(pipeline.config)
      const file = path.join(pipeline.config.failDir, "new", name ?? "")
      expect(fs.readFileSync(file).equals(pipeline.relay.attempts[0]?.raw ?? Buffer.alloc(0))).toBe(true)
      expect(fs.readFileSync(file, "utf8")).toContain("Subject: [failmail] 1 instance: disk full")
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      for (const sub of ["", "new", "tmp", "cur"]) {
        expect(fs.statSync(path.join(pipeline.config.failDir, sub)).mode & 0o777, `${sub}/`).toBe(0o700)
      }
      expect(filesIn(path.join(pipeline.config.failDir, "tmp"))).toEqual([])
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "failed", attempts: 1, failedPath: file })

      // Much later: still one attempt, one file.
      yield* advanceTo(WAIT + Duration.toMillis(Duration.hours(1)))
      yield* settle()
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(failed(pipeline.config)).toHaveLength(1)
    })
  )

  it.scoped("gives up after relay-retry-for and files the summary exactly once", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({ relayRetryFor: Duration.seconds(10) })
      yield* pipeline.accept("flaky upstream")
      yield* awaitWakeUpAt(WAIT)
      yield* pipeline.relay.failNext(Infinity, transient)
      yield* advanceTo(WAIT)

      // Retries about 1, 2, 4 s apart; the next step (about 8 s) would pass the 10 s window,
      // so the 5th and last attempt is made when the window ends, not a backoff step later.
      let now = WAIT
      for (let attempt = 1; attempt <= 4; attempt++) {
        yield* awaitAttempts(pipeline.relay, attempt)
        expect(failed(pipeline.config)).toEqual([])
        now = yield* nextWakeUpAfter(now)
        yield* advanceTo(now)
      }
      yield* awaitFailed(pipeline.config, 1)
      yield* awaitSpoolEmpty(pipeline.config)
      const times = pipeline.relay.attempts.map((attempt) => attempt.at - WAIT)
      expect(times).toHaveLength(5)
      expect(times.slice(0, 4).every((elapsed) => elapsed < 10_000)).toBe(true)
      expect(Math.abs((times[4] ?? 0) - 10_000)).toBeLessThan(1)
      expect(yield* pendingWakeUps).toEqual([])

      yield* advanceTo(now + Duration.toMillis(Duration.hours(1)))
      yield* settle()
      expect(pipeline.relay.attempts).toHaveLength(5)
      expect(failed(pipeline.config)).toHaveLength(1)
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "failed", attempts: 5, error: transient.reason })
    })
  )

  it.scoped("does not retry at all with relay-retry-for 0", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({ relayRetryFor: Duration.zero })
      yield* pipeline.accept("no patience")
      yield* awaitWakeUpAt(WAIT)
      yield* pipeline.relay.failNext(Infinity, transient)
      yield* advanceTo(WAIT)
      yield* awaitFailed(pipeline.config, 1)
      yield* awaitSpoolEmpty(pipeline.config)
      expect(yield* pendingWakeUps).toEqual([])
      yield* advanceTo(WAIT + 60_000)
      yield* settle()
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(failed(pipeline.config)).toHaveLength(1)
    })
  )

  it.scoped("delivers another batch on time while one is stuck retrying", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      const stuck = (envelope: { readonly to: ReadonlyArray<string> }) => envelope.to.includes("stuck@example.com")
      yield* pipeline.relay.failNext(Infinity, transient, stuck)
      yield* pipeline.accept("will not go", { split: "stuck", to: "stuck@example.com" })
      yield* advanceTo(10_000)
      yield* pipeline.accept("goes on time", { split: "fine", to: "ops@example.com" })
      yield* awaitWakeUpAt(WAIT)
      yield* awaitWakeUpAt(40_000)

      // Follow every wake-up in order until the second batch is out.
      let stuckAttempts = 0
      let now = 10_000
      while (pipeline.relay.sent.length === 0) {
        const next = Math.min(...(yield* pendingWakeUps).filter((instant) => instant > now))
        if (!Number.isFinite(next)) return yield* Effect.dieMessage("no timer left, yet nothing was delivered")
        yield* advanceTo(next)
        now = next
        if (next === 40_000) {
          yield* awaitSent(pipeline.relay, 1)
        } else {
          stuckAttempts++
          yield* awaitAttempts(pipeline.relay, stuckAttempts)
          // Its next retry must be scheduled before the clock moves on.
          yield* eventually(
            "the next retry of the stuck batch",
            Effect.map(pendingWakeUps, (wakeUps) => wakeUps.some((instant) => instant > now && instant !== 40_000))
          )
        }
      }
      expect(stuckAttempts).toBeGreaterThanOrEqual(4) // at 30 s and about 31, 33, 37 s
      expect(pipeline.relay.sent[0]).toMatchObject({ at: 40_000, envelope: { to: ["ops@example.com"] } })
      expect(pipeline.relay.attempts.filter((attempt) => stuck(attempt.envelope)).every((a) => a.error !== undefined)).toBe(
        true
      )
      expect(failed(pipeline.config)).toEqual([])
      // Only the delivered batch left the spool.
      yield* eventually("one message left in the spool", Effect.sync(() => spooled(pipeline.config).length === 1), {
        intervalMs: 5
      })
    })
  )

  it.scoped("on stop, ends retries with one last attempt, then files the summary", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("upstream down")
      yield* awaitWakeUpAt(WAIT)
      yield* pipeline.relay.failNext(Infinity, transient)
      yield* advanceTo(WAIT)
      yield* awaitAttempts(pipeline.relay, 1)
      yield* nextWakeUpAfter(WAIT)
      yield* pipeline.close
      expect(pipeline.relay.attempts).toHaveLength(2)
      expect(failed(pipeline.config)).toHaveLength(1)
      expect(spooled(pipeline.config)).toEqual([])
    })
  )
})

/** When closing gives up waiting for deliveries: --relay-timeout (30 s by default) and 5 s of slack. */
const CLOSE_BOUND = 35_000

const alert = (subject: string) =>
  rawMessage({ subject })
const envelope = { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] }

describe("Dispatcher on stop and reload", () => {
  it.scoped("on stop, an attempt under way finishes alone, and its messages leave the spool", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("slow upstream")
      yield* awaitWakeUpAt(WAIT)
      yield* pipeline.relay.pause
      yield* advanceTo(WAIT)
      yield* awaitAttempts(pipeline.relay, 1)
      const closing = yield* Effect.fork(pipeline.close)
      // The close is waiting for the delivery (its bound is armed) while the upstream still holds DATA.
      yield* awaitWakeUpAt(WAIT + CLOSE_BOUND)
      yield* pipeline.relay.resume
      yield* Fiber.join(closing)
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(spooled(pipeline.config)).toEqual([])
      expect(failed(pipeline.config)).toEqual([])
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "delivered", attempts: 1 })
    })
  )

  it.scoped("on reload, an attempt under way finishes, and the new graph does not send it again", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const config = testConfig(dir)
      const shared = Layer.succeedContext(yield* Layer.build(processServices))
      const relay = yield* recordingRelay()
      const old = yield* startPipeline(config, relay.layer, shared)
      yield* old.intake.accept(alert("slow upstream"), envelope)
      yield* awaitWakeUpAt(WAIT)
      yield* relay.pause
      yield* advanceTo(WAIT)
      yield* awaitAttempts(relay, 1)

      yield* Ref.set(old.lifecycle.phase, "reloading")
      const closing = yield* Effect.fork(old.close)
      yield* awaitWakeUpAt(WAIT + CLOSE_BOUND)
      yield* relay.resume
      yield* Fiber.join(closing)
      expect(spooled(config)).toEqual([])

      yield* Ref.set(old.lifecycle.phase, "running")
      const next = yield* startPipeline(config, relay.layer, shared)
      expect(yield* next.batcher.counts).toEqual({ batches: 0, messages: 0, lastAt: 0 })
      expect(relay.attempts).toHaveLength(1)
      expect(relay.sent).toHaveLength(1)
      expect(failed(config)).toEqual([])
    })
  )

  it.scoped("on reload, a summary waiting to retry is left to the new graph, which sends it once", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const config = testConfig(dir)
      const shared = Layer.succeedContext(yield* Layer.build(processServices))
      const relay = yield* recordingRelay()
      const old = yield* startPipeline(config, relay.layer, shared)
      yield* old.intake.accept(alert("upstream busy"), envelope)
      yield* awaitWakeUpAt(WAIT)
      yield* relay.failNext(1, transient)
      yield* advanceTo(WAIT)
      yield* awaitAttempts(relay, 1)
      yield* nextWakeUpAfter(WAIT)

      yield* Ref.set(old.lifecycle.phase, "reloading")
      yield* old.close
      // No last attempt and no fail-dir on reload: the message waits in the spool.
      expect(relay.attempts).toHaveLength(1)
      expect(spooled(config)).toHaveLength(1)
      expect(failed(config)).toEqual([])

      yield* Ref.set(old.lifecycle.phase, "running")
      yield* startPipeline(config, relay.layer, shared)
      // Overdue, so it goes out at once under the new graph.
      yield* awaitSent(relay, 1)
      yield* awaitSpoolEmpty(config)
      expect(relay.attempts).toHaveLength(2)
      expect(relay.sent).toHaveLength(1)
      expect(failed(config)).toEqual([])
    })
  )
})

describe("Dispatcher defects", () => {
  it.scoped("a relay that dies once does not strand the batch: it is retried and relayed once", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({}, undefined, dyingOnce)
      yield* pipeline.accept("relay bug")
      yield* awaitWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      // The death counts as a failed attempt: a retry about 1 s later.
      const retryAt = yield* nextWakeUpAfter(WAIT)
      expect(pipeline.relay.attempts).toEqual([])
      yield* advanceTo(retryAt)
      yield* awaitSent(pipeline.relay, 1)
      yield* awaitSpoolEmpty(pipeline.config)
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(failed(pipeline.config)).toEqual([])
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "delivered", attempts: 2, error: "" })
    })
  )
})

describe("Dispatcher fail-dir", () => {
  it.scoped("keeps messages in the spool while the fail-dir cannot be written, even on stop", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({}, (config) => unwritableFailDir(config.failDir))
      const { config, relay } = pipeline
      yield* pipeline.accept("nowhere to go")
      yield* awaitWakeUpAt(WAIT)
      yield* relay.failNext(Infinity, permanent)
      yield* advanceTo(WAIT)
      // Filing failed: it will try again later.
      yield* awaitWakeUpAt(WAIT + FAIL_DIR_RETRY)
      expect(relay.attempts).toHaveLength(1)
      expect(spooled(config)).toHaveLength(1)
      expect(failed(config)).toEqual([])

      yield* pipeline.close
      expect(spooled(config)).toHaveLength(1)
      expect(failed(config)).toEqual([])
    })
  )

  it.scoped("files the summary once the fail-dir can be written again, then empties the spool", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({}, (config) => unwritableFailDir(config.failDir))
      const { config, relay, prepared: repair } = pipeline
      yield* pipeline.accept("nowhere to go yet")
      yield* awaitWakeUpAt(WAIT)
      yield* relay.failNext(Infinity, permanent)
      yield* advanceTo(WAIT)
      yield* awaitWakeUpAt(WAIT + FAIL_DIR_RETRY)
      expect(spooled(config)).toHaveLength(1)

      repair()
      yield* advanceTo(WAIT + FAIL_DIR_RETRY)
      yield* awaitFailed(config, 1)
      yield* awaitSpoolEmpty(config)
      yield* settle()
      expect(failed(config)).toHaveLength(1)
      expect(relay.attempts).toHaveLength(1)
    })
  )
})
