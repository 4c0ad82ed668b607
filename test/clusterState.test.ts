/**
 * What the sender holds moves with the sender role (TestClock, two
 * pipelines on one in-memory store and cluster): silences, expectations and
 * the group memory are read by a replica when it becomes the sender, so a
 * silence created on the first sender holds on the next, and an
 * expectation's deadline is announced by the sender only, once. A sender
 * that cannot read them lets the role go rather than send without them.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { RENEW_EVERY_MS } from "../src/domain/cluster/Lease.ts"
import { clusterInMemory, memoryCluster, type MemoryCluster } from "./support/cluster.ts"
import { readHeaders } from "../src/domain/message/HeaderBlock.ts"
import { advanceTo, idle, memoryStorage, type MemoryStorage, rawMessage, recordingRelay, startPipeline, testConfig } from "./support/pipeline.ts"

const WAIT = 30_000
const MINUTE = 60_000
const config = testConfig("/failmail-test")

/** A replica of `cluster` on `storage`, with a recording relay of its own. */
const replica = (storage: MemoryStorage, cluster: MemoryCluster) =>
  Effect.gen(function* () {
    const relay = yield* recordingRelay()
    const pipeline = yield* startPipeline(config, relay.layer, { storage, cluster: clusterInMemory(cluster) })
    const accept = (subject: string) =>
      pipeline.intake.accept(rawMessage({ subject }), { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] }).pipe(Effect.zipRight(idle))
    const subjects = () => relay.sent.map((sent) => readHeaders(sent.raw)["subject"])
    return { ...pipeline, relay, accept, subjects }
  })

/** Two replicas on one store: the first sends, the second does not (yet). */
const pair = Effect.gen(function* () {
  const storage = memoryStorage()
  const cluster = memoryCluster()
  const first = yield* replica(storage, cluster)
  const second = yield* replica(storage, cluster)
  expect(cluster.lease.holder).not.toBe("")
  return { first, second, cluster, storage }
})

/** The first replica stops (letting the lease go); the second takes over at its next try. */
const failover = (first: { readonly close: Effect.Effect<void> }, at: number) =>
  Effect.gen(function* () {
    yield* first.close
    yield* advanceTo(at + RENEW_EVERY_MS)
  })

describe("the sender's state moves with the role", () => {
  it.scoped("a silence created on the first sender holds on the next", () =>
    Effect.gen(function* () {
      const { first, second } = yield* pair
      yield* first.silences.create({ match: { subject: "^disk full" }, for: "2h", comment: "maintenance", author: "" })
      yield* failover(first, 0)
      expect((yield* second.silences.list).map((silence) => silence.comment)).toEqual(["maintenance"])

      yield* second.accept("disk full on db1")
      yield* second.accept("db down")
      yield* advanceTo(RENEW_EVERY_MS + WAIT)
      expect(second.subjects()).toEqual(["[failmail] 1 instance: db down"])
      expect(first.relay.sent).toEqual([])
    })
  )

  it.scoped("an expectation's deadline is announced by the sender only, once, and the next sender does not announce it again", () =>
    Effect.gen(function* () {
      // The second replica starts with the expectation already stored: it must not watch it while it does not send.
      const storage = memoryStorage()
      const cluster = memoryCluster()
      const first = yield* replica(storage, cluster)
      yield* first.expectations.create({ name: "nightly backup", match: { subject: "^backup OK" }, every: "1m", to: ["oncall@example.com"] })
      const second = yield* replica(storage, cluster)
      yield* advanceTo(MINUTE)
      expect(first.subjects()).toEqual(["[failmail] missing: nightly backup (last seen never)"])
      expect(second.relay.attempts).toEqual([])

      yield* failover(first, MINUTE)
      expect((yield* second.expectations.list).map((expectation) => expectation.name)).toEqual(["nightly backup"])
      yield* advanceTo(3 * MINUTE)
      expect(second.relay.attempts).toEqual([])
    })
  )

  it.scoped("the group memory the first sender kept is the next sender's", () =>
    Effect.gen(function* () {
      const { first, second } = yield* pair
      yield* first.accept("disk full")
      yield* advanceTo(WAIT)
      expect(first.relay.sent).toHaveLength(1)
      expect(second.memory.recordOf("", "disk full")).toBeUndefined()

      yield* failover(first, WAIT)
      expect(second.memory.recordOf("", "disk full")).toMatchObject({ reports: 1 })
    })
  )

  it.scoped("a sender that cannot read the kept silences does not send without them: it lets the role go until they can be read", () =>
    Effect.gen(function* () {
      const { first, second, storage } = yield* pair
      yield* first.silences.create({ match: { subject: "^disk full" }, for: "2h", comment: "maintenance", author: "" })
      const documents = storage.state.documents
      const kept = documents.get("silences")
      documents.set("silences", "{not json")
      yield* failover(first, 0)
      yield* second.accept("disk full on db1")
      yield* second.accept("db down")
      yield* advanceTo(RENEW_EVERY_MS + WAIT)
      expect(second.relay.attempts).toEqual([])

      if (kept !== undefined) documents.set("silences", kept)
      yield* advanceTo(2 * RENEW_EVERY_MS + 2 * WAIT)
      expect(second.subjects()).toEqual(["[failmail] 1 instance: db down"])
    })
  )
})
