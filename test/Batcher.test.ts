/**
 * The batching timing and durability rules (SPEC §3, §6), on the TestClock:
 * the pipeline without sockets, storing in memory, messages fed through
 * MessageIntake, summaries caught by a recording relay. Every step completes before
 * the next (see `idle`), so each assertion holds exactly at its instant.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Layer, Scope } from "effect"
import { simpleParser } from "mailparser"
import { readHeaders } from "../src/domain/message/HeaderBlock.ts"
import type { RunningConfig } from "../src/services/runtime/AppConfig.ts"
import { MessageIntake } from "../src/services/smtp/MessageIntake.ts"
import { testIntake } from "./support/effects.ts"
import {
  advanceTo,
  expectWakeUpAt,
  idle,
  memoryStorage,
  type MemoryStorage,
  pendingWakeUps,
  rawMessage,
  recordingRelay,
  type RecordingRelay,
  startPipeline,
  testConfig,
  testPipeline
} from "./support/pipeline.ts"

const WAIT = 30_000
const MAX_WAIT = 300_000

/** The configuration of these tests (its paths name in-memory maildirs only). */
const config = testConfig("/failmail-test")

/** A running pipeline; `accept` sends a message to ops@example.com (or `to`), as after an SMTP DATA, and lets it settle. */
const start = (config: RunningConfig, relay: RecordingRelay, storage?: MemoryStorage) =>
  Effect.map(startPipeline(config, relay.layer, storage === undefined ? {} : { storage }), (pipeline) => ({
    ...pipeline,
    relay,
    config,
    accept: (subject: string, options: { split?: string; to?: ReadonlyArray<string> } = {}) =>
      pipeline.intake
        .accept(rawMessage({ subject, headers: options.split === undefined ? {} : { "X-Failmail-Split": options.split } }), {
          mailFrom: "app@example.com",
          rcptTo: options.to ?? ["ops@example.com"]
        })
        .pipe(Effect.zipRight(idle))
  }))

const setup = (overrides: Partial<RunningConfig> = {}) =>
  Effect.flatMap(recordingRelay(), (relay) => start(testConfig("/failmail-test", overrides), relay))

/** How many messages the spool holds. */
const spooled = (storage: MemoryStorage) => storage.spool.messages.size

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
const crashingProcess = (storage: MemoryStorage) =>
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
    const context = yield* Layer.buildWithScope(testPipeline(config, relay.layer, storage.layer), scope).pipe(
      Effect.withClock(frozen)
    )
    const intake = testIntake(Context.get(context, MessageIntake))
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

