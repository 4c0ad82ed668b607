/**
 * Relaying rules (SPEC §5, §6, §7) on the TestClock: retries with backoff for
 * transient failures, none for permanent ones, the fail-dir exactly once, and
 * nothing leaves the spool before it was relayed or filed. Storage is in
 * memory and every step completes before the next (see `idle`); the disk
 * side of the fail-dir is tested in `Maildir.test.ts` and end to end.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Ref } from "effect"
import type { RunningConfig } from "../src/services/runtime/AppConfig.ts"
import { Relay, RelayError } from "../src/services/delivery/Relay.ts"
import { filesIn } from "./support/memory.ts"
import {
  advanceTo,
  expectWakeUpAt,
  idle,
  keptAcrossReloads,
  memoryStorage,
  type MemoryStorage,
  pendingWakeUps,
  rawMessage,
  recordingRelay,
  startPipeline,
  testConfig
} from "./support/pipeline.ts"

const WAIT = 30_000
/** How long Dispatcher waits before trying an unwritable fail-dir again. */
const FAIL_DIR_RETRY = 30_000

const transient = new RelayError({ reason: "421 try again later", transient: true })
const permanent = new RelayError({ reason: "550 mailbox unavailable", transient: false })

/** A relay that dies (a defect, not a RelayError) on its first attempt, then is `relay`. */
const dyingOnce = (relay: Layer.Layer<Relay>): Layer.Layer<Relay> =>
  Layer.effect(
    Relay,
    Effect.map(Relay, (inner) => {
      let died = false
      return Relay.make({
        send: (envelope, raw) =>
          died ? inner.send(envelope, raw) : Effect.suspend(() => ((died = true), Effect.dieMessage("relay bug"))),
        prepare: inner.prepare
      })
    })
  ).pipe(Layer.provide(relay))

/** The configuration of these tests (its paths name in-memory maildirs only). */
const config = testConfig("/failmail-test")

/** A running pipeline with a recording relay; `prepare` runs on its storage before it starts. */
const setup = (
  overrides: Partial<RunningConfig> = {},
  prepare?: (storage: MemoryStorage, config: RunningConfig) => void,
  wrapRelay: (relay: Layer.Layer<Relay>) => Layer.Layer<Relay> = (relay) => relay
) =>
  Effect.gen(function* () {
    const config = testConfig("/failmail-test", overrides)
    const storage = memoryStorage()
    prepare?.(storage, config)
    const relay = yield* recordingRelay()
    const pipeline = yield* startPipeline(config, wrapRelay(relay.layer), { storage })
    return {
      ...pipeline,
      config,
      relay,
      /** Summaries in the fail-dir. */
      failed: () => failed(storage),
      /** How many messages the spool holds. */
      spooled: () => spooled(storage),
      /** A message for `to`, in batch `split`, stored and settled. */
      accept: (subject: string, options: { split?: string; to?: string } = {}) =>
        pipeline.intake
          .accept(rawMessage({ subject, headers: options.split === undefined ? {} : { "X-Failmail-Split": options.split } }), {
            mailFrom: "app@example.com",
            rcptTo: [options.to ?? "ops@example.com"]
          })
          .pipe(Effect.zipRight(idle))
    }
  })

/** The earliest instant after `now` at which a fiber wakes (a retry being scheduled). */
const nextWakeUpAfter = (now: number) =>
  Effect.gen(function* () {
    const later = (yield* pendingWakeUps).filter((instant) => instant > now)
    expect(later, `a timer after ${now}`).not.toEqual([])
    return Math.min(...later)
  })

/** How many messages `storage`'s spool holds. */
const spooled = (storage: MemoryStorage) => storage.spool.messages.size

/** The summaries in `storage`'s fail-dir. */
const failed = (storage: MemoryStorage) => filesIn(storage.maildirs, config.failDir)

/** Makes the fail-dir of `config` unwritable (in `storage`). */
const unwritableFailDir = (storage: MemoryStorage, config: RunningConfig) => void storage.maildirs.unwritable.add(config.failDir)

