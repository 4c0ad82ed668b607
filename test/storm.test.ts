/**
 * Storms (`--storm-threshold`) through the whole pipeline on the TestClock:
 * intake, Batcher, Outbox, Dispatcher and the real Renderer, relaying into
 * memory, moving the clock with `stepTo`. Many summaries for one recipient set due close together reach the
 * reader as a handful of storm digests; two or three batches due at once,
 * or batches due more than one `--wait-period` apart, go as the original
 * sends them.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"
import type { RunningConfig } from "../src/services/runtime/AppConfig.ts"
import { relayed, textOf } from "./support/digests.ts"
import { rawMessage, recordingRelay, startPipeline, stepTo, testConfig } from "./support/pipeline.ts"

/** The README's example of a batch per alert: the subject is the batch key. */
const SUBJECT_AS_BATCH_KEY = `{{.Header.Get "Subject"}}`

const start = (overrides: Partial<RunningConfig>) =>
  Effect.gen(function* () {
    const relay = yield* recordingRelay()
    const config = testConfig("/failmail-test", {
      waitPeriod: Duration.seconds(2),
      maxWait: Duration.seconds(10),
      batchExpr: SUBJECT_AS_BATCH_KEY,
      ...overrides
    })
    const pipeline = yield* startPipeline(config, relay.layer)
    return {
      ...pipeline,
      relay,
      /** Sends one alert with this subject (its batch key) to `to`. */
      alert: (subject: string, to = "ops@example.com") =>
        pipeline.intake.accept(rawMessage({ subject, to }), { mailFrom: "app@example.com", rcptTo: [to] })
    }
  })

/** The value of a counter. */
const counted = (counter: { readonly get: () => Promise<{ readonly values: ReadonlyArray<{ readonly value: number }> }> }) =>
  Effect.promise(() => counter.get()).pipe(Effect.map((metric) => metric.values[0]?.value ?? 0))

/** `X-Failmail-Batch` of each relayed summary. */
const batchesOf = (relay: Parameters<typeof relayed>[0]) => relayed(relay).map((summary) => summary.headers["x-failmail-batch"])

