/**
 * Threads, returning and stopped groups in the pipeline, on the TestClock:
 * what the digests' headers and parts say as an error goes on, calms down,
 * comes back, and after `--forget-after`; that threads outlive a restart;
 * and what `/metrics` counts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { simpleParser } from "mailparser"
import {
  advanceTo,
  memoryStorage,
  rawMessage,
  recordingRelay,
  type RecordingRelay,
  startPipeline,
  testConfig,
  sentBy,
  startAlerting
} from "./support/pipeline.ts"
import { relayed } from "./support/digests.ts"
import { clusterInMemory, memoryCluster } from "./support/cluster.ts"
import * as SummaryHistory from "../src/domain/delivery/SummaryHistory.ts"

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const EPOCH = "Thu, 01 Jan 1970"

const start = startAlerting

/** Summary `index` as a reader sees it: headers, text part, HTML part. */
const digest = (relay: RecordingRelay, index: number) =>
  Effect.gen(function* () {
    const summary = relayed(relay)[index]
    if (summary === undefined) throw new Error(`no summary #${index}`)
    const mail = yield* Effect.promise(() => simpleParser(summary.raw))
    return { headers: summary.headers, text: mail.text ?? "", html: typeof mail.html === "string" ? mail.html : "" }
  })

const counted = (relay: { readonly get: () => Promise<{ readonly values: ReadonlyArray<{ readonly value: number }> }> }) =>
  Effect.promise(() => relay.get()).pipe(Effect.map((metric) => metric.values[0]?.value ?? 0))