describe("Dispatcher retries", () => {
  it.scoped("retries transient failures with jittered exponential backoff, then delivers once", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("db down")
      expect(yield* pendingWakeUps).toContain(WAIT)
      yield* pipeline.relay.failNext(3, transient)
      yield* advanceTo(WAIT)

      let now = WAIT
      for (const [attempt, base] of [[1, 1_000], [2, 2_000], [3, 4_000]] as const) {
        expect(pipeline.relay.attempts).toHaveLength(attempt)
        const retryAt = yield* nextWakeUpAfter(now)
        // About `base` later: 1 s, doubling, ±20% jitter.
        expect(retryAt - now).toBeGreaterThanOrEqual(base * 0.8)
        expect(retryAt - now).toBeLessThanOrEqual(base * 1.2)
        yield* advanceTo(retryAt - 1)
        expect(pipeline.relay.attempts).toHaveLength(attempt)
        yield* advanceTo(retryAt)
        now = retryAt
      }

      expect(pipeline.relay.sent).toHaveLength(1)
      expect(pipeline.spooled()).toBe(0)
      expect(pipeline.relay.attempts.map((attempt) => attempt.error?.reason)).toEqual([
        transient.reason,
        transient.reason,
        transient.reason,
        undefined
      ])
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(pipeline.relay.sent[0]?.at).toBe(now)
      expect(pipeline.failed()).toEqual([])
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "delivered", attempts: 4, error: "" })
      expect(pipeline.history.totals).toMatchObject({ summariesDelivered: 1, summariesFailed: 0 })
      expect(yield* pendingWakeUps).toEqual([])
    })
  )

  it.scoped("does not retry a permanent failure: one summary in the fail-dir", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("disk full")
      expect(yield* pendingWakeUps).toContain(WAIT)
      yield* pipeline.relay.failNext(Infinity, permanent)
      yield* advanceTo(WAIT)
      expect(pipeline.failed()).toHaveLength(1)
      expect(pipeline.spooled()).toBe(0)

      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(yield* pendingWakeUps).toEqual([])
      // Filed as relayed would have been (file modes and the maildir layout: Maildir.test.ts).
      const [file] = pipeline.failed()
      expect(file?.raw.equals(pipeline.relay.attempts[0]?.raw ?? Buffer.alloc(0))).toBe(true)
      expect(file?.raw.toString("utf8")).toContain("Subject: [failmail] 1 instance: disk full")
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "failed", attempts: 1, failedPath: file?.path })

      // Much later: still one attempt, one file.
      yield* advanceTo(WAIT + Duration.toMillis(Duration.hours(1)))
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(pipeline.failed()).toHaveLength(1)
    })
  )

  it.scoped("gives up after relay-retry-for and files the summary exactly once", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({ relayRetryFor: Duration.seconds(10) })
      yield* pipeline.accept("flaky upstream")
      expect(yield* pendingWakeUps).toContain(WAIT)
      yield* pipeline.relay.failNext(Infinity, transient)
      yield* advanceTo(WAIT)

      // Retries about 1, 2, 4 s apart; the next step (about 8 s) would pass the 10 s window,
      // so the 5th and last attempt is made when the window ends, not a backoff step later.
      let now = WAIT
      for (let attempt = 1; attempt <= 4; attempt++) {
        expect(pipeline.relay.attempts).toHaveLength(attempt)
        expect(pipeline.failed()).toEqual([])
        now = yield* nextWakeUpAfter(now)
        yield* advanceTo(now)
      }
      expect(pipeline.failed()).toHaveLength(1)
      expect(pipeline.spooled()).toBe(0)
      const times = pipeline.relay.attempts.map((attempt) => attempt.at - WAIT)
      expect(times).toHaveLength(5)
      expect(times.slice(0, 4).every((elapsed) => elapsed < 10_000)).toBe(true)
      expect(Math.abs((times[4] ?? 0) - 10_000)).toBeLessThan(1)
      expect(yield* pendingWakeUps).toEqual([])

      yield* advanceTo(now + Duration.toMillis(Duration.hours(1)))
      expect(pipeline.relay.attempts).toHaveLength(5)
      expect(pipeline.failed()).toHaveLength(1)
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "failed", attempts: 5, error: transient.reason })
    })
  )

  it.scoped("does not retry at all with relay-retry-for 0", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({ relayRetryFor: Duration.zero })
      yield* pipeline.accept("no patience")
      expect(yield* pendingWakeUps).toContain(WAIT)
      yield* pipeline.relay.failNext(Infinity, transient)
      yield* advanceTo(WAIT)
      expect(pipeline.failed()).toHaveLength(1)
      expect(pipeline.spooled()).toBe(0)
      expect(yield* pendingWakeUps).toEqual([])
      yield* advanceTo(WAIT + 60_000)
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(pipeline.failed()).toHaveLength(1)
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
      expect(yield* pendingWakeUps).toContain(WAIT)

      // Follow every wake-up in order until the second batch is out.
      let stuckAttempts = 0
      let now = 10_000
      while (pipeline.relay.sent.length === 0) {
        const next = Math.min(...(yield* pendingWakeUps).filter((instant) => instant > now))
        if (!Number.isFinite(next)) return yield* Effect.dieMessage("no timer left, yet nothing was delivered")
        yield* advanceTo(next)
        now = next
        if (next === 40_000) {
          expect(pipeline.relay.sent).toHaveLength(1)
        } else {
          stuckAttempts++
          expect(pipeline.relay.attempts).toHaveLength(stuckAttempts)
          // Its next retry must be scheduled before the clock moves on.
          expect((yield* pendingWakeUps).some((instant) => instant > now && instant !== 40_000)).toBe(true)
        }
      }
      expect(stuckAttempts).toBeGreaterThanOrEqual(4) // at 30 s and about 31, 33, 37 s
      expect(pipeline.relay.sent[0]).toMatchObject({ at: 40_000, envelope: { to: ["ops@example.com"] } })
      expect(pipeline.relay.attempts.filter((attempt) => stuck(attempt.envelope)).every((a) => a.error !== undefined)).toBe(
        true
      )
      expect(pipeline.failed()).toEqual([])
      // Only the delivered batch left the spool.
      expect(pipeline.spooled()).toBe(1)
    })
  )

  it.scoped("on stop, ends retries with one last attempt, then files the summary", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("upstream down")
      expect(yield* pendingWakeUps).toContain(WAIT)
      yield* pipeline.relay.failNext(Infinity, transient)
      yield* advanceTo(WAIT)
      expect(pipeline.relay.attempts).toHaveLength(1)
      yield* nextWakeUpAfter(WAIT)
      yield* pipeline.close
      expect(pipeline.relay.attempts).toHaveLength(2)
      expect(pipeline.failed()).toHaveLength(1)
      expect(pipeline.spooled()).toBe(0)
    })
  )
})

