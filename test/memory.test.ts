/**
 * The memory of reported groups in the pipeline, on the TestClock: digests
 * mark groups new or ongoing (new first), say so in X-Failmail-New, and the
 * memory survives a restart.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { readHeaders } from "../src/domain/message/HeaderBlock.ts"
import { textOf } from "./support/digests.ts"
import {
  advanceTo,
  memoryStorage,
  recordingRelay,
  type RecordingRelay,
  testConfig,
  sentBy,
  startAlerting
} from "./support/pipeline.ts"

const MINUTE = 60_000

const start = startAlerting

const digest = (relay: RecordingRelay, index: number) =>
  Effect.gen(function* () {
    const sent = relay.sent[index]
    if (sent === undefined) throw new Error(`no summary #${index}`)
    return { headers: readHeaders(sent.raw), text: yield* textOf(sent.raw) }
  })

describe("group memory in digests", () => {
  it.scoped("the first digest marks a group new; the next one marks it ongoing, with since when and how many", () =>
    Effect.gen(function* () {
      const relay = yield* recordingRelay()
      const pipeline = yield* start(testConfig("/failmail-test"), relay)
      yield* pipeline.accept("disk full")
      yield* pipeline.accept("disk full")
      yield* sentBy(relay, 30_000, 1)
      expect((yield* digest(relay, 0)).headers["x-failmail-new"]).toBe("1")
      expect((yield* digest(relay, 0)).text).toContain("- Message group 1 of 1: 2 instances\n  New\n")

      yield* advanceTo(10 * MINUTE)
      yield* pipeline.accept("disk full")
      yield* pipeline.accept("db down")
      yield* sentBy(relay, 10 * MINUTE + 30_000, 2)
      const second = yield* digest(relay, 1)
      expect(second.headers["x-failmail-new"]).toBe("1")
      expect(second.headers["subject"]).toBe("[failmail] 2 instances of 2 messages")
      // New groups first, then ongoing ones.
      expect(second.text).toMatch(/Message group 1 of 2: 1 instance\n  New\n[\s\S]*Subject: "db down"/)
      expect(second.text).toContain(
        "- Message group 2 of 2: 1 instance\n  Ongoing: first seen Thu, 01 Jan 1970 00:00:00 +0000, 3 instances since\n"
      )
      const records = yield* pipeline.memory.list
      expect(records.map((r) => [r.groupKey, r.instances, r.reports, r.lastReported])).toEqual([
        ["disk full", 3, 2, 10 * MINUTE + 30_000],
        ["db down", 1, 1, 10 * MINUTE + 30_000]
      ])
    })
  )

  it.scoped("the memory survives a restart", () =>
    Effect.gen(function* () {
      const config = testConfig("/failmail-test")
      const storage = memoryStorage()
      const first = yield* start(config, yield* recordingRelay(), storage)
      yield* first.accept("disk full")
      yield* sentBy(first.relay, 30_000, 1)
      yield* first.close

      const relay = yield* recordingRelay()
      const second = yield* start(config, relay, storage)
      yield* advanceTo(MINUTE)
      yield* second.accept("disk full")
      yield* sentBy(relay, MINUTE + 30_000, 1)
      expect((yield* digest(relay, 0)).headers["x-failmail-new"]).toBe("0")
      expect((yield* digest(relay, 0)).text).toContain("Ongoing: first seen")
    })
  )

  it.scoped("a group quiet longer than --forget-after is new again", () =>
    Effect.gen(function* () {
      const relay = yield* recordingRelay()
      const pipeline = yield* start(testConfig("/failmail-test", { forgetAfter: Duration.hours(1) }), relay)
      yield* pipeline.accept("disk full")
      yield* sentBy(relay, 30_000, 1)
      yield* advanceTo(30 * MINUTE)
      yield* pipeline.accept("disk full")
      yield* sentBy(relay, 30 * MINUTE + 30_000, 2)
      expect((yield* digest(relay, 1)).headers["x-failmail-new"]).toBe("0")
      yield* advanceTo(30 * MINUTE + 61 * MINUTE)
      yield* pipeline.accept("disk full")
      yield* sentBy(relay, 91 * MINUTE + 30_000, 3)
      expect((yield* digest(relay, 2)).headers["x-failmail-new"]).toBe("1")
    })
  )
})
