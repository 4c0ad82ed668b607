/**
 * `--repeat-interval` on the TestClock: a due batch of groups all reported
 * lately, and nothing new, waits in the spool — counted — until one of its
 * groups is due a repeat, or something new joins it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"
import type { RunningConfig } from "../src/services/runtime/AppConfig.ts"
import { relayed, textOf } from "./support/digests.ts"
import { advanceTo, rawMessage, recordingRelay, type RecordingRelay, startPipeline, testConfig } from "./support/pipeline.ts"

const MINUTE = 60_000
const HOUR = 60 * MINUTE

const start = (config: RunningConfig, relay: RecordingRelay) =>
  Effect.map(startPipeline(config, relay.layer), (pipeline) => ({
    ...pipeline,
    relay,
    accept: (subject: string) =>
      pipeline.intake.accept(rawMessage({ subject }), { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] })
  }))

const setup = (overrides: Partial<RunningConfig>) =>
  Effect.gen(function* () {
    const config = testConfig("/failmail-test", {
      waitPeriod: Duration.minutes(2),
      maxWait: Duration.minutes(5),
      relayRate: RelayBudget.unlimited,
      ...overrides
    })
    return yield* start(config, yield* recordingRelay())
  })

describe("--repeat-interval", () => {
  it.scoped("one ongoing error with --max-wait 5m --repeat-interval 1h: one digest an hour, each with the full count", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({ repeatInterval: Duration.hours(1) })
      // The error fires every minute (at :30) for three hours and a bit.
      for (let minute = 0; minute < 190; minute++) {
        yield* advanceTo(minute * MINUTE + 30_000)
        yield* pipeline.accept("disk full")
      }
      yield* advanceTo(191 * MINUTE)
      const digests = relayed(pipeline.relay)
      expect(digests.map((d) => [d.at / MINUTE, d.messages, d.headers["x-failmail-new"]])).toEqual([
        [5.5, 5, "1"], // the first report (--max-wait): the error is new
        [65.5, 60, "0"], // an hour after it: everything since, in one digest
        [125.5, 60, "0"],
        [185.5, 60, "0"]
      ])
      // What waits is still spooled and counted, and shown as held for the repeat.
      const [held] = yield* pipeline.batcher.snapshot
      expect(held).toMatchObject({ held: "repeat", messageCount: 5, dueAt: 245.5 * MINUTE })
      expect((yield* pipeline.batcher.counts).messages).toBe(5)
      // Prometheus says the same, and follows each message that joins the waiting batch.
      const heldForRepeat = () =>
        Effect.promise(async () => (await pipeline.metrics.heldMessages.get()).values.find((value) => value.labels.reason === "repeat")?.value)
      expect(yield* heldForRepeat()).toBe(5)
      yield* advanceTo(191 * MINUTE + 30_000)
      yield* pipeline.accept("disk full")
      expect(yield* heldForRepeat()).toBe(6)
    })
  )

  it.scoped("something new joining a waiting batch sends it at once, with everything it holds", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({ repeatInterval: Duration.hours(1) })
      yield* pipeline.accept("disk full")
      yield* advanceTo(2 * MINUTE)
      expect(relayed(pipeline.relay)).toHaveLength(1)
      yield* advanceTo(3 * MINUTE)
      yield* pipeline.accept("disk full")
      yield* pipeline.accept("disk full")
      yield* advanceTo(10 * MINUTE)
      expect(relayed(pipeline.relay)).toHaveLength(1)
      expect((yield* pipeline.batcher.snapshot).map((batch) => batch.held)).toEqual(["repeat"])
      yield* pipeline.accept("db down")
      yield* advanceTo(10 * MINUTE)
      const digests = relayed(pipeline.relay)
      expect(digests.map((d) => [d.at / MINUTE, d.messages, d.headers["x-failmail-new"]])).toEqual([
        [2, 1, "1"],
        [10, 3, "1"]
      ])
      expect(yield* textOf(digests[1]!.raw)).toMatch(/1 instance\n  New\n[\s\S]*Subject: "db down"[\s\S]*2 instances\n  Ongoing/)
    })
  )

  it.scoped("0 (the default) is the original's behaviour: a digest every --max-wait", () =>
    Effect.gen(function* () {
      const pipeline = yield* setup({})
      for (let minute = 0; minute < 20; minute++) {
        yield* advanceTo(minute * MINUTE + 30_000)
        yield* pipeline.accept("disk full")
      }
      yield* advanceTo(HOUR)
      expect(relayed(pipeline.relay).map((d) => d.messages)).toEqual([5, 5, 5, 5])
    })
  )
})
