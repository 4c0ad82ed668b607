/**
 * The relay budget (`--relay-rate`) on the TestClock: the pipeline without
 * sockets, relaying into memory. Summaries beyond the budget are held, then
 * merged per recipients into storm digests; the budget's state survives a
 * restart; expected-mail notices wait for a send from the same budget.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Layer } from "effect"
import { readHeaders } from "../src/domain/message/HeaderBlock.ts"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"
import { relayed as summaries, textOf } from "./support/digests.ts"
import {
  advanceTo,
  type MemoryStorage,
  memoryStorage,
  pendingWakeUps,
  rawMessage,
  recordingRelay,
  type RecordingRelay,
  startPipeline,
  testConfig,
  startAlerting
} from "./support/pipeline.ts"
import type { RunningConfig } from "../src/services/runtime/AppConfig.ts"
import { Relay } from "../src/services/delivery/Relay.ts"

/**
 * An upstream that answers slowly and unevenly: each send takes the next of
 * `latencies` (ms, on the `Clock`, in turn); records when each was accepted.
 */
const unevenUpstream = (latencies: ReadonlyArray<number>) => {
  const accepted: Array<number> = []
  let sends = 0
  const layer = Layer.succeed(
    Relay,
    Relay.make({
      send: () =>
        Effect.gen(function* () {
          yield* Effect.sleep(Duration.millis(latencies[sends++ % latencies.length] as number))
          accepted.push(yield* Clock.currentTimeMillis)
        }),
      prepare: Effect.void
    })
  )
  return { layer, accepted }
}

/** A pipeline with storms off (`--storm-threshold 0`): the budget alone (storms are in storm.test.ts). */
const start = (config: RunningConfig, relay: RecordingRelay, storage: MemoryStorage = memoryStorage()) =>
  Effect.map(startAlerting({ ...config, stormThreshold: 0 }, relay, storage), (pipeline) => ({
    ...pipeline,
    accept: (key: string) => pipeline.accept(`alert ${key}`, key)
  }))

/** The largest number of summaries relayed within any window of `periodMs`. */
const busiestWindow = (times: ReadonlyArray<number>, periodMs: number) =>
  Math.max(0, ...times.map((start) => times.filter((at) => at >= start && at < start + periodMs).length))

