/**
 * State that belongs to the sender: what only the replica that sends holds
 * (the pending batches, the relay budget, the memory of reported groups,
 * silences, expectations, the summary history). Every service that holds
 * such state keeps it through {@link make}, so they all follow one rule:
 *
 * - it is loaded when this replica gains the sender role, in a scope that
 *   ends with the role (fibers the load forks and finalizers it adds end
 *   when the role does). Alone (the embedded store), the role is the
 *   service's whole life: the state is loaded when the service starts;
 * - it is saved by the service as it changes ({@link saving}); when the role ends with this replica stopping and no other
 *   to take over (alone: at every stop or reload), what is pending is
 *   flushed first;
 * - it is cleared when the role is lost, so a former sender neither acts on
 *   nor writes back a stale view: the next sender loads it afresh.
 *
 * One error policy. A save that fails is logged, and made again at the next
 * change (the state stays in memory). A load that fails is logged and is
 * never fatal to failmail: in a cluster the role is let go, so that it is
 * gained afresh (by this replica or another) and every part of it loaded
 * again, rather than sending without it (summarizing silenced mail, or
 * writing an empty document over the stored one). Alone, the role cannot
 * be handed over: failmail does not start, as with a store it cannot read.
 */
import { Effect, Exit, type Scope } from "effect"
import * as LogContext from "../../domain/LogContext.ts"
import { Cluster } from "./Cluster.ts"

/** What a service tells {@link make} about the state it holds for the sender. */
export interface Options<E> {
  /** What the state is, for the log: "the kept silences". */
  readonly what: string
  /** Whose lines the helper's log lines are. */
  readonly component?: LogContext.Component
  /** Takes the stored state in, when the role is gained; runs in the role's scope. */
  readonly load: Effect.Effect<void, E, Scope.Scope>
  /** When the role ends with this replica stopping and no other to take over (alone: always), before the state is cleared. */
  readonly flush?: Effect.Effect<void>
  /** Forgets the state when the role is lost (in a cluster; alone it goes with the service). */
  readonly clear?: Effect.Effect<void>
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const inComponent = (component: LogContext.Component | undefined) =>
  component === undefined ? <A, E, R>(effect: Effect.Effect<A, E, R>) => effect : LogContext.annotate({ component })

/** Keeps a service's state for the sender role (see the module comment); alone, fails as its load fails. */
export const make = <E>(options: Options<E>): Effect.Effect<void, E, Cluster | Scope.Scope> =>
  Effect.gen(function* () {
    const cluster = yield* Cluster
    const { flush, clear } = options
    yield* cluster.whileSender(
      Effect.gen(function* () {
        if (flush !== undefined || (clear !== undefined && !cluster.alone)) {
          // Added before the load, so it runs after what the load started (timers) has ended.
          yield* Effect.addFinalizer((exit) =>
            Effect.zipRight(
              flush !== undefined && (cluster.alone || Exit.isSuccess(exit)) ? flush : Effect.void,
              clear !== undefined && !cluster.alone ? clear : Effect.void
            )
          )
        }
        yield* options.load.pipe(Effect.tapError((error) => Effect.logError(`${options.what} cannot be read: ${messageOf(error)}`)))
      }).pipe(inComponent(options.component))
    )
  })

/**
 * The save of a sender's state, `write`, under the one policy: a failure is
 * logged (the state stays in memory, and the next change writes it again),
 * never the caller's.
 */
export const saving = <E>(what: string, component: LogContext.Component | undefined, write: Effect.Effect<void, E>): Effect.Effect<void> =>
  write.pipe(
    Effect.catchAll((error) => Effect.logWarning(`${what} could not be saved; saving again at the next change: ${messageOf(error)}`)),
    inComponent(component)
  )
