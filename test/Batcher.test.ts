/**
 * The batching timing and durability rules (SPEC §3, §6), on the TestClock:
 * the pipeline without sockets, messages fed through Intake, summaries
 * caught by a recording relay.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Layer, Scope } from "effect"
import { simpleParser } from "mailparser"
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
  testPipeline,
  testConfig
} from "./support/pipeline.ts"
import { readHeaders } from "../src/domain/HeaderBlock.ts"
import type { RunningConfig } from "../src/services/AppConfig.ts"
import { Intake } from "../src/services/Intake.ts"

const WAIT = 30_000
const MAX_WAIT = 300_000

/** A temporary directory, removed after the test (after the pipeline, which is built later and so closed first). */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "failmail-batcher-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A running pipeline; `accept` sends a message to ops@example.com (or `to`), as after an SMTP DATA. */
const start = (config: RunningConfig, relay: RecordingRelay) =>
  Effect.map(startPipeline(config, relay.layer), (pipeline) => ({
    ...pipeline,
    relay,
    config,
    accept: (subject: string, options: { split?: string; to?: ReadonlyArray<string> } = {}) =>
      pipeline.intake.accept(
        rawMessage({ subject, headers: options.split === undefined ? {} : { "X-Failmail-Split": options.split } }),
        { mailFrom: "app@example.com", rcptTo: options.to ?? ["ops@example.com"] }
      )
  }))

const setup = (overrides: Partial<RunningConfig> = {}) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const relay = yield* recordingRelay()
    return yield* start(testConfig(dir, overrides), relay)
  })

/** Waits (real time) until the relay delivered `n` summaries. */
const awaitSent = (relay: RecordingRelay, n: number) =>
  eventually(`${n} summaries`, Effect.sync(() => relay.sent.length >= n))

/** Checks, after letting real time pass, that the relay saw exactly `n` attempts (nothing more went out). */
const expectSentCount = (relay: RecordingRelay, n: number) =>
  Effect.gen(function* () {
    yield* settle()
    expect(relay.attempts).toHaveLength(n)
  })

const spooled = (config: RunningConfig) => {
  const dir = path.join(config.messageStore, "msg")
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name.endsWith(".eml")) : []
}

const awaitSpoolEmpty = (config: RunningConfig) =>
  // Listing a big spool is costly: poll slowly, or the polling starves the removals.
  eventually("an empty spool", Effect.sync(() => spooled(config).length === 0), { intervalMs: 20 })

const summaryOf = (relay: RecordingRelay, index: number) => {
  const sent = relay.sent[index]
  if (sent === undefined) throw new Error(`no summary #${index}`)
  const headers = readHeaders(sent.raw)
  return {
    at: sent.at,
    to: sent.envelope.to,
    from: sent.envelope.from,
    subject: headers["subject"],
    batch: headers["x-failmail-batch"],
    messages: Number(headers["x-failmail-messages"]),
    groups: Number(headers["x-failmail-groups"])
  }
}

/**
 * A process that stores messages and then dies: its graph runs on a clock
 * with the TestClock's time whose timers never fire, and it is never
 * finalized, so nothing it stored is summarized by it.
 */
const crashingProcess = (config: RunningConfig) =>
  Effect.gen(function* () {
    const testClock = yield* Effect.clock
    const frozen: Clock.Clock = {
      [Clock.ClockTypeId]: Clock.ClockTypeId,
      unsafeCurrentTimeMillis: () => testClock.unsafeCurrentTimeMillis(),
      unsafeCurrentTimeNanos: () => testClock.unsafeCurrentTimeNanos(),
      currentTimeMillis: testClock.currentTimeMillis,
      currentTimeNanos: testClock.currentTimeNanos,
      sleep: () => Effect.never
    }
    const relay = yield* recordingRelay()
    const scope = yield* Scope.make() // never closed: a crash runs no finalizer
    const context = yield* Layer.buildWithScope(testPipeline(config, relay.layer), scope).pipe(Effect.withClock(frozen))
    const intake = Context.get(context, Intake)
    return {
      relay,
      accept: (subject: string, split?: string) =>
        intake
          .accept(rawMessage({ subject, headers: split === undefined ? {} : { "X-Failmail-Split": split } }), {
            mailFrom: "app@example.com",
            rcptTo: ["ops@example.com"]
          })
          .pipe(Effect.withClock(frozen))
    }
  })

/** Waits until the batch timer sleeps until some instant after `now` (after a wake-up that found a later deadline). */
const awaitTimerAfter = (now: number) =>
  eventually(`a timer after ${now}`, Effect.map(pendingWakeUps, (wakeUps) => wakeUps.some((instant) => instant > now)))

