/**
 * The summary history kept in the Store (document `history`), on the
 * TestClock with in-memory storage: a restarted failmail, or another one
 * on the same store (a replica, a new sender after a failover), shows the
 * summaries sent before, ids go on from them, a summary left half-sent says
 * so, and the document stays bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { INTERRUPTED, RECENT_SUMMARIES } from "../src/domain/delivery/SummaryHistory.ts"
import { unlimited } from "../src/domain/delivery/RelayBudget.ts"
import { RelayError } from "../src/services/delivery/Relay.ts"
import { TAKEOVER_BOUND_MS } from "../src/domain/cluster/Lease.ts"
import { clusterInMemory, type Link, memoryCluster, type MemoryCluster } from "./support/cluster.ts"
import { advanceTo, idle, memoryStorage, type MemoryStorage, rawMessage, recordingRelay, startPipeline, testConfig } from "./support/pipeline.ts"

const WAIT = 30_000
/** Without a relay budget or storms: the bound test sends more summaries at once than either lets go as separate mails. */
const config = testConfig("/failmail-test", { relayRate: unlimited, stormThreshold: 0 })

/** A pipeline on `storage` with a recording relay, on process services of its own (a process of its own), alone or a replica of `cluster`. */
const start = (storage: MemoryStorage, cluster?: MemoryCluster, link: Link = { cut: false }) =>
  Effect.gen(function* () {
    const relay = yield* recordingRelay()
    const pipeline = yield* startPipeline(config, relay.layer, { storage, ...(cluster === undefined ? {} : { cluster: clusterInMemory(cluster, link) }) })
    const accept = (subject: string, split = "") =>
      pipeline.intake
        .accept(rawMessage({ subject, headers: split === "" ? {} : { "X-Failmail-Split": split } }), {
          mailFrom: "app@example.com",
          rcptTo: ["ops@example.com"]
        })
        .pipe(Effect.zipRight(idle))
    return { ...pipeline, relay, accept }
  })

/** What the stored document holds. */
const storedSummaries = (storage: MemoryStorage): ReadonlyArray<{ readonly id: number; readonly subject: string }> =>
  (JSON.parse(storage.state.documents.get("history") ?? '{"summaries":[]}') as { summaries: Array<{ id: number; subject: string }> }).summaries

describe("summary history in the store", () => {
  it.scoped("a restarted failmail shows the summaries sent before, and its ids go on from them", () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      const first = yield* start(storage)
      yield* first.accept("disk full")
      yield* advanceTo(WAIT)
      expect(first.relay.sent).toHaveLength(1)
      expect(storedSummaries(storage)).toMatchObject([{ id: 1, subject: "[failmail] 1 instance: disk full" }])
      yield* first.close

      const second = yield* start(storage)
      expect(second.history.recent()).toMatchObject([{ id: 1, status: "delivered", messageCount: 1, subject: "[failmail] 1 instance: disk full" }])
      yield* second.accept("db down")
      yield* advanceTo(2 * WAIT)
      expect(second.history.recent().map((summary) => [summary.id, summary.subject])).toEqual([
        [2, "[failmail] 1 instance: db down"],
        [1, "[failmail] 1 instance: disk full"]
      ])
      expect(storedSummaries(storage).map((summary) => summary.id)).toEqual([2, 1])
    })
  )

  it.scoped("a failmail started on the same store while a summary is being retried shows it, saying its sender is gone", () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      const sender = yield* start(storage)
      yield* sender.accept("db down")
      yield* sender.relay.failNext(1, new RelayError({ reason: "421 try again later", transient: true }))
      yield* advanceTo(WAIT)
      expect(sender.history.recent()).toMatchObject([{ id: 1, status: "retrying", error: "421 try again later" }])

      const next = yield* start(storage)
      expect(next.history.recent().find((summary) => summary.id === 1)).toMatchObject({
        status: "retrying",
        error: `421 try again later; ${INTERRUPTED}`
      })
      // The first one's own view is untouched: it still tracks its summary.
      expect(sender.history.recent()[0]?.error).toBe("421 try again later")
    })
  )

  it.scoped("a replica that becomes the sender shows the summaries the previous sender recorded after it started", () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      const cluster = memoryCluster()
      const first = yield* start(storage, cluster)
      const second = yield* start(storage, cluster)
      yield* first.accept("disk full")
      yield* advanceTo(WAIT)
      expect(first.relay.sent).toHaveLength(1)
      expect(second.history.recent()).toEqual([])

      // The sender stops (letting the lease go); the other takes over at its next try.
      yield* first.close
      yield* advanceTo(WAIT + 3_000)
      expect(second.history.recent()).toMatchObject([{ id: 1, status: "delivered", subject: "[failmail] 1 instance: disk full" }])
    })
  )

  it.scoped("a former sender, cut off from the cluster, does not write its view over the next sender's", () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      const cluster = memoryCluster()
      const link = { cut: false }
      const first = yield* start(storage, cluster, link)
      const second = yield* start(storage, cluster)
      yield* first.accept("disk full")
      yield* advanceTo(WAIT)
      expect(first.relay.sent).toHaveLength(1)

      // The first loses the cluster (its lease runs out unrenewed); the second takes over and sends.
      link.cut = true
      yield* advanceTo(WAIT + TAKEOVER_BOUND_MS)
      yield* second.accept("db down")
      yield* advanceTo(2 * WAIT + TAKEOVER_BOUND_MS)
      expect(second.relay.sent).toHaveLength(1)
      yield* first.close
      expect(storedSummaries(storage).map((summary) => summary.subject)).toEqual([
        "[failmail] 1 instance: db down",
        "[failmail] 1 instance: disk full"
      ])
    })
  )

  it.scoped(`the document keeps the newest ${RECENT_SUMMARIES} summaries`, () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      const pipeline = yield* start(storage)
      for (let n = 0; n <= RECENT_SUMMARIES; n++) yield* pipeline.accept(`alert ${n}`, `batch ${n}`)
      yield* advanceTo(WAIT)
      expect(pipeline.relay.sent).toHaveLength(RECENT_SUMMARIES + 1)
      const stored = storedSummaries(storage)
      expect(stored).toHaveLength(RECENT_SUMMARIES)
      expect(stored[0]?.id).toBe(RECENT_SUMMARIES + 1)
      expect(stored.at(-1)?.id).toBe(2)
    })
  )

  it.scoped("a stored history that cannot be read is left behind: failmail starts with an empty one and saves a new one", () =>
    Effect.gen(function* () {
      const storage = memoryStorage()
      storage.state.documents.set("history", JSON.stringify({ summaries: [{ id: "one" }] }))
      const pipeline = yield* start(storage)
      expect(pipeline.history.recent()).toEqual([])
      yield* pipeline.accept("disk full")
      yield* advanceTo(WAIT)
      expect(storedSummaries(storage)).toMatchObject([{ id: 1, subject: "[failmail] 1 instance: disk full" }])
    })
  )
})