describe("storms (--storm-threshold)", () => {
  it.scoped(
    "1,000 batch keys to one address within 6 s (--wait-period 2s --max-wait 10s, other settings default): at most 3 mails, the first within 7 s, every message counted within 60 s",
    () =>
      Effect.gen(function* () {
        const pipeline = yield* start({})
        // 50 alerts, each its own batch key, every 300 ms from 0 to 5.7 s.
        for (let burst = 0; burst < 20; burst++) {
          yield* stepTo(burst * 300)
          yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => `alert ${burst * 50 + i}`), (subject) => pipeline.alert(subject), {
            discard: true
          })
        }
        yield* stepTo(60_000)

        const mails = relayed(pipeline.relay)
        expect(mails.length).toBeGreaterThanOrEqual(1)
        expect(mails.length).toBeLessThanOrEqual(3)
        expect(mails[0]!.at).toBeLessThanOrEqual(7_000)
        expect(mails.reduce((sum, mail) => sum + mail.messages, 0)).toBe(1_000)
        expect(mails.reduce((sum, mail) => sum + mail.batches, 0)).toBe(1_000)
        expect(pipeline.relay.sent.every((sent) => sent.envelope.to.join() === "ops@example.com")).toBe(true)
        // The first digest a wait-period after the storm began (the first batches came due at 2 s); the rest a
        // wait-period after the last batch came due (7.7 s).
        expect(mails.map((mail) => mail.at)).toEqual([4_000, 9_700])
        expect(mails[0]!.headers["x-failmail-storm"]).toBe(String(mails[0]!.batches))
        const text = yield* textOf(mails[0]!.raw)
        expect(text).toContain(`Storm: this digest merges ${mails[0]!.batches} batches`)
        expect(text).toContain("- alert 0: 1 instance")
        expect(yield* pipeline.outbox.snapshot).toEqual([])
        expect(yield* counted(pipeline.metrics.storms)).toBe(1)
        expect(yield* counted(pipeline.metrics.stormMerges)).toBe(1_000)
      }),
    60_000
  )

  it.scoped("a storm digest lists its batch keys with their counts, busiest first; the dashboard and API show the storm meanwhile", () =>
    Effect.gen(function* () {
      const pipeline = yield* start({ stormThreshold: 20 })
      // 25 batch keys at once; "db down" three times and "disk full" twice.
      const subjects = ["db down", "db down", "db down", "disk full", "disk full", ...Array.from({ length: 23 }, (_, i) => `alert ${i}`)]
      yield* Effect.forEach(subjects, (subject) => pipeline.alert(subject), { discard: true })
      yield* stepTo(2_000)
      expect(pipeline.relay.sent).toHaveLength(0)
      const [storm] = yield* pipeline.outbox.snapshot
      expect(storm).toMatchObject({ reason: "storm", recipients: ["ops@example.com"], messageCount: 28, nextSendAt: 4_000 })
      expect(storm!.batches.slice(0, 3)).toEqual([
        { key: "db down", count: 3 },
        { key: "disk full", count: 2 },
        { key: "alert 0", count: 1 }
      ])
      expect(storm!.batches).toHaveLength(25)

      yield* stepTo(4_000)
      const [digest] = relayed(pipeline.relay)
      expect(digest).toMatchObject({ at: 4_000, messages: 28, batches: 25 })
      expect(digest!.headers["x-failmail-batch"]).toBe("db down")
      const text = yield* textOf(digest!.raw)
      expect(text).toContain("Storm: this digest merges 25 batches")
      expect(text.indexOf("- db down: 3 instances")).toBeLessThan(text.indexOf("- disk full: 2 instances"))
      expect(text.indexOf("- disk full: 2 instances")).toBeLessThan(text.indexOf("- alert 0: 1 instance"))
      yield* stepTo(6_000)
      expect(yield* pipeline.outbox.snapshot).toEqual([])
    })
  )

  it.scoped("normal times: two or three batches due at once, to one address or to three teams, go as separate mails", () =>
    Effect.gen(function* () {
      const pipeline = yield* start({})
      yield* Effect.forEach(["db down", "disk full", "cert expires"], (subject) => pipeline.alert(subject), { discard: true })
      yield* Effect.forEach(
        [
          ["build failed", "dev@example.com"],
          ["payment declined", "billing@example.com"],
          ["login errors", "security@example.com"]
        ] as const,
        ([subject, to]) => pipeline.alert(subject, to),
        { discard: true }
      )
      yield* stepTo(2_000)
      expect(relayed(pipeline.relay).map((mail) => [mail.at, mail.batches])).toEqual(Array.from({ length: 6 }, () => [2_000, 1]))
      expect(new Set(batchesOf(pipeline.relay))).toEqual(
        new Set(["db down", "disk full", "cert expires", "build failed", "payment declined", "login errors"])
      )
      expect(yield* counted(pipeline.metrics.storms)).toBe(0)
    })
  )

  it.scoped("normal times: two batches for one address due more than one --wait-period apart go as two mails with their own batch keys", () =>
    Effect.gen(function* () {
      // Even with a threshold of 2, the second batch comes due after the first went: no storm.
      const pipeline = yield* start({ stormThreshold: 2 })
      yield* pipeline.alert("db down")
      yield* stepTo(2_500)
      yield* pipeline.alert("disk full")
      yield* stepTo(10_000)
      expect(relayed(pipeline.relay).map((mail) => [mail.at, mail.headers["x-failmail-batch"], mail.batches])).toEqual([
        [2_000, "db down", 1],
        [4_500, "disk full", 1]
      ])
    })
  )

  it.scoped("a storm that lasts: one digest a wait-period after it began, then one per --max-wait, and it ends once calm", () =>
    Effect.gen(function* () {
      const pipeline = yield* start({})
      // 30 new batch keys every second for 25 s.
      for (let second = 0; second < 25; second++) {
        yield* stepTo(second * 1_000)
        yield* Effect.forEach(Array.from({ length: 30 }, (_, i) => `alert ${second}-${i}`), (subject) => pipeline.alert(subject), {
          discard: true
        })
      }
      yield* stepTo(60_000)
      const mails = relayed(pipeline.relay)
      // Batches come due every second from 2 s to 26 s: a digest at 4 s, then max-wait after the first batch
      // it gathers (5 s + 10 s, 15 s + 10 s), and the last a wait-period after the last batch came due.
      expect(mails.map((mail) => mail.at)).toEqual([4_000, 15_000, 25_000, 28_000])
      expect(mails.reduce((sum, mail) => sum + mail.messages, 0)).toBe(750)
      // After the storm, an alert for the same address goes alone again.
      yield* pipeline.alert("later")
      yield* stepTo(70_000)
      expect(relayed(pipeline.relay).at(-1)).toMatchObject({ at: 62_000, batches: 1, messages: 1 })
    })
  )

  it.scoped("--storm-threshold 0 --relay-rate 0: every batch its own mail, as the original sends them", () =>
    Effect.gen(function* () {
      const pipeline = yield* start({ stormThreshold: 0, relayRate: RelayBudget.unlimited })
      yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => `alert ${i}`), (subject) => pipeline.alert(subject), { discard: true })
      yield* stepTo(2_000)
      expect(relayed(pipeline.relay).map((mail) => [mail.at, mail.batches])).toEqual(Array.from({ length: 100 }, () => [2_000, 1]))
    })
  )

  it.scoped("the relay budget stays the outer bound: storm digests for many recipient sets take their sends from it", () =>
    Effect.gen(function* () {
      const pipeline = yield* start({ relayRate: RelayBudget.rateOf(2, 60_000) })
      // A storm for each of three teams at once.
      for (const team of ["dev", "ops", "sec"]) {
        yield* Effect.forEach(Array.from({ length: 25 }, (_, i) => `${team} alert ${i}`), (subject) => pipeline.alert(subject, `${team}@example.com`), {
          discard: true
        })
      }
      yield* stepTo(120_000)
      const mails = relayed(pipeline.relay)
      expect(mails.map((mail) => mail.at)).toEqual([4_000, 4_000, 64_000])
      expect(mails.reduce((sum, mail) => sum + mail.messages, 0)).toBe(75)
    })
  )

  it.scoped("on stop, a storm's digest goes at once", () =>
    Effect.gen(function* () {
      const pipeline = yield* start({})
      yield* Effect.forEach(Array.from({ length: 25 }, (_, i) => `alert ${i}`), (subject) => pipeline.alert(subject), { discard: true })
      yield* stepTo(3_000)
      expect(pipeline.relay.sent).toHaveLength(0)
      yield* pipeline.close
      expect(relayed(pipeline.relay).map((mail) => [mail.at, mail.batches, mail.messages])).toEqual([[3_000, 25, 25]])
    })
  )
})
