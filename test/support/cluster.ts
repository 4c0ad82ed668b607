/**
 * An in-memory cluster backend, for tests that run several pipelines on the
 * `TestClock` against one shared in-memory store: the same contract as
 * `PostgresCluster` (`test/Cluster.contract.test.ts` runs the same cases
 * against both). Each step is atomic, as a transaction is.
 */
import { Duration, Effect } from "effect"
import * as Lease from "../../src/domain/cluster/Lease.ts"
import type { Replica } from "../../src/domain/cluster/Replica.ts"
import { type Claim, Cluster, type ClusterBackend, ClusterError, Fenced, messageIdsOf } from "../../src/services/cluster/Cluster.ts"
import { SpoolError, Store } from "../../src/services/store/Store.ts"

/** What an in-memory cluster holds; it outlives the layers built on it, as a database does. */
export interface MemoryCluster {
  lease: Lease.Lease
  readonly replicas: Map<string, Replica>
  /** Claims by summary id, with their state. */
  readonly claims: Map<string, { readonly claim: Claim; state: "sending" | "sent" }>
  /** While set, every operation fails (the database cannot be reached). */
  unreachable: boolean
}

/** An empty in-memory cluster. */
export const memoryCluster = (): MemoryCluster => ({ lease: Lease.vacant, replicas: new Map(), claims: new Map(), unreachable: false })

/** A {@link ClusterBackend} kept in `contents`, whose messages are those of the {@link Store} in context. */
export const memoryBackend = (contents: MemoryCluster): Effect.Effect<ClusterBackend, never, Store> =>
  Effect.gen(function* () {
    const store = yield* Store
    const reachable = <A, E>(operation: string, step: () => Effect.Effect<A, E>): Effect.Effect<A, E | ClusterError> =>
      Effect.suspend((): Effect.Effect<A, E | ClusterError> =>
        contents.unreachable ? Effect.fail(new ClusterError({ operation, cause: new Error("unreachable (test)") })) : step()
      )
    return {
      heartbeat: (replica) => reachable("heartbeat", () => Effect.sync(() => void contents.replicas.set(replica.id, replica))),
      leave: (replica) => reachable("leave", () => Effect.sync(() => void contents.replicas.delete(replica))),
      acquire: (replica, now) =>
        reachable("acquire", () =>
          Effect.sync(() => {
            const next = Lease.acquire(contents.lease, replica, now)
            if (next !== undefined) contents.lease = next
            return next
          })
        ),
      release: (held) =>
        reachable("release", () => Effect.sync(() => void (contents.lease = Lease.released(contents.lease, held.holder, held.generation)))),
      lease: reachable("lease", () => Effect.sync(() => contents.lease)),
      replicas: reachable("replicas", () => Effect.sync(() => [...contents.replicas.values()])),
      claim: (held, now, claim) =>
        reachable("claim", () =>
          Effect.suspend(() => {
            if (!Lease.holds(contents.lease, held, now)) return Effect.fail(new Fenced({ replica: held.holder }))
            contents.claims.set(claim.summaryId, { claim, state: "sending" })
            return Effect.void
          })
        ),
      recordSentRemovingMessages: (claim) =>
        reachable("record sent", () =>
          Effect.zipRight(
            store.remove(messageIdsOf(claim)),
            Effect.sync(() => void contents.claims.set(claim.summaryId, { claim, state: "sent" }))
          )
        ),
      unfinished: reachable("unfinished", () =>
        Effect.sync(() => [...contents.claims.values()].filter((entry) => entry.state === "sending").map((entry) => entry.claim))
      ),
      arrivals: (_after, taken) =>
        Effect.map(store.recover, (records) => ({
          records: records.filter((record) => !taken(record.id)),
          next: 0,
          present: records.map((record) => record.id)
        }))
    } satisfies ClusterBackend
  })

/** A {@link Cluster} replica on the in-memory cluster `contents` (and the store in context), reaching it through `link`. */
export const clusterInMemory = (contents: MemoryCluster, link: Link = { cut: false }) =>
  Cluster.fromBackend(Effect.map(memoryBackend(contents), (backend) => through(backend, link)))

/** A network between one replica and the cluster's shared state, that a test can cut (as a cable, or a `kill -9` that leaves no trace). */
export interface Link {
  cut: boolean
  /** How long a claim takes to come back once recorded (a slow database), in ms of the Clock. */
  claimDelay?: number
}

/** `backend` as one replica reaches it through `link`: while the link is cut, every operation fails. */
export const through = (backend: ClusterBackend, link: Link): ClusterBackend => {
  const guard = <A, E>(operation: string, step: Effect.Effect<A, E>): Effect.Effect<A, E | ClusterError> =>
    Effect.suspend((): Effect.Effect<A, E | ClusterError> =>
      link.cut ? Effect.fail(new ClusterError({ operation, cause: new Error("link cut (test)") })) : step
    )
  return {
    heartbeat: (replica) => guard("heartbeat", backend.heartbeat(replica)),
    leave: (replica) => guard("leave", backend.leave(replica)),
    acquire: (replica, now) => guard("acquire", backend.acquire(replica, now)),
    release: (held) => guard("release", backend.release(held)),
    lease: guard("lease", backend.lease),
    replicas: guard("replicas", backend.replicas),
    claim: (held, now, claim) =>
      guard("claim", Effect.zipLeft(backend.claim(held, now, claim), Effect.sleep(Duration.millis(link.claimDelay ?? 0)))),
    recordSentRemovingMessages: (claim) => guard("record sent", backend.recordSentRemovingMessages(claim)),
    unfinished: guard("unfinished", backend.unfinished),
    arrivals: (after, taken) =>
      Effect.suspend(() =>
        link.cut ? Effect.fail(new SpoolError({ operation: "arrivals", cause: new Error("link cut (test)") })) : backend.arrivals(after, taken)
      )
  }
}