describe("Batcher timing", () => {
  it.scoped("sends a lone message exactly wait-period after it arrived", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("disk full")
      yield* awaitWakeUpAt(WAIT)

      yield* advanceTo(WAIT - 1)
      yield* expectSentCount(pipeline.relay, 0)
      expect(yield* pendingWakeUps).toEqual([WAIT])

      yield* advanceTo(WAIT)
      yield* awaitSent(pipeline.relay, 1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({
        at: WAIT,
        from: "failmail@test",
        to: ["ops@example.com"],
        subject: "[failmail] 1 instance: disk full",
        messages: 1,
        groups: 1
      })
      yield* expectSentCount(pipeline.relay, 1)
      expect(yield* pipeline.batcher.counts).toEqual({ batches: 0, messages: 0, lastAt: 0 })
    })
  )

  it.scoped("pushes the quiet deadline back with every message", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("timeout")
      yield* awaitWakeUpAt(WAIT)
      yield* advanceTo(20_000)
      yield* pipeline.accept("timeout")
      expect((yield* pipeline.batcher.snapshot)[0]).toMatchObject({ firstAt: 0, lastAt: 20_000, dueAt: 50_000 })

      // The timer wakes at the old deadline, sees the new one, and sleeps again.
      yield* advanceTo(WAIT)
      yield* awaitWakeUpAt(50_000)
      yield* expectSentCount(pipeline.relay, 0)

      yield* advanceTo(49_999)
      yield* expectSentCount(pipeline.relay, 0)
      yield* advanceTo(50_000)
      yield* awaitSent(pipeline.relay, 1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({
        at: 50_000,
        subject: "[failmail] 2 instances: timeout",
        messages: 2
      })
      yield* expectSentCount(pipeline.relay, 1)
    })
  )

  it.scoped("never holds a batch longer than max-wait after its first message", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      // A message every 20 s: the quiet deadline alone would never come.
      for (let now = 0; now < MAX_WAIT; now += 10_000) {
        yield* advanceTo(now)
        if (now % 20_000 === 0) yield* pipeline.accept("flapping")
        yield* awaitTimerAfter(now)
      }
      expect(yield* pendingWakeUps).toEqual([MAX_WAIT])
      yield* expectSentCount(pipeline.relay, 0)
      expect((yield* pipeline.batcher.snapshot)[0]).toMatchObject({ firstAt: 0, lastAt: 280_000, dueAt: MAX_WAIT })

      yield* advanceTo(MAX_WAIT - 1)
      yield* expectSentCount(pipeline.relay, 0)
      yield* advanceTo(MAX_WAIT)
      yield* awaitSent(pipeline.relay, 1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({ at: MAX_WAIT, messages: 15 })

      // The next message opens a new batch with its own clock.
      yield* pipeline.accept("flapping")
      yield* awaitWakeUpAt(MAX_WAIT + WAIT)
      yield* advanceTo(MAX_WAIT + WAIT)
      yield* awaitSent(pipeline.relay, 2)
      expect(summaryOf(pipeline.relay, 1)).toMatchObject({ at: MAX_WAIT + WAIT, messages: 1 })
    })
  )

  it.scoped("keeps batches with different keys (X-Failmail-Split) independent", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("a1", { split: "a" })
      yield* advanceTo(10_000)
      yield* pipeline.accept("b1", { split: "b" })
      yield* advanceTo(20_000)
      yield* pipeline.accept("no key") // default batch expression, no header: key ""
      yield* advanceTo(25_000)
      yield* pipeline.accept("a2", { split: "a" })
      yield* awaitWakeUpAt(40_000)
      yield* awaitWakeUpAt(50_000)
      expect(yield* pendingWakeUps).toEqual([30_000, 40_000, 50_000])

      yield* advanceTo(30_000) // a's first deadline, pushed to 55 s by a2
      yield* awaitWakeUpAt(55_000)
      yield* expectSentCount(pipeline.relay, 0)

      yield* advanceTo(40_000)
      yield* awaitSent(pipeline.relay, 1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({ at: 40_000, batch: "b", messages: 1 })

      yield* advanceTo(50_000)
      yield* awaitSent(pipeline.relay, 2)
      expect(summaryOf(pipeline.relay, 1)).toMatchObject({ at: 50_000, batch: "", messages: 1 })

      yield* advanceTo(55_000)
      yield* awaitSent(pipeline.relay, 3)
      expect(summaryOf(pipeline.relay, 2)).toMatchObject({
        at: 55_000,
        batch: "a",
        messages: 2,
        groups: 2,
        subject: "[failmail] 2 instances of 2 messages"
      })
      yield* expectSentCount(pipeline.relay, 3)
    })
  )

  it.scoped("splits a batch by recipients: nobody gets a message not addressed to them", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("for both", { to: ["ops@example.com", "Dev@Example.com"] })
      yield* pipeline.accept("for ops", { to: ["OPS@example.com"] })
      yield* awaitWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      yield* awaitSent(pipeline.relay, 2)
      yield* expectSentCount(pipeline.relay, 2)
      const byRecipients = new Map(
        [0, 1].map((index) => {
          const summary = summaryOf(pipeline.relay, index)
          return [summary.to.join(","), summary] as const
        })
      )
      expect(byRecipients.get("dev@example.com")).toMatchObject({ messages: 1, subject: "[failmail] 1 instance: for both" })
      expect(byRecipients.get("ops@example.com")).toMatchObject({ messages: 2 })
    })
  )

  it.scoped("puts a message arriving while its batch is being delivered into exactly one summary", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("first")
      yield* awaitWakeUpAt(WAIT)
      yield* pipeline.relay.pause
      yield* advanceTo(WAIT)
      // The batch is out of the pending set and its summary is at the relay.
      yield* eventually("the first relay attempt", Effect.sync(() => pipeline.relay.attempts.length === 1))
      yield* pipeline.accept("second")
      expect((yield* pipeline.batcher.snapshot).map((batch) => [batch.messageCount, batch.firstAt])).toEqual([[1, WAIT]])
      yield* pipeline.relay.resume
      yield* awaitSent(pipeline.relay, 1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({ at: WAIT, messages: 1, subject: "[failmail] 1 instance: first" })

      yield* awaitWakeUpAt(2 * WAIT)
      yield* advanceTo(2 * WAIT)
      yield* awaitSent(pipeline.relay, 2)
      expect(summaryOf(pipeline.relay, 1)).toMatchObject({
        at: 2 * WAIT,
        messages: 1,
        subject: "[failmail] 1 instance: second"
      })
      yield* expectSentCount(pipeline.relay, 2)
      yield* awaitSpoolEmpty(pipeline.config)
    })
  )

  it.scoped("summarizes every message exactly once when messages race the deadline", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      const subjects = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
      yield* pipeline.accept(subjects[0] ?? "")
      yield* awaitWakeUpAt(WAIT)
      // Messages are being stored at the very moment the batch becomes due; each
      // lands in the due batch, or in a new one (at once if it was stored before
      // the deadline, since its arrival time is when it was stored).
      yield* Effect.all(
        [advanceTo(WAIT), Effect.forEach(subjects.slice(1), (subject) => pipeline.accept(subject), { concurrency: "unbounded" })],
        { concurrency: "unbounded", discard: true }
      )
      const summarized = () =>
        pipeline.relay.sent.reduce((sum, sent) => sum + Number(readHeaders(sent.raw)["x-failmail-messages"]), 0)
      yield* eventually(
        "every message summarized or pending",
        Effect.map(pipeline.batcher.counts, (counts) => summarized() + counts.messages === subjects.length)
      )
      // A batch still pending has its timer asleep (or is overdue and on its way out) before the clock moves.
      yield* eventually(
        "the pending batch's timer",
        Effect.map(Effect.all([pipeline.batcher.counts, pendingWakeUps]), ([counts, wakeUps]) =>
          counts.batches === 0 || wakeUps.some((instant) => instant > WAIT)
        )
      )
      for (const wakeUp of yield* pendingWakeUps) yield* advanceTo(wakeUp)
      yield* eventually("every message summarized", Effect.sync(() => summarized() === subjects.length))
      yield* settle()
      expect(summarized()).toBe(subjects.length)
      const texts = yield* Effect.forEach(pipeline.relay.sent, (sent) =>
        Effect.promise(() => simpleParser(sent.raw)).pipe(Effect.map((parsed) => parsed.text ?? ""))
      )
      for (const subject of subjects) {
        expect(texts.filter((text) => text.includes(subject)), subject).toHaveLength(1)
      }
      yield* awaitSpoolEmpty(pipeline.config)
    })
  )

  it.scoped("sends 10,000 messages of one batch as one summary with the right count", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      // 9,999 go straight to the batcher (no parsing, no spool file: the summary
      // must not need them); the last one, whose body the summary shows, is stored.
      for (let n = 0; n < 9_999; n++) {
        yield* pipeline.batcher.add({
          id: `synthetic-${n}`,
          receivedAt: 0,
          envelope: { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] },
          batchKey: "",
          groupKey: "connection refused",
          subject: "connection refused",
          sender: `app${n % 3}@example.com`,
          size: 100
        })
      }
      yield* pipeline.intake.accept(
        rawMessage({ subject: "connection refused", body: "the body of the latest one" }),
        { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] }
      )
      expect(yield* pipeline.batcher.counts).toMatchObject({ batches: 1, messages: 10_000 })
      yield* awaitWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      yield* awaitSent(pipeline.relay, 1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({
        at: WAIT,
        messages: 10_000,
        groups: 1,
        subject: "[failmail] 10000 instances: connection refused"
      })
      const parsed = yield* Effect.promise(() => simpleParser(pipeline.relay.sent[0]?.raw ?? ""))
      expect(parsed.text).toContain("the body of the latest one")
      expect(pipeline.relay.sent[0]?.raw.byteLength).toBeLessThan(200_000)
      yield* awaitSpoolEmpty(pipeline.config)
      yield* expectSentCount(pipeline.relay, 1)
      expect(yield* pipeline.batcher.counts).toEqual({ batches: 0, messages: 0, lastAt: 0 })
    })
  )
})