describe("Outbox: the relay budget", () => {
  // The same rule over 1,000 batch keys is in Outgoing.test.ts (pure); here the whole pipeline, bounded.
  it.scoped("a flood over 200 batch keys at 5/s: no second holds more than 5 summaries, every message is summarized", () =>
    Effect.gen(function* () {
      const config = testConfig("/failmail-test", { relayRate: RelayBudget.rateOf(5, 1_000) })
      const pipeline = yield* start(config, yield* recordingRelay())
      const total = 200
      // 200 alerts with distinct batch keys over 10 s: 20 a second.
      for (let second = 0; second < 10; second++) {
        yield* advanceTo(second * 1_000)
        yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => `key-${second * 20 + i}`), pipeline.accept, {
          concurrency: "unbounded",
          discard: true
        })
      }
      // From 30 s on, 20 batches come due every second; follow every timer (batch deadlines, the budget's next send).
      while (true) {
        const next = (yield* pendingWakeUps)[0]
        if (next === undefined || next > 45_000) break
        yield* advanceTo(next)
      }

      const sent = summaries(pipeline.relay)
      expect(busiestWindow(sent.map((summary) => summary.at), 1_000)).toBeLessThanOrEqual(5)
      expect(sent.reduce((sum, summary) => sum + summary.messages, 0)).toBe(total)
      expect(sent.reduce((sum, summary) => sum + summary.batches, 0)).toBe(total)
      expect(sent.length).toBeLessThanOrEqual(60)
      // Every message within max-wait (here: its wait-period) plus one budget period.
      expect(Math.max(...sent.map((summary) => summary.at))).toBeLessThanOrEqual(9_000 + 30_000 + 1_000)
      expect(yield* pipeline.outbox.snapshot).toEqual([])
    })
  )

  it.scoped("an upstream that answers slowly and unevenly never receives more than N summaries in any window: a send holds its slot until it is done", () =>
    Effect.gen(function* () {
      const upstream = unevenUpstream([900, 50, 1_700, 300, 10, 1_200, 600])
      const config = { ...testConfig("/failmail-test", { relayRate: RelayBudget.rateOf(5, 1_000) }), stormThreshold: 0 }
      const pipeline = yield* startPipeline(config, upstream.layer)
      yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => `key-${i}`), (key) =>
        pipeline.intake.accept(rawMessage({ subject: `alert ${key}`, headers: { "X-Failmail-Split": key } }), {
          mailFrom: "app@example.com",
          rcptTo: [`team-${key}@example.com`]
        })
      )
      // From 30 s on, 60 summaries (one per recipient set: none merge) go as the budget allows.
      yield* advanceTo(30_000)
      while (true) {
        const next = (yield* pendingWakeUps)[0]
        if (next === undefined || next > 120_000) break
        yield* advanceTo(next)
      }
      expect(upstream.accepted).toHaveLength(60)
      expect(busiestWindow(upstream.accepted, 1_000)).toBeLessThanOrEqual(5)
    })
  )

  it.scoped("a storm digest lists the batches it merges, by key with their counts", () =>
    Effect.gen(function* () {
      const pipeline = yield* start(testConfig("/failmail-test", { relayRate: RelayBudget.rateOf(1, 60_000) }), yield* recordingRelay())
      yield* pipeline.accept("first")
      yield* advanceTo(30_000)
      yield* Effect.forEach(["db", "db", "web"], pipeline.accept, { discard: true })
      yield* advanceTo(60_000)
      const held = yield* pipeline.outbox.snapshot
      const byKey = (item: (typeof held)[number]) => item.batches[0]?.key ?? ""
      expect(
        [...held].sort((a, b) => byKey(a).localeCompare(byKey(b))).map((item) => [item.reason, item.batches, item.nextSendAt])
      ).toEqual([
        ["budget", [{ key: "db", count: 2 }], 90_000],
        ["budget", [{ key: "web", count: 1 }], 90_000]
      ])
      yield* advanceTo(90_000)
      const storm = summaries(pipeline.relay)[1]
      expect(storm?.at).toBe(90_000)
      expect(storm?.headers["x-failmail-storm"]).toBe("2")
      expect(storm?.headers["subject"]).toBe("[failmail] 3 instances of 2 messages")
      const text = yield* textOf(storm!.raw)
      expect(text).toContain("Storm: this digest merges 2 batches for these recipients that came due together, busiest first:")
      expect(text).toContain("- db: 2 instances")
      expect(text).toContain("- web: 1 instance")
    })
  )

  it.scoped("the budget's sends survive a restart: a new process does not send again within the period", () =>
    Effect.gen(function* () {
      const config = testConfig("/failmail-test", { relayRate: RelayBudget.rateOf(10, 60_000) })
      const storage = memoryStorage()
      const first = yield* start(config, yield* recordingRelay(), storage)
      yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => `key-${i}`), first.accept, { discard: true })
      yield* advanceTo(30_000)
      expect(first.relay.sent).toHaveLength(10)
      yield* advanceTo(40_000)
      yield* Effect.forEach(Array.from({ length: 5 }, (_, i) => `later-${i}`), first.accept, { discard: true })
      yield* advanceTo(70_000)
      expect((yield* first.outbox.snapshot).map((item) => item.nextSendAt)).toEqual([90_000, 90_000, 90_000, 90_000, 90_000])
      yield* first.close
      // Stopping sends nothing beyond the budget: the held summaries stay in the spool.
      expect(first.relay.sent).toHaveLength(10)

      const second = yield* start(config, yield* recordingRelay(), storage)
      yield* advanceTo(89_999)
      expect(second.relay.sent).toHaveLength(0)
      yield* advanceTo(90_000)
      expect(summaries(second.relay).map((summary) => [summary.at, summary.messages])).toEqual(
        Array.from({ length: 5 }, () => [90_000, 1])
      )
    })
  )

  it.scoped("an expected-mail notice takes a send from the same budget: it waits for the window, ahead of held summaries", () =>
    Effect.gen(function* () {
      const pipeline = yield* start(testConfig("/failmail-test", { relayRate: RelayBudget.rateOf(1, 60_000) }), yield* recordingRelay())
      const subjects = () => pipeline.relay.sent.map((sent) => [sent.at, readHeaders(sent.raw)["subject"]])
      yield* pipeline.expectations.create({ name: "nightly backup", match: { subject: "^backup OK" }, every: "40s", to: ["oncall@example.com"] })
      yield* pipeline.accept("db")
      yield* advanceTo(1_000)
      yield* pipeline.accept("web")
      // 30 s: one summary spends the budget; at 31 s the other is held until 90 s.
      yield* advanceTo(30_000)
      yield* advanceTo(31_000)
      expect(subjects()).toEqual([[30_000, "[failmail] 1 instance: alert db"]])
      // 40 s: the notice comes due; the budget is spent, so it waits.
      yield* advanceTo(89_999)
      expect(pipeline.relay.sent).toHaveLength(1)
      // 90 s: the window frees one send, and the notice (waiting since 40 s) takes it.
      yield* advanceTo(90_000)
      expect(subjects()).toEqual([
        [30_000, "[failmail] 1 instance: alert db"],
        [90_000, "[failmail] missing: nightly backup (last seen never)"]
      ])
      yield* advanceTo(150_000)
      expect(subjects()[2]).toEqual([150_000, "[failmail] 1 instance: alert web"])
      expect(busiestWindow(pipeline.relay.sent.map((sent) => sent.at), 60_000)).toBe(1)
      expect(yield* pipeline.outbox.snapshot).toEqual([])
    })
  )

  it.scoped("--relay-rate 0: every summary goes at once, none merged", () =>
    Effect.gen(function* () {
      const pipeline = yield* start(testConfig("/failmail-test", { relayRate: RelayBudget.unlimited }), yield* recordingRelay())
      yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => `key-${i}`), pipeline.accept, { discard: true })
      yield* advanceTo(30_000)
      expect(summaries(pipeline.relay).map((summary) => [summary.at, summary.batches])).toEqual(
        Array.from({ length: 100 }, () => [30_000, 1])
      )
    })
  )
})
