/**
 * The contract of a cluster backend (see `ClusterBackend` in
 * `src/services/cluster/Cluster.ts`), run against every backend: the in-memory one
 * (`test/Cluster.contract.test.ts`) and PostgreSQL's
 * (`test/PostgresCluster.test.ts`). Times are given explicitly, as replicas'
 * clocks would give them, so the cases are deterministic on a real database.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import * as Lease from "../../src/domain/cluster/Lease.ts"
import type { Replica } from "../../src/domain/cluster/Replica.ts"
import type { Claim, ClusterBackend } from "../../src/services/cluster/Cluster.ts"
import type { StoreShape } from "../../src/services/store/Store.ts"
import { putMessage } from "./pipeline.ts"

/** A backend on fresh shared state, and the store its replicas share. */
export interface BackendUnderTest {
  readonly backend: ClusterBackend
  readonly store: StoreShape
}

const T0 = 1_700_000_000_000

/** A claim of these messages. */
export const claimOf = (summaryId: string, messageIds: ReadonlyArray<string>): Claim => ({
  summaryId,
  recipients: ["ops@example.com"],
  parts: [{ batchKey: "", messageIds }]
})

const replicaOf = (id: string, heartbeatAt: number): Replica => ({
  id,
  hostname: "host",
  smtp: "127.0.0.1:2525",
  http: "127.0.0.1:8025",
  version: "0.1.0",
  heartbeatAt
})

