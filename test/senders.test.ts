/**
 * One sender among replicas, in process on the TestClock: two pipelines on
 * one shared in-memory store and cluster. Mail goes into both, and one
 * digest goes out per batch; when the sender dies, the other takes over
 * within the bound and summarizes what was pending, by the original
 * deadlines; a summary relayed but not recorded is sent again by the new
 * sender under the same Message-ID.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import * as Lease from "../src/domain/cluster/Lease.ts"
import { Cluster, type ClusterBackend } from "../src/services/cluster/Cluster.ts"
import { clusterInMemory, type Link, memoryBackend, memoryCluster, type MemoryCluster } from "./support/cluster.ts"
import { relayed } from "./support/digests.ts"
import {
  advanceTo,
  memoryStorage,
  type MemoryStorage,
  rawMessage,
  recordingRelay,
  type RecordingRelay,
  startPipeline,
  testConfig,
  sendAlert
} from "./support/pipeline.ts"

const SECOND = 1000

/** One replica: a pipeline on the shared storage and cluster, reaching the cluster through its own link. */
const replica = (shared: { storage: MemoryStorage; cluster: MemoryCluster; relay: RecordingRelay }) =>
  Effect.gen(function* () {
    const link: Link = { cut: false }
    const pipeline = yield* startPipeline(testConfig("/failmail-test"), shared.relay.layer, {
      storage: shared.storage,
      cluster: clusterInMemory(shared.cluster, link)
    })
    return {
      ...pipeline,
      link,
      accept: (subject: string) => sendAlert(pipeline.intake, subject),
      /** Dies as by `kill -9`: nothing reaches the cluster any more (the lease is not let go), and it stops. */
      kill: Effect.suspend(() => {
        link.cut = true
        return pipeline.close
      })
    }
  })

const setup = Effect.gen(function* () {
  const shared = { storage: memoryStorage(), cluster: memoryCluster(), relay: yield* recordingRelay() }
  const a = yield* replica(shared)
  yield* advanceTo(1 * SECOND)
  const b = yield* replica(shared)
  return { shared, a, b }
})

/** A database that answers nothing until `until` (ms of the Clock), then everything it was asked meanwhile. */
interface Stall {
  until: number
}

/** `backend`, each of its requests held until `stall` is over. */
const stalling = (backend: ClusterBackend, stall: Stall): ClusterBackend => {
  const held = <A, E>(request: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => (now < stall.until ? Effect.zipRight(Effect.sleep(stall.until - now), request) : request))
  return {
    heartbeat: (replica) => held(backend.heartbeat(replica)),
    leave: (replica) => held(backend.leave(replica)),
    acquire: (replica, now) => held(backend.acquire(replica, now)),
    release: (lease) => held(backend.release(lease)),
    lease: held(backend.lease),
    replicas: held(backend.replicas),
    claim: (lease, now, claim) => held(backend.claim(lease, now, claim)),
    recordSentRemovingMessages: (claim) => held(backend.recordSentRemovingMessages(claim)),
    unfinished: held(backend.unfinished),
    arrivals: (after, taken) => held(backend.arrivals(after, taken))
  }
}

const messageIdOf = (raw: Buffer) => /^Message-ID: *(\S+)/im.exec(raw.toString("latin1"))?.[1]

