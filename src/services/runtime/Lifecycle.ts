/**
 * Why the service graph is closing: a stop (flush everything) or a reload
 * (pending batches stay in the spool and come back in the new graph with
 * their original arrival times). Lives outside the per-configuration graph;
 * every service whose close depends on it requires it, so tests provide it
 * too (a graph closed while `"running"` is a stop).
 */
import { Deferred, Effect, Ref } from "effect"

/** What the process is doing. */
export type Phase = "running" | "reloading" | "stopping"

/** The process phase. */
export class Lifecycle extends Effect.Service<Lifecycle>()("failmail/Lifecycle", {
  effect: Effect.map(Ref.make<Phase>("running"), (phase) => {
    let quiet: Deferred.Deferred<void> | undefined
    return {
      phase,
      /** True when the graph closes for a reload rather than a stop. */
      isReloading: Effect.map(Ref.get(phase), (current) => current === "reloading"),
      /**
       * A reload's wait for the old graph to go quiet: resolves once that graph
       * takes no more mail and starts no more summaries (its deliveries under
       * way may still run), when the next graph can start beside it.
       */
      nextQuiet: Effect.map(Deferred.make<void>(), (deferred) => (quiet = deferred)),
      /** Said by a graph closing for a reload once it is quiet (see `nextQuiet`). */
      quiesced: Effect.suspend(() => (quiet === undefined ? Effect.void : Deferred.succeed(quiet, undefined)))
    }
  })
}) {}