describe("Dispatcher fail-dir", () => {
  it.scoped("keeps messages in the spool while the fail-dir cannot be written, even on stop", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({}, unwritableFailDir)
      const { relay } = pipeline
      yield* pipeline.accept("nowhere to go")
      expect(yield* pendingWakeUps).toContain(WAIT)
      yield* relay.failNext(Infinity, permanent)
      yield* advanceTo(WAIT)
      // Filing failed: it will try again later.
      expect(yield* pendingWakeUps).toContain(WAIT + FAIL_DIR_RETRY)
      expect(relay.attempts).toHaveLength(1)
      expect(pipeline.spooled()).toBe(1)
      expect(pipeline.failed()).toEqual([])

      yield* pipeline.close
      expect(pipeline.spooled()).toBe(1)
      expect(pipeline.failed()).toEqual([])
    })
  )

  it.scoped("files the summary once the fail-dir can be written again, then empties the spool", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({}, unwritableFailDir)
      const { config, relay, storage } = pipeline
      yield* pipeline.accept("nowhere to go yet")
      expect(yield* pendingWakeUps).toContain(WAIT)
      yield* relay.failNext(Infinity, permanent)
      yield* advanceTo(WAIT)
      expect(yield* pendingWakeUps).toContain(WAIT + FAIL_DIR_RETRY)
      expect(pipeline.spooled()).toBe(1)

      storage.maildirs.unwritable.delete(config.failDir)
      yield* advanceTo(WAIT + FAIL_DIR_RETRY)
      expect(pipeline.failed()).toHaveLength(1)
      expect(pipeline.spooled()).toBe(0)
      expect(relay.attempts).toHaveLength(1)
    })
  )
})

/** When closing gives up waiting for deliveries: --relay-timeout (30 s by default) and 5 s of slack. */
const CLOSE_BOUND = 35_000