describe("Batcher durability", () => {
  it.scoped("removes spool files once their summary is relayed", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("one", { split: "x" })
      yield* pipeline.accept("two", { split: "y" })
      expect(spooled(pipeline.config)).toHaveLength(2)
      yield* awaitWakeUpAt(WAIT)
      yield* pipeline.relay.pause
      yield* advanceTo(WAIT)
      yield* eventually("two relay attempts", Effect.sync(() => pipeline.relay.attempts.length === 2))
      // Not relayed yet: still on disk.
      expect(spooled(pipeline.config)).toHaveLength(2)
      yield* pipeline.relay.resume
      yield* awaitSent(pipeline.relay, 2)
      yield* awaitSpoolEmpty(pipeline.config)
    })
  )

  it.scoped("after a crash, recovers messages with their arrival times and sends overdue batches at once", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const config = testConfig(dir)
      // The first process stores messages, then dies before any batch is due.
      const crashed = yield* crashingProcess(config)
      yield* crashed.accept("x1", "x")
      yield* advanceTo(5_000)
      yield* crashed.accept("y1", "y")
      yield* advanceTo(10_000)
      yield* crashed.accept("x2", "x")
      expect(spooled(config)).toHaveLength(3)

      // Restart long after both batches were due.
      yield* advanceTo(100_000)
      const restarted = yield* start(config, yield* recordingRelay())
      yield* awaitSent(restarted.relay, 2)
      const summaries = [0, 1].map((index) => summaryOf(restarted.relay, index))
      expect(summaries.map((summary) => [summary.batch, summary.messages, summary.at]).sort()).toEqual([
        ["x", 2, 100_000],
        ["y", 1, 100_000]
      ])
      yield* awaitSpoolEmpty(config)
      yield* expectSentCount(restarted.relay, 2)
      expect(crashed.relay.attempts).toHaveLength(0)
    })
  )

  it.scoped("after a crash, a batch not yet due keeps its original deadline", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const config = testConfig(dir)
      const crashed = yield* crashingProcess(config)
      yield* crashed.accept("early")
      yield* advanceTo(10_000)
      yield* crashed.accept("late")
      yield* advanceTo(20_000)
      const restarted = yield* start(config, yield* recordingRelay())
      // Due 30 s after the last arrival (10 s), not 30 s after the restart.
      expect(yield* restarted.batcher.snapshot).toMatchObject([
        { key: "", messageCount: 2, firstAt: 0, lastAt: 10_000, dueAt: 40_000 }
      ])
      yield* awaitWakeUpAt(40_000)
      yield* advanceTo(39_999)
      yield* expectSentCount(restarted.relay, 0)
      yield* advanceTo(40_000)
      yield* awaitSent(restarted.relay, 1)
      expect(summaryOf(restarted.relay, 0)).toMatchObject({
        at: 40_000,
        messages: 2,
        subject: "[failmail] 2 instances of 2 messages"
      })
      yield* awaitSpoolEmpty(config)
      expect(crashed.relay.attempts).toHaveLength(0)
    })
  )

  it.scoped("recomputes the keys of recovered messages when the batch expression changed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const config = testConfig(dir)
      const crashed = yield* crashingProcess(config)
      yield* crashed.accept("[db] down")
      yield* crashed.accept("[web] down")
      const restarted = yield* start({ ...config, batchExpr: `{{match "\\[\\w+\\]" (.Header.Get "Subject")}}` }, yield* recordingRelay())
      expect((yield* restarted.batcher.snapshot).map((batch) => batch.key).sort()).toEqual(["[db]", "[web]"])
    })
  )

  it.scoped("delivers every pending batch when the pipeline stops", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("a", { split: "a" })
      yield* advanceTo(10_000)
      yield* pipeline.accept("b", { split: "b" })
      yield* pipeline.close
      expect(pipeline.relay.sent.map((sent) => [readHeaders(sent.raw)["x-failmail-batch"], sent.at]).sort()).toEqual([
        ["a", 10_000],
        ["b", 10_000]
      ])
      expect(spooled(pipeline.config)).toEqual([])
    })
  )
})