/** Runs the backend contract against the backends `open` makes. */
export const backendContract = (name: string, open: Effect.Effect<BackendUnderTest, never, Scope.Scope>) =>
  describe(`cluster backend contract (${name})`, () => {
    it.scopedLive("the lease: the first asker takes it; renewing keeps its generation; another is refused until it expires, then takes it", () =>
      Effect.gen(function* () {
        const { backend } = yield* open
        expect(yield* backend.lease).toEqual(Lease.vacant)
        expect(yield* backend.acquire("a", T0)).toEqual({ holder: "a", generation: 1, expiresAt: T0 + Lease.TTL_MS })
        expect(yield* backend.acquire("a", T0 + 3000)).toEqual({ holder: "a", generation: 1, expiresAt: T0 + 3000 + Lease.TTL_MS })
        expect(yield* backend.acquire("b", T0 + 3000 + Lease.TTL_MS - 1)).toBeUndefined()
        expect(yield* backend.acquire("b", T0 + 3000 + Lease.TTL_MS)).toEqual({
          holder: "b",
          generation: 2,
          expiresAt: T0 + 3000 + 2 * Lease.TTL_MS
        })
        expect(yield* backend.acquire("a", T0 + 3000 + Lease.TTL_MS + 1)).toBeUndefined()
        expect(yield* backend.lease).toEqual({ holder: "b", generation: 2, expiresAt: T0 + 3000 + 2 * Lease.TTL_MS })
      })
    )

    it.scopedLive("replicas asking for a free lease at once: exactly one gets it", () =>
      Effect.gen(function* () {
        const { backend } = yield* open
        const answers = yield* Effect.forEach(["a", "b", "c", "d", "e"], (replica) => backend.acquire(replica, T0), {
          concurrency: "unbounded"
        })
        const holders = answers.filter((lease) => lease !== undefined)
        expect(holders).toHaveLength(1)
        expect((yield* backend.lease).holder).toBe(holders[0]?.holder)
      })
    )

    it.scopedLive("a released lease goes to the next asker at once; a release by a stale holder changes nothing", () =>
      Effect.gen(function* () {
        const { backend } = yield* open
        const a = yield* backend.acquire("a", T0)
        if (a === undefined) return expect.unreachable("a got no lease")
        yield* backend.release(a)
        const b = yield* backend.acquire("b", T0 + 1)
        expect(b).toEqual({ holder: "b", generation: 2, expiresAt: T0 + 1 + Lease.TTL_MS })
        yield* backend.release(a)
        expect(yield* backend.lease).toEqual(b)
      })
    )

    it.scopedLive("fencing: a claim under a lease another took over fails, as does one under an expired lease; the holder's is recorded", () =>
      Effect.gen(function* () {
        const { backend } = yield* open
        const stale = yield* backend.acquire("a", T0)
        if (stale === undefined) return expect.unreachable("a got no lease")
        // b's clock runs ahead: to it, a's lease has expired.
        const current = yield* backend.acquire("b", T0 + Lease.TTL_MS + 5000)
        if (current === undefined) return expect.unreachable("b got no lease")
        expect((yield* Effect.flip(backend.claim(stale, T0 + 1000, claimOf("by-a", []))))._tag).toBe("Fenced")
        expect((yield* Effect.flip(backend.claim(current, current.expiresAt, claimOf("late", []))))._tag).toBe("Fenced")
        yield* backend.claim(current, T0 + Lease.TTL_MS + 6000, claimOf("by-b", []))
        expect((yield* backend.unfinished).map((claim) => claim.summaryId)).toEqual(["by-b"])
      })
    )

    it.scopedLive("a claim is unfinished until recorded sent, which removes its messages in the same step; recording it twice is the same", () =>
      Effect.gen(function* () {
        const { backend, store } = yield* open
        const lease = yield* backend.acquire("a", T0)
        if (lease === undefined) return expect.unreachable("a got no lease")
        const one = yield* putMessage(store, "one")
        const two = yield* putMessage(store, "two")
        const other = yield* putMessage(store, "not in the summary")
        const claim: Claim = {
          summaryId: "summary-1",
          recipients: ["dev@example.com", "ops@example.com"],
          parts: [
            { batchKey: "web", messageIds: [one.id] },
            { batchKey: "db", messageIds: [two.id] }
          ]
        }
        yield* backend.claim(lease, T0 + 1, claim)
        yield* backend.claim(lease, T0 + 2, claim)
        yield* backend.claim(lease, T0 + 3, claimOf("summary-2", [other.id]))
        expect(yield* backend.unfinished).toEqual([claim, claimOf("summary-2", [other.id])])
        yield* backend.recordSentRemovingMessages(claim)
        yield* backend.recordSentRemovingMessages(claim)
        expect(yield* backend.unfinished).toEqual([claimOf("summary-2", [other.id])])
        expect((yield* store.recover).map((record) => record.id)).toEqual([other.id])
      })
    )

    it.scopedLive("arrivals: every message stored, but those taken; asked again from where it left off, only what is new", () =>
      Effect.gen(function* () {
        const { backend, store } = yield* open
        const first = yield* Effect.forEach(["one", "two", "three"], (subject) => putMessage(store, subject))
        const taken = new Set([first[0]?.id ?? ""])
        const page = yield* backend.arrivals(0, (id) => taken.has(id))
        expect(page.records.map((record) => [record.subject, record.receivedAt])).toEqual([
          ["two", first[1]?.receivedAt],
          ["three", first[2]?.receivedAt]
        ])
        for (const record of page.records) taken.add(record.id)
        expect((yield* backend.arrivals(page.next, (id) => taken.has(id))).records).toEqual([])
        const later = yield* putMessage(store, "four")
        expect((yield* backend.arrivals(page.next, (id) => taken.has(id))).records.map((record) => record.id)).toEqual([later.id])
      })
    )

    it.scopedLive("heartbeats: every replica is listed with its last heartbeat and address, until it leaves", () =>
      Effect.gen(function* () {
        const { backend } = yield* open
        yield* backend.heartbeat(replicaOf("a", T0))
        yield* backend.heartbeat(replicaOf("b", T0 + 1000))
        yield* backend.heartbeat(replicaOf("a", T0 + 3000))
        const listed = [...(yield* backend.replicas)].sort((x, y) => (x.id < y.id ? -1 : 1))
        expect(listed).toEqual([replicaOf("a", T0 + 3000), replicaOf("b", T0 + 1000)])
        yield* backend.leave("a")
        expect(yield* backend.replicas).toEqual([replicaOf("b", T0 + 1000)])
      })
    )
  })
