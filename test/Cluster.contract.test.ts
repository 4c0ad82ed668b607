/**
 * The Cluster service on the TestClock: the sender role over the lease
 * (taken, renewed, expired, taken over within the bound), fencing of a
 * stale holder, claims and the record of sending, what the sender follows
 * of other replicas' arrivals, and the view of `GET /api/cluster`. The role
 * logic is the same code over every backend; it runs here over the
 * in-memory one, and the backend contract (`support/clusterContract.ts`)
 * runs on it here and on PostgreSQL in `PostgresCluster.test.ts`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as Lease from "../src/domain/cluster/Lease.ts"
import { AppConfig } from "../src/services/runtime/AppConfig.ts"
import { Cluster, type ClusterBackend, type ClusterShape } from "../src/services/cluster/Cluster.ts"
import { Store, type StoreShape } from "../src/services/store/Store.ts"
import { clusterInMemory, type Link, memoryBackend, memoryCluster } from "./support/cluster.ts"
import { backendContract, claimOf } from "./support/clusterContract.ts"
import { memorySpool, memoryState, storeInMemory } from "./support/memory.ts"
import { advanceTo, putMessage, testConfig, trackFibers } from "./support/pipeline.ts"

/** A cluster backend as the contract sees it. */
interface ClusterUnderTest {
  /** A new replica's cluster service on the shared state, reaching it through `link` (not running yet). */
  readonly replica: (link: Link) => Effect.Effect<ClusterShape, never, Scope.Scope>
  /** The shared state itself, as no replica in particular reaches it. */
  readonly backend: ClusterBackend
  /** The store the replicas share. */
  readonly store: StoreShape
}

const config = AppConfig.layer(testConfig("/failmail-test"))

const memory: Effect.Effect<ClusterUnderTest, never, Scope.Scope> = Effect.gen(function* () {
  const shared = memoryCluster()
  const storeLayer = storeInMemory(memorySpool(), memoryState())
  const store = Context.get(yield* Layer.build(storeLayer), Store)
  return {
    store,
    backend: yield* memoryBackend(shared).pipe(Effect.provide(storeLayer)),
    replica: (link) =>
      Effect.map(Layer.build(clusterInMemory(shared, link).pipe(Layer.provide(Layer.merge(storeLayer, config)))), (context) =>
        Context.get(context, Cluster)
      )
  }
})

/** A running replica: its cluster service, its link, whether it sends now, how often it became the sender. */
interface Running {
  readonly cluster: ClusterShape
  readonly link: Link
  readonly role: { sender: boolean; gained: number }
  /** Stops it as a stop does (the lease let go, if the link allows). */
  readonly stop: Effect.Effect<void>
}

const start = (under: ClusterUnderTest) =>
  Effect.gen(function* () {
    const link: Link = { cut: false }
    const cluster = yield* under.replica(link)
    const role = { sender: false, gained: 0 }
    yield* cluster.whileSender(
      Effect.gen(function* () {
        role.sender = true
        role.gained++
        yield* Effect.addFinalizer(() => Effect.sync(() => (role.sender = false)))
      })
    )
    const scope = yield* Scope.make()
    yield* Scope.extend(cluster.run, scope)
    yield* advanceTo(0)
    return { cluster, link, role, stop: Scope.close(scope, Exit.void) } satisfies Running
  })

const SECOND = 1000

