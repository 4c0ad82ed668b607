/**
 * The context a log line carries as fields (Effect log annotations) instead
 * of a prefix in its text, so `--log-format=json` gives a log pipeline
 * something to filter on and the text format shows the same fields as
 * `key=value`. The keys are a small fixed vocabulary (docs/operations.md,
 * "Log lines"); each service annotates its own scope once.
 */
import { Effect, FiberRef, HashMap } from "effect"

/** Which part of failmail wrote a line. */
export type Component =
  | "lifecycle"
  | "reload"
  | "smtp"
  | "http"
  | "spool"
  | "store-import"
  | "classifier"
  | "batcher"
  | "cluster"
  | "outbox"
  | "dispatcher"
  | "history"
  | "renderer"
  | "relay-all"
  | "all-dir"
  | "fail-dir"
  | "silences"
  | "expectations"

/** Every field a log line may carry besides its message, level, time and fiber. */
export type LogFields = {
  readonly component?: Component
  /** The batch key of the batch the line is about. */
  readonly batch?: string
  /** The id of the summary the line is about (as in `/api/summaries` and the dashboard). */
  readonly summary?: number
  /** smtp-server's id of the SMTP connection the line is about. */
  readonly connection?: string
}

/** Adds `fields` to the log lines of `effect` (and of the fibers it forks). */
export const annotate = (fields: LogFields) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.annotateLogs(effect, fields)

/**
 * Gives `effect` exactly `fields`, dropping the fields of whoever forked it:
 * for the fibers a service keeps for itself (a batch's timer, a delivery)
 * that are started from a caller's fiber, such as an SMTP connection's.
 */
export const own = (fields: LogFields) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, FiberRef.currentLogAnnotations, HashMap.fromIterable(Object.entries(fields)))