const alert = (subject: string) => rawMessage({ subject })
const envelope = { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] }

describe("Dispatcher on stop and reload", () => {
  it.scoped("on stop, an attempt under way finishes alone, and its messages leave the spool", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("slow upstream")
      expect(yield* pendingWakeUps).toContain(WAIT)
      yield* pipeline.relay.pause
      yield* advanceTo(WAIT)
      expect(pipeline.relay.attempts).toHaveLength(1)
      const closing = yield* Effect.fork(pipeline.close)
      // The close is waiting for the delivery (its bound is armed) while the upstream still holds DATA.
      yield* expectWakeUpAt(WAIT + CLOSE_BOUND)
      yield* pipeline.relay.resume
      yield* Fiber.join(closing)
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(pipeline.spooled()).toBe(0)
      expect(pipeline.failed()).toEqual([])
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "delivered", attempts: 1 })
    })
  )

  it.scoped("on reload, an attempt under way finishes, and the new graph does not send it again", () =>
    Effect.gen(function* () {
      const shared = yield* keptAcrossReloads()
      const storage = shared.storage
      const relay = yield* recordingRelay()
      const old = yield* startPipeline(config, relay.layer, shared)
      yield* old.intake.accept(alert("slow upstream"), envelope)
      yield* expectWakeUpAt(WAIT)
      yield* relay.pause
      yield* advanceTo(WAIT)
      expect(relay.attempts).toHaveLength(1)

      yield* Ref.set(old.lifecycle.phase, "reloading")
      const closing = yield* Effect.fork(old.close)
      yield* expectWakeUpAt(WAIT + CLOSE_BOUND)
      yield* relay.resume
      yield* Fiber.join(closing)
      expect(spooled(storage)).toBe(0)

      yield* Ref.set(old.lifecycle.phase, "running")
      const next = yield* startPipeline(config, relay.layer, shared)
      expect(yield* next.batcher.counts).toEqual({ batches: 0, messages: 0, silenced: 0, lastAt: 0 })
      expect(relay.attempts).toHaveLength(1)
      expect(relay.sent).toHaveLength(1)
      expect(failed(storage)).toEqual([])
    })
  )

  it.scoped("on reload, a summary waiting to retry is left to the new graph, which sends it once", () =>
    Effect.gen(function* () {
      const shared = yield* keptAcrossReloads()
      const storage = shared.storage
      const relay = yield* recordingRelay()
      const old = yield* startPipeline(config, relay.layer, shared)
      yield* old.intake.accept(alert("upstream busy"), envelope)
      yield* expectWakeUpAt(WAIT)
      yield* relay.failNext(1, transient)
      yield* advanceTo(WAIT)
      expect(relay.attempts).toHaveLength(1)
      yield* nextWakeUpAfter(WAIT)

      yield* Ref.set(old.lifecycle.phase, "reloading")
      yield* old.close
      // No last attempt and no fail-dir on reload: the message waits in the spool.
      expect(relay.attempts).toHaveLength(1)
      expect(spooled(storage)).toBe(1)
      expect(failed(storage)).toEqual([])

      yield* Ref.set(old.lifecycle.phase, "running")
      yield* startPipeline(config, relay.layer, shared)
      // Overdue, so it went out at once under the new graph.
      expect(relay.sent).toHaveLength(1)
      expect(spooled(storage)).toBe(0)
      expect(relay.attempts).toHaveLength(2)
      expect(relay.sent).toHaveLength(1)
      expect(failed(storage)).toEqual([])
    })
  )
})

describe("Dispatcher defects", () => {
  it.scoped("a relay that dies once does not strand the batch: it is retried and relayed once", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({}, undefined, dyingOnce)
      yield* pipeline.accept("relay bug")
      expect(yield* pendingWakeUps).toContain(WAIT)
      yield* advanceTo(WAIT)
      // The death counts as a failed attempt: a retry about 1 s later.
      const retryAt = yield* nextWakeUpAfter(WAIT)
      expect(pipeline.relay.attempts).toEqual([])
      yield* advanceTo(retryAt)
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(pipeline.spooled()).toBe(0)
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(pipeline.failed()).toEqual([])
      expect(pipeline.history.recent()[0]).toMatchObject({ status: "delivered", attempts: 2, error: "" })
    })
  )
})