describe("Batcher timing", () => {
  it.scoped("sends a lone message exactly wait-period after it arrived", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("disk full")
      yield* expectWakeUpAt(WAIT)

      yield* advanceTo(WAIT - 1)
      expect(pipeline.relay.attempts).toHaveLength(0)
      expect(yield* pendingWakeUps).toEqual([WAIT])

      yield* advanceTo(WAIT)
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({
        at: WAIT,
        from: "failmail@test",
        to: ["ops@example.com"],
        subject: "[failmail] 1 instance: disk full",
        messages: 1,
        groups: 1
      })
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(yield* pipeline.batcher.counts).toEqual({ batches: 0, messages: 0, silenced: 0, lastAt: 0 })
    })
  )

  it.scoped("readies the relay when the first batch opens, long before it is due, and only once", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* idle
      expect(pipeline.relay.preparations()).toBe(0)
      yield* pipeline.accept("disk full")
      expect(pipeline.relay.preparations()).toBe(1)
      expect(pipeline.relay.attempts).toHaveLength(0)
      yield* pipeline.accept("cpu hot", { split: "other" })
      yield* advanceTo(WAIT)
      expect(pipeline.relay.sent).toHaveLength(2)
      expect(pipeline.relay.preparations()).toBe(1)
    })
  )

  it.scoped("pushes the quiet deadline back with every message", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("timeout")
      yield* expectWakeUpAt(WAIT)
      yield* advanceTo(20_000)
      yield* pipeline.accept("timeout")
      expect((yield* pipeline.batcher.snapshot)[0]).toMatchObject({ firstAt: 0, lastAt: 20_000, dueAt: 50_000 })

      // The timer wakes at the old deadline, sees the new one, and sleeps again.
      yield* advanceTo(WAIT)
      yield* expectWakeUpAt(50_000)
      expect(pipeline.relay.attempts).toHaveLength(0)

      yield* advanceTo(49_999)
      expect(pipeline.relay.attempts).toHaveLength(0)
      yield* advanceTo(50_000)
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({
        at: 50_000,
        subject: "[failmail] 2 instances: timeout",
        messages: 2
      })
      expect(pipeline.relay.attempts).toHaveLength(1)
    })
  )

  it.scoped("never holds a batch longer than max-wait after its first message", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      // A message every 20 s: the quiet deadline alone would never come.
      for (let now = 0; now < MAX_WAIT; now += 10_000) {
        yield* advanceTo(now)
        if (now % 20_000 === 0) yield* pipeline.accept("flapping")
        // Its timer sleeps until some instant after now (after a wake-up that found a later deadline).
        expect((yield* pendingWakeUps).some((instant) => instant > now)).toBe(true)
      }
      expect(yield* pendingWakeUps).toEqual([MAX_WAIT])
      expect(pipeline.relay.attempts).toHaveLength(0)
      expect((yield* pipeline.batcher.snapshot)[0]).toMatchObject({ firstAt: 0, lastAt: 280_000, dueAt: MAX_WAIT })

      yield* advanceTo(MAX_WAIT - 1)
      expect(pipeline.relay.attempts).toHaveLength(0)
      yield* advanceTo(MAX_WAIT)
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({ at: MAX_WAIT, messages: 15 })

      // The next message opens a new batch with its own clock.
      yield* pipeline.accept("flapping")
      yield* expectWakeUpAt(MAX_WAIT + WAIT)
      yield* advanceTo(MAX_WAIT + WAIT)
      expect(pipeline.relay.sent).toHaveLength(2)
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
      // One timer for every batch: it sleeps until the earliest deadline.
      yield* expectWakeUpAt(30_000)
      expect(yield* pendingWakeUps).toEqual([30_000])

      yield* advanceTo(30_000) // a's first deadline, pushed to 55 s by a2
      yield* expectWakeUpAt(40_000)
      expect(pipeline.relay.attempts).toHaveLength(0)

      yield* advanceTo(40_000)
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({ at: 40_000, batch: "b", messages: 1 })

      yield* advanceTo(50_000)
      expect(pipeline.relay.sent).toHaveLength(2)
      expect(summaryOf(pipeline.relay, 1)).toMatchObject({ at: 50_000, batch: "", messages: 1 })

      yield* advanceTo(55_000)
      expect(pipeline.relay.sent).toHaveLength(3)
      expect(summaryOf(pipeline.relay, 2)).toMatchObject({
        at: 55_000,
        batch: "a",
        messages: 2,
        groups: 2,
        subject: "[failmail] 2 instances of 2 messages"
      })
      expect(pipeline.relay.attempts).toHaveLength(3)
    })
  )

  it.scoped("splits a batch by recipients: nobody gets a message not addressed to them", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("for both", { to: ["ops@example.com", "Dev@Example.com"] })
      yield* pipeline.accept("for ops", { to: ["OPS@example.com"] })
      yield* expectWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      expect(pipeline.relay.sent).toHaveLength(2)
      expect(pipeline.relay.attempts).toHaveLength(2)
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
      yield* expectWakeUpAt(WAIT)
      yield* pipeline.relay.pause
      yield* advanceTo(WAIT)
      // The batch is out of the pending set and its summary is at the relay.
      expect(pipeline.relay.attempts).toHaveLength(1)
      yield* pipeline.accept("second")
      expect((yield* pipeline.batcher.snapshot).map((batch) => [batch.messageCount, batch.firstAt])).toEqual([[1, WAIT]])
      yield* pipeline.relay.resume
      yield* idle
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({ at: WAIT, messages: 1, subject: "[failmail] 1 instance: first" })

      yield* expectWakeUpAt(2 * WAIT)
      yield* advanceTo(2 * WAIT)
      expect(pipeline.relay.sent).toHaveLength(2)
      expect(summaryOf(pipeline.relay, 1)).toMatchObject({
        at: 2 * WAIT,
        messages: 1,
        subject: "[failmail] 1 instance: second"
      })
      expect(pipeline.relay.attempts).toHaveLength(2)
      expect(spooled(pipeline.storage)).toBe(0)
    })
  )

  it.scoped("summarizes every message exactly once when messages race the deadline", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      const subjects = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
      yield* pipeline.accept(subjects[0] ?? "")
      yield* expectWakeUpAt(WAIT)
      // Messages are being stored at the very moment the batch becomes due; each
      // lands in the due batch, or in a new one (at once if it was stored before
      // the deadline, since its arrival time is when it was stored).
      yield* Effect.all(
        [advanceTo(WAIT), Effect.forEach(subjects.slice(1), (subject) => pipeline.accept(subject), { concurrency: "unbounded" })],
        { concurrency: "unbounded", discard: true }
      )
      const summarized = () =>
        pipeline.relay.sent.reduce((sum, sent) => sum + Number(readHeaders(sent.raw)["x-failmail-messages"]), 0)
      yield* idle
      // Every message is summarized or pending...
      const counts = yield* pipeline.batcher.counts
      expect(summarized() + counts.messages).toBe(subjects.length)
      // ...and a batch still pending has its timer asleep.
      expect(counts.batches === 0 || (yield* pendingWakeUps).some((instant) => instant > WAIT)).toBe(true)
      for (const wakeUp of yield* pendingWakeUps) yield* advanceTo(wakeUp)
      expect(summarized()).toBe(subjects.length)
      const texts = yield* Effect.forEach(pipeline.relay.sent, (sent) =>
        Effect.promise(() => simpleParser(sent.raw)).pipe(Effect.map((parsed) => parsed.text ?? ""))
      )
      for (const subject of subjects) {
        expect(texts.filter((text) => text.includes(subject)), subject).toHaveLength(1)
      }
      expect(spooled(pipeline.storage)).toBe(0)
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
      yield* expectWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      expect(pipeline.relay.sent).toHaveLength(1)
      expect(summaryOf(pipeline.relay, 0)).toMatchObject({
        at: WAIT,
        messages: 10_000,
        groups: 1,
        subject: "[failmail] 10000 instances: connection refused"
      })
      const parsed = yield* Effect.promise(() => simpleParser(pipeline.relay.sent[0]?.raw ?? ""))
      expect(parsed.text).toContain("the body of the latest one")
      expect(pipeline.relay.sent[0]?.raw.byteLength).toBeLessThan(200_000)
      expect(spooled(pipeline.storage)).toBe(0)
      expect(pipeline.relay.attempts).toHaveLength(1)
      expect(yield* pipeline.batcher.counts).toEqual({ batches: 0, messages: 0, silenced: 0, lastAt: 0 })
    })
  )
})