describe("an ongoing error is one thread; returning and stopped groups are marked", () => {
  it.scoped("replies to the first digest, says what stopped and what is back, and starts anew after --forget-after", () =>
    Effect.gen(function* () {
      const relay = yield* recordingRelay()
      const pipeline = yield* start(testConfig("/failmail-test", { backAfter: Duration.hours(1) }), relay)
      yield* pipeline.accept("disk full")
      yield* pipeline.accept("db down")
      yield* sentBy(relay, 30_000, 1)
      const first = yield* digest(relay, 0)
      expect(first.headers["in-reply-to"]).toBeUndefined()
      expect(first.headers["references"]).toBeUndefined()
      expect(first.headers["x-failmail-back"]).toBe("0")
      const root = first.headers["message-id"]
      expect(root).toMatch(/^<[0-9a-f]{40}@test>$/)

      // "db down" calmed down: the next digest says so in its overview, in both parts.
      yield* advanceTo(10 * MINUTE)
      yield* pipeline.accept("disk full")
      yield* sentBy(relay, 10 * MINUTE + 30_000, 2)
      const second = yield* digest(relay, 1)
      expect(second.headers["in-reply-to"]).toBe(root)
      expect(second.headers["references"]).toBe(root)
      expect(second.headers["message-id"]).not.toBe(root)
      const stopped = `Stopped: db down (last seen ${EPOCH} 00:00:00 +0000)`
      expect(second.text).toContain(`\n\n${stopped}\n`)
      expect(second.text.indexOf(stopped)).toBeLessThan(second.text.indexOf("Message group 1"))
      expect(second.html.replace(/<[^>]+>/g, "")).toContain(stopped)
      // The summary history (dashboard, /api/summaries) knows the thread of each.
      expect(pipeline.history.recent().map((record) => [record.messageId, record.thread])).toEqual([
        [second.headers["message-id"], root],
        [root, root]
      ])

      // Said once: the digest after does not repeat it.
      yield* advanceTo(HOUR)
      yield* pipeline.accept("disk full")
      yield* sentBy(relay, HOUR + 30_000, 3)
      expect((yield* digest(relay, 2)).text).not.toContain("Stopped:")

      // "db down" returns after 2 h of quiet (over --back-after 1h); "disk full" was quiet exactly 1 h: ongoing.
      yield* advanceTo(2 * HOUR)
      yield* pipeline.accept("disk full")
      yield* pipeline.accept("db down")
      yield* sentBy(relay, 2 * HOUR + 30_000, 4)
      const fourth = yield* digest(relay, 3)
      expect(fourth.headers["in-reply-to"]).toBe(root)
      expect(fourth.headers["x-failmail-back"]).toBe("1")
      expect(fourth.headers["x-failmail-new"]).toBe("0")
      expect(fourth.text).toContain("New groups: 0\nBack groups: 1\nOngoing groups: 1\n")
      // Listed first after the new ones (there are none), apart from the ongoing one.
      expect(fourth.text).toContain(
        `- Message group 1 of 2: 1 instance\n  Back: back after 2h; first seen ${EPOCH} 00:00:00 +0000, 2 instances since\n`
      )
      expect(fourth.text).toMatch(/Message group 1 of 2[\s\S]*Subject: "db down"[\s\S]*Message group 2 of 2: 1 instance\n  Ongoing: /)
      expect(fourth.html).toContain("back after 2h")
      expect(fourth.html).toContain(">BACK<")

      // A day of quiet (over --forget-after): a new thread, and the group is new again.
      yield* advanceTo(2 * HOUR + 25 * HOUR)
      yield* pipeline.accept("disk full")
      yield* sentBy(relay, 27 * HOUR + 30_000, 5)
      const fifth = yield* digest(relay, 4)
      expect(fifth.headers["in-reply-to"]).toBeUndefined()
      expect(fifth.headers["x-failmail-new"]).toBe("1")
      expect(fifth.text).not.toContain("Stopped:")

      expect(yield* counted(pipeline.metrics.threadsStarted)).toBe(2)
      expect(yield* counted(pipeline.metrics.threadReplies)).toBe(3)
      expect(yield* counted(pipeline.metrics.backGroups)).toBe(1)
    })
  )

  it.scoped("a group that came again but is held back by a silence has not stopped", () =>
    Effect.gen(function* () {
      const relay = yield* recordingRelay()
      const pipeline = yield* start(testConfig("/failmail-test"), relay)
      yield* pipeline.accept("disk full")
      yield* pipeline.accept("db down")
      yield* sentBy(relay, 30_000, 1)
      yield* pipeline.silences.create({ match: { subject: "^db" }, for: "1h" })
      yield* advanceTo(MINUTE)
      yield* pipeline.accept("disk full")
      yield* pipeline.accept("db down")
      yield* sentBy(relay, MINUTE + 30_000, 2)
      const second = yield* digest(relay, 1)
      expect(second.text).toContain("held back 1 message")
      expect(second.text).not.toContain("Stopped:")
      // Once the silence has let it go and it is quiet, it is said to have stopped.
      yield* advanceTo(2 * HOUR)
      yield* pipeline.accept("disk full")
      yield* sentBy(relay, 2 * HOUR + 30_000, 4)
      expect((yield* digest(relay, 3)).text).toContain(`Stopped: db down (last seen ${EPOCH} 00:01:00 +0000)`)
    })
  )

  it.scoped("threads outlive a restart", () =>
    Effect.gen(function* () {
      const config = testConfig("/failmail-test")
      const storage = memoryStorage()
      const firstRelay = yield* recordingRelay()
      const first = yield* start(config, firstRelay, storage)
      yield* first.accept("disk full")
      yield* first.accept("db down")
      yield* sentBy(firstRelay, 30_000, 1)
      const root = (yield* digest(firstRelay, 0)).headers["message-id"]
      yield* first.close

      const relay = yield* recordingRelay()
      const second = yield* start(config, relay, storage)
      yield* advanceTo(MINUTE)
      yield* second.accept("disk full")
      yield* sentBy(relay, MINUTE + 30_000, 1)
      const next = yield* digest(relay, 0)
      expect(next.headers["in-reply-to"]).toBe(root)
      expect(next.text).toContain("Stopped: db down (last seen")
    })
  )

  it.scoped("a replica that becomes the sender continues the threads of the one before", () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      const cluster = memoryCluster()
      const config = testConfig("/failmail-test")
      const firstRelay = yield* recordingRelay()
      const first = yield* startPipeline(config, firstRelay.layer, { storage, cluster: clusterInMemory(cluster, { cut: false }) })
      const relay = yield* recordingRelay()
      const second = yield* startPipeline(config, relay.layer, { storage, cluster: clusterInMemory(cluster, { cut: false }) })
      const accept = (subject: string) =>
        first.intake.accept(rawMessage({ subject }), { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] })
      yield* accept("disk full")
      yield* accept("db down")
      yield* sentBy(firstRelay, 30_000, 1)
      const root = (yield* digest(firstRelay, 0)).headers["message-id"]

      // The sender stops (letting the lease go); the other takes over at its next try.
      yield* first.close
      yield* advanceTo(33_000)
      yield* second.intake.accept(rawMessage({ subject: "disk full" }), { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] })
      yield* sentBy(relay, 63_000, 1)
      const next = yield* digest(relay, 0)
      expect(next.headers["in-reply-to"]).toBe(root)
      expect(next.text).toContain("Stopped: db down (last seen")
    })
  )

  it("a summary history saved before threads were recorded reads back, with no thread", () => {
    const stored = {
      summaries: [
        { id: 1, batchKey: "", subject: "s", recipients: [], messageCount: 1, groupCount: 1, createdAt: 1, status: "delivered", attempts: 1, updatedAt: 1, error: "", failedPath: "" }
      ]
    }
    const read = SummaryHistory.recordsOf(stored)
    expect(read._tag === "Right" ? read.right.map((record) => [record.messageId, record.thread]) : read.left).toEqual([["", ""]])
  })
})