const contract = (name: string, open: Effect.Effect<ClusterUnderTest, never, Scope.Scope>) =>
  describe(`Cluster role over a backend (${name})`, () => {
    it.scoped("the first replica takes the lease at once and keeps it, renewing it every second", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        expect(a.role.sender).toBe(true)
        yield* advanceTo(60 * SECOND)
        expect(a.role).toEqual({ sender: true, gained: 1 })
        expect(yield* under.backend.lease).toEqual({ holder: a.cluster.self, generation: 1, expiresAt: 60 * SECOND + Lease.TTL_MS })
      })
    )

    it.scoped("a second replica does not send while the lease is renewed; both are listed, with the sender", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        yield* advanceTo(1.5 * SECOND)
        const b = yield* start(under)
        yield* advanceTo(60 * SECOND)
        expect([a.role.sender, b.role.sender]).toEqual([true, false])
        const view = yield* b.cluster.view
        expect(view.self).toBe(b.cluster.self)
        expect(view.sender).toBe(a.cluster.self)
        expect(view.replicas.map((replica) => replica.id).sort()).toEqual([a.cluster.self, b.cluster.self].sort())
        // Heartbeats every second: a's last at 60 s, b's at 59.5 s.
        expect(view.replicas.find((replica) => replica.id === a.cluster.self)?.heartbeatAt).toBe(60 * SECOND)
        expect(view.replicas.find((replica) => replica.id === b.cluster.self)?.heartbeatAt).toBe(59.5 * SECOND)
      })
    )

    it.scoped("takeover: when the sender stops renewing, the next takes over once its lease expired, within TTL + one renewal period", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        yield* advanceTo(1 * SECOND)
        const b = yield* start(under)
        yield* advanceTo(10.5 * SECOND)
        // A cable cut (or a kill -9): a's last renewal was at 10 s, so its lease holds until 15 s.
        a.link.cut = true
        yield* advanceTo(15 * SECOND - 1)
        expect([a.role.sender, b.role.sender]).toEqual([true, false])
        yield* advanceTo(15 * SECOND)
        // a stops when its lease expires, unrenewed; b (trying at 1, 2, … 15 s) takes it at once.
        expect([a.role.sender, b.role.sender]).toEqual([false, true])
        expect(15 * SECOND - 10.5 * SECOND).toBeLessThanOrEqual(Lease.TAKEOVER_BOUND_MS)
        expect(yield* under.backend.lease).toEqual({ holder: b.cluster.self, generation: 2, expiresAt: 15 * SECOND + Lease.TTL_MS })
        // a's link comes back: it does not take the lease back.
        a.link.cut = false
        yield* advanceTo(40 * SECOND)
        expect([a.role.sender, b.role.sender]).toEqual([false, true])
      })
    )

    it.scoped("the worst case is the bound: a sender dying just after a renewal, the next looking just before it expires", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        // a renews at 0, 1, 2 … s; b looks at 0.999, 1.999 … s.
        yield* advanceTo(999)
        const b = yield* start(under)
        yield* advanceTo(9 * SECOND)
        // a dies just after its renewal at 9 s: its lease holds until 14 s; b looks at 13.999 s (too early), then 14.999 s.
        a.link.cut = true
        yield* advanceTo(14_999 - 1)
        expect(b.role.sender).toBe(false)
        yield* advanceTo(14_999)
        expect(b.role.sender).toBe(true)
        expect(14_999 - 9 * SECOND).toBeLessThan(Lease.TAKEOVER_BOUND_MS)
      })
    )

    it.scoped("a sender that cannot reach the cluster stops sending when its lease expires, and sends again once it can", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        yield* advanceTo(10.5 * SECOND)
        a.link.cut = true
        yield* advanceTo(15 * SECOND - 1)
        expect(a.role.sender).toBe(true)
        yield* advanceTo(15 * SECOND)
        expect(a.role.sender).toBe(false)
        a.link.cut = false
        yield* advanceTo(17 * SECOND)
        expect(a.role).toEqual({ sender: true, gained: 2 })
      })
    )

    it.scoped("a replica that stops lets the lease go: the next takes over at its next try, not after the TTL", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        yield* advanceTo(1 * SECOND)
        const b = yield* start(under)
        yield* advanceTo(10.5 * SECOND)
        yield* a.stop
        expect(a.role.sender).toBe(false)
        yield* advanceTo(13 * SECOND)
        expect(b.role.sender).toBe(true)
      })
    )

    it.scoped("a stale holder is fenced off: once another took over, its claims fail, even while its own clock says its lease holds", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        const stale = yield* under.backend.lease
        expect(stale.holder).toBe(a.cluster.self)
        yield* a.cluster.claim(claimOf("first", []))
        // b's clock runs 20 s ahead: to it, a's lease has expired.
        const taken = yield* under.backend.acquire("b", 20 * SECOND)
        expect(taken?.generation).toBe(stale.generation + 1)
        const refused = yield* Effect.flip(under.backend.claim(stale, 1 * SECOND, claimOf("second", [])))
        expect(refused._tag).toBe("Fenced")
        expect((yield* Effect.flip(a.cluster.claim(claimOf("third", []))))._tag).toBe("Fenced")
        // a learns at its next renewal that it lost the lease, and stops.
        yield* advanceTo(3 * SECOND)
        expect(a.role.sender).toBe(false)
        expect((yield* under.backend.unfinished).map((claim) => claim.summaryId)).toEqual(["first"])
      })
    )

    it.scoped("a claim is unfinished until recorded sent, which removes its messages from the store; recording it twice is the same", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        const one = yield* putMessage(under.store, "one")
        const two = yield* putMessage(under.store, "two")
        const claim = claimOf("summary-1", [one.id, two.id])
        yield* a.cluster.claim(claim)
        yield* a.cluster.claim(claim)
        expect(yield* a.cluster.unfinished).toEqual([claim])
        yield* a.cluster.recordSent(claim)
        yield* a.cluster.recordSent(claim)
        expect(yield* a.cluster.unfinished).toEqual([])
        expect(yield* under.store.recover).toEqual([])
      })
    )

    it.scoped("the sender follows what every replica stores: each message once, none it already took", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        const recovered = yield* putMessage(under.store, "recovered")
        const arrivals = yield* a.cluster.follow([recovered.id])
        const local = yield* putMessage(under.store, "taken by the sender's own intake")
        expect(arrivals.admit(local.id)).toBe(true)
        const other = yield* putMessage(under.store, "stored by another replica")
        expect((yield* arrivals.poll).map((record) => record.subject)).toEqual(["stored by another replica"])
        expect(yield* arrivals.poll).toEqual([])
        expect(arrivals.admit(other.id)).toBe(false)
      })
    )

    it.scoped("with nobody holding a live lease, the view names no sender", () =>
      Effect.gen(function* () {
        yield* trackFibers
        const under = yield* open
        const a = yield* start(under)
        a.link.cut = true
        yield* advanceTo(20 * SECOND)
        a.link.cut = false
        const view = yield* Effect.flatMap(under.replica({ cut: false }), (cluster) => cluster.view)
        expect(view.sender).toBeUndefined()
        expect(view.replicas.map((replica) => replica.id)).toEqual([a.cluster.self])
      })
    )
  })

contract("in memory", memory)

backendContract("in memory", memory)

describe("Cluster.single (the embedded store)", () => {
  it.scoped("one replica, always the sender, with nothing to run or record: a summary recorded sent stays in the store (the Dispatcher removes it)", () =>
    Effect.gen(function* () {
      const storeLayer = storeInMemory(memorySpool(), memoryState())
      const context = yield* Layer.build(Cluster.single.pipe(Layer.provideMerge(Layer.merge(storeLayer, config))))
      const cluster = Context.get(context, Cluster)
      const store = Context.get(context, Store)
      const view = yield* cluster.view
      expect(view.sender).toBe(cluster.self)
      expect(view.replicas.map((replica) => [replica.id, replica.smtp])).toEqual([[cluster.self, "127.0.0.1:0"]])
      const message = yield* putMessage(store, "one")
      yield* cluster.claim(claimOf("s", [message.id]))
      yield* cluster.recordSent(claimOf("s", [message.id]))
      expect((yield* store.recover).map((record) => record.id)).toEqual([message.id])
    })
  )
})