describe("Batcher durability", () => {
  it.scoped("removes spool files once their summary is relayed", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup()
      yield* pipeline.accept("one", { split: "x" })
      yield* pipeline.accept("two", { split: "y" })
      expect(spooled(pipeline.storage)).toBe(2)
      yield* expectWakeUpAt(WAIT)
      yield* pipeline.relay.pause
      yield* advanceTo(WAIT)
      expect(pipeline.relay.attempts).toHaveLength(2)
      // Not relayed yet: still stored.
      expect(spooled(pipeline.storage)).toBe(2)
      yield* pipeline.relay.resume
      yield* idle
      expect(pipeline.relay.sent).toHaveLength(2)
      expect(spooled(pipeline.storage)).toBe(0)
    })
  )

  it.scoped("after a crash, recovers messages with their arrival times and sends overdue batches at once", () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      // The first process stores messages, then dies before any batch is due.
      const crashed = yield* crashingProcess(storage)
      yield* crashed.accept("x1", "x")
      yield* advanceTo(5_000)
      yield* crashed.accept("y1", "y")
      yield* advanceTo(10_000)
      yield* crashed.accept("x2", "x")
      expect(spooled(storage)).toBe(3)

      // Restart long after both batches were due.
      yield* advanceTo(100_000)
      const restarted = yield* start(config, yield* recordingRelay(), storage)
      expect(restarted.relay.sent).toHaveLength(2)
      const summaries = [0, 1].map((index) => summaryOf(restarted.relay, index))
      expect(summaries.map((summary) => [summary.batch, summary.messages, summary.at]).sort()).toEqual([
        ["x", 2, 100_000],
        ["y", 1, 100_000]
      ])
      expect(spooled(storage)).toBe(0)
      expect(restarted.relay.attempts).toHaveLength(2)
      expect(crashed.relay.attempts).toHaveLength(0)
    })
  )

  it.scoped("after a crash, a batch not yet due keeps its original deadline", () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      const crashed = yield* crashingProcess(storage)
      yield* crashed.accept("early")
      yield* advanceTo(10_000)
      yield* crashed.accept("late")
      yield* advanceTo(20_000)
      const restarted = yield* start(config, yield* recordingRelay(), storage)
      // Due 30 s after the last arrival (10 s), not 30 s after the restart.
      expect(yield* restarted.batcher.snapshot).toMatchObject([
        { key: "", messageCount: 2, firstAt: 0, lastAt: 10_000, dueAt: 40_000 }
      ])
      yield* expectWakeUpAt(40_000)
      yield* advanceTo(39_999)
      expect(restarted.relay.attempts).toHaveLength(0)
      yield* advanceTo(40_000)
      expect(restarted.relay.sent).toHaveLength(1)
      expect(summaryOf(restarted.relay, 0)).toMatchObject({
        at: 40_000,
        messages: 2,
        subject: "[failmail] 2 instances of 2 messages"
      })
      expect(spooled(storage)).toBe(0)
      expect(crashed.relay.attempts).toHaveLength(0)
    })
  )

  it.scoped("recomputes the keys of recovered messages when the batch expression changed", () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      const crashed = yield* crashingProcess(storage)
      yield* crashed.accept("[db] down")
      yield* crashed.accept("[web] down")
      const restarted = yield* start(
        { ...config, batchExpr: `{{match "\\[\\w+\\]" (.Header.Get "Subject")}}` },
        yield* recordingRelay(),
        storage
      )
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
      expect(spooled(pipeline.storage)).toBe(0)
    })
  )
})