describe("one sender among replicas", () => {
  it.scoped("mail into both replicas: one digest per batch, sent by the lease holder", () =>
    Effect.gen(function* () {
      const { shared, a, b } = yield* setup
      expect((yield* b.batcher.counts).messages).toBe(0)
      yield* advanceTo(2 * SECOND)
      yield* a.accept("disk full")
      yield* b.accept("disk full")
      yield* advanceTo(5 * SECOND)
      yield* b.accept("load high")
      yield* a.accept("load high")
      // The sender took in what b stored within a second; b batches nothing.
      yield* advanceTo(6 * SECOND)
      expect((yield* a.batcher.counts).messages).toBe(4)
      expect((yield* b.batcher.counts).messages).toBe(0)
      // Due 30 s (--wait-period) after the last arrival.
      yield* advanceTo(35 * SECOND - 1)
      expect(relayed(shared.relay)).toEqual([])
      yield* advanceTo(35 * SECOND)
      expect(relayed(shared.relay).map((digest) => [digest.at, digest.messages])).toEqual([[35 * SECOND, 4]])
      expect(shared.storage.spool.messages.size).toBe(0)
      yield* advanceTo(120 * SECOND)
      expect(relayed(shared.relay)).toHaveLength(1)
    })
  )

  it.scoped("the sender dies: the other takes over within the bound and summarizes what was pending, by its original deadline", () =>
    Effect.gen(function* () {
      const { shared, a, b } = yield* setup
      yield* advanceTo(60 * SECOND)
      yield* a.accept("disk full")
      yield* advanceTo(61 * SECOND)
      yield* b.accept("disk full")
      yield* advanceTo(62 * SECOND)
      expect((yield* a.batcher.counts).messages).toBe(2)
      // a renews every second; it dies at 70 s, just after renewing (its lease holds until 75 s); b looks every second from 1 s: it takes over at 75 s.
      yield* advanceTo(70 * SECOND)
      yield* a.kill
      yield* advanceTo(75 * SECOND - 1)
      expect((yield* b.batcher.counts).messages).toBe(0)
      yield* advanceTo(75 * SECOND)
      expect(75 * SECOND - 70 * SECOND).toBeLessThanOrEqual(Lease.TAKEOVER_BOUND_MS)
      expect(yield* b.batcher.counts).toMatchObject({ batches: 1, messages: 2, lastAt: 61 * SECOND })
      // Due 30 s after the last arrival (61 s), as if nothing had happened.
      yield* advanceTo(91 * SECOND - 1)
      expect(relayed(shared.relay)).toEqual([])
      yield* advanceTo(91 * SECOND)
      expect(relayed(shared.relay).map((digest) => [digest.at, digest.messages])).toEqual([[91 * SECOND, 2]])
      expect(shared.storage.spool.messages.size).toBe(0)
    })
  )

  it.scoped("a sender that stops while another runs hands over: nothing sent early, the other takes over at its next try", () =>
    Effect.gen(function* () {
      const { shared, a, b } = yield* setup
      yield* advanceTo(2 * SECOND)
      yield* b.accept("disk full")
      yield* advanceTo(10.5 * SECOND)
      yield* a.close
      expect(relayed(shared.relay)).toEqual([])
      expect([...shared.cluster.replicas.keys()]).toEqual([(yield* b.cluster.view).self])
      yield* advanceTo(13 * SECOND)
      expect(shared.cluster.lease.holder).toBe((yield* b.cluster.view).self)
      // Due 30 s after its arrival, as if nothing had happened.
      yield* advanceTo(32 * SECOND)
      expect(relayed(shared.relay).map((digest) => [digest.at, digest.messages])).toEqual([[32 * SECOND, 1]])
    })
  )

  it.scoped("the last replica to stop summarizes what is pending on its way out, as a lone failmail does", () =>
    Effect.gen(function* () {
      const { shared, a, b } = yield* setup
      yield* advanceTo(2 * SECOND)
      yield* b.accept("disk full")
      yield* advanceTo(5 * SECOND)
      yield* b.close
      yield* advanceTo(10.5 * SECOND)
      yield* a.close
      expect(relayed(shared.relay).map((digest) => [digest.at, digest.messages])).toEqual([[10.5 * SECOND, 1]])
      expect(shared.storage.spool.messages.size).toBe(0)
    })
  )

  it.scoped("a batch overdue when the sender dies goes out as soon as the next one takes over", () =>
    Effect.gen(function* () {
      const { shared, a, b } = yield* setup
      yield* advanceTo(40 * SECOND)
      yield* b.accept("disk full")
      // Due at 70 s; a dies at 66 s, just after renewing: b takes over at 71 s and sends it at once.
      yield* advanceTo(66 * SECOND)
      yield* a.kill
      yield* advanceTo(71 * SECOND - 1)
      expect(relayed(shared.relay)).toEqual([])
      yield* advanceTo(71 * SECOND)
      expect(relayed(shared.relay).map((digest) => [digest.at, digest.messages])).toEqual([[71 * SECOND, 1]])
    })
  )

  it.scoped("a claim that comes back after the sender's lease expired is not relayed by it: the next sender sends it, once", () =>
    Effect.gen(function* () {
      const { shared, a } = yield* setup
      yield* advanceTo(2 * SECOND)
      yield* a.accept("disk full")
      // At 32 s a claims the summary; the database records it, then takes 12 s to answer, and a loses it meanwhile.
      a.link.claimDelay = 12 * SECOND
      yield* advanceTo(32 * SECOND)
      a.link.cut = true
      // a's lease (renewed at 32 s) expires at 37 s: b takes over and sends the claimed summary; a's claim answers at 44 s.
      yield* advanceTo(37 * SECOND)
      yield* advanceTo(60 * SECOND)
      expect(relayed(shared.relay).map((digest) => [digest.at, digest.messages])).toEqual([[37 * SECOND, 1]])
      expect([...shared.cluster.claims.values()].map((entry) => entry.state)).toEqual(["sent"])
      expect(shared.storage.spool.messages.size).toBe(0)
    })
  )

  it.scoped("a summary relayed but not recorded sent is sent again by the next sender, under the same Message-ID", () =>
    Effect.gen(function* () {
      const { shared, a, b } = yield* setup
      yield* advanceTo(2 * SECOND)
      yield* a.accept("disk full")
      yield* b.accept("disk full")
      // The relay takes the summary at 32 s, but a loses the cluster before it can record it sent.
      yield* shared.relay.pause
      yield* advanceTo(32 * SECOND)
      expect(shared.relay.attempts).toHaveLength(1)
      a.link.cut = true
      yield* shared.relay.resume
      yield* advanceTo(33 * SECOND)
      expect(relayed(shared.relay)).toHaveLength(1)
      expect(shared.cluster.claims.size).toBe(1)
      // a's lease (renewed at 32 s) expires at 37 s; b takes over then and sends the claimed summary again, as it was.
      yield* advanceTo(37 * SECOND)
      const digests = relayed(shared.relay)
      expect(digests.map((digest) => [digest.at, digest.messages])).toEqual([
        [32 * SECOND, 2],
        [37 * SECOND, 2]
      ])
      const [first, again] = digests.map((digest) => messageIdOf(digest.raw))
      expect(first).toMatch(/^<[0-9a-f]{40}@test>$/)
      expect(again).toBe(first)
      expect(shared.storage.spool.messages.size).toBe(0)
      expect([...shared.cluster.claims.values()].map((entry) => entry.state)).toEqual(["sent"])
      yield* a.close
    })
  )

  it.scoped("kill -9 of the sender, whenever in its renewal cycle, with a batch due: the other replica's summary is upstream within 10 s, once", () =>
    Effect.gen(function* () {
      // Kill moments spread over a renewal period; b looks just before each of a's renewals, the worst phase for it.
      for (const offset of [1, 1_000, 2_000, 2_999]) {
        const start = yield* Clock.currentTimeMillis
        const shared = { storage: memoryStorage(), cluster: memoryCluster(), relay: yield* recordingRelay() }
        const a = yield* replica(shared)
        yield* advanceTo(start + 999)
        const b = yield* replica(shared)
        yield* advanceTo(start + 5 * SECOND)
        yield* b.accept("disk full")
        // Due at 35 s (--wait-period 30s); a dies before it sends it.
        const killedAt = start + 32 * SECOND + offset
        yield* advanceTo(killedAt)
        yield* a.kill
        for (let at = killedAt; at <= killedAt + 12 * SECOND; at += 250) yield* advanceTo(at)
        const digests = relayed(shared.relay)
        expect(digests.map((digest) => digest.messages), `killed ${offset} ms into the cycle`).toEqual([1])
        expect((digests[0]?.at ?? Infinity) - killedAt, `killed ${offset} ms into the cycle`).toBeLessThanOrEqual(10 * SECOND)
        yield* b.close
      }
    }),
    60_000
  )

  it.scoped("the database stalls for 2 s: no replica takes over from the live sender, which keeps its lease and sends on time", () =>
    Effect.gen(function* () {
      const stall: Stall = { until: 0 }
      const shared = { storage: memoryStorage(), cluster: memoryCluster(), relay: yield* recordingRelay() }
      const behindStall = () =>
        startPipeline(testConfig("/failmail-test"), shared.relay.layer, {
          storage: shared.storage,
          cluster: Cluster.fromBackend(Effect.map(memoryBackend(shared.cluster), (backend) => stalling(backend, stall)))
        })
      const a = yield* behindStall()
      yield* advanceTo(500)
      const b = yield* behindStall()
      const sender = shared.cluster.lease.holder
      yield* advanceTo(2 * SECOND)
      yield* b.intake.accept(rawMessage({ subject: "disk full" }), { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] })
      // From 20.2 s to 22.2 s nothing answers; what was asked meanwhile is answered after.
      yield* advanceTo(20.2 * SECOND)
      stall.until = 22.2 * SECOND
      for (let at = 20.2 * SECOND; at <= 31.9 * SECOND; at += 100) {
        yield* advanceTo(at)
        expect(shared.cluster.lease, `at ${at} ms`).toMatchObject({ holder: sender, generation: 1 })
      }
      yield* advanceTo(32 * SECOND)
      expect(relayed(shared.relay).map((digest) => [digest.at, digest.messages])).toEqual([[32 * SECOND, 1]])
      expect((yield* a.batcher.counts).messages).toBe(0)
      yield* advanceTo(60 * SECOND)
      expect(relayed(shared.relay)).toHaveLength(1)
      expect(shared.cluster.lease).toMatchObject({ holder: sender, generation: 1 })
    })
  )
})
