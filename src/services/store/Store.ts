/**
 * The one place where anything failmail must not lose lives: the messages it
 * acknowledged and has not yet summarized, and its small named state (the
 * relay budget's send log, the memory of reported groups, silences,
 * expectations, the link-signing key).
 *
 * This module is the contract; each layer is one implementation of it (the
 * embedded store under `--message-store`, the in-memory one the TestClock
 * tests use, and the PostgreSQL one behind `--store`), and one contract
 * suite (`test/Store.contract.test.ts`) runs against every layer.
 *
 * The promises every layer keeps:
 * - `put` answers and `restore` resolves only once the message is durable
 *   (on stable storage, or committed), so the SMTP 250 that follows is kept
 *   across a crash; when it cannot be stored they give a {@link SpoolError}
 *   and nothing of it is kept;
 * - `remove` is durable once it resolves: a removed message never comes back
 *   at `recover` (it would be summarized twice);
 * - `recover` gives every pending message with its original arrival time,
 *   oldest first;
 * - `save` resolves once the document (or a later value of it) is durable,
 *   and a document read back is one that was saved whole, never a mix.
 */
import { Context, Data, Duration, type Effect, type Either } from "effect"
import type { Envelope, Keys } from "../../domain/message/Message.ts"

/** What is stored with each message besides its raw bytes. */
export interface SpoolRecord {
  readonly id: string
  /** `Clock` time at which it was acknowledged (ms since the epoch). */
  readonly receivedAt: number
  readonly envelope: Envelope
  readonly keys: Keys
  readonly subject: string
  readonly sender: string
  readonly size: number
}

/** A message could not be stored, read or listed. */
export class SpoolError extends Data.TaggedError("SpoolError")<{ readonly operation: string; readonly cause: unknown }> {
  override get message(): string {
    return `spool ${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }

  /** Whether what was asked for is not in the store (`ENOENT`), as opposed to a failing store. */
  get isMissing(): boolean {
    return typeof this.cause === "object" && this.cause !== null && (this.cause as { code?: unknown }).code === "ENOENT"
  }
}

/** A named state document could not be read or written. */
export class StateError extends Data.TaggedError("StateError")<{ readonly operation: string; readonly cause: unknown }> {
  override get message(): string {
    return `state ${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/** A `cause` for {@link SpoolError} that says the message is not there (its `isMissing` is true). */
export const missing = (what: string): Error => Object.assign(new Error(`${what}: no such message`), { code: "ENOENT" })

/** How long a health probe's answer stands, so probes hammering `/healthz` cost one store write a second. */
export const HEALTH_TTL = Duration.seconds(1)

/** What is stored with a new message, besides the id and arrival time the store gives it. */
export type NewRecord = Omit<SpoolRecord, "id" | "receivedAt">

/** How a put ended: the record stored, or why nothing of it was. */
export type PutOutcome = Either.Either<SpoolRecord, SpoolError>

/** What every store layer provides (see the module comment for the promises). */
export interface StoreShape {
  /**
   * Stores a message durably under a new id and `receivedAt`, and calls
   * `done` once it is durable, or with why nothing of it was stored. Plain
   * code, not an effect: it is on the SMTP hot path, where a fiber per
   * message cost more than the rest of the intake (see `smtp/MessageIntake.ts`).
   */
  readonly put: (fields: NewRecord, raw: Uint8Array, receivedAt: number, done: (outcome: PutOutcome) => void) => void
  /**
   * Stores a message taken in from an older store, under the id and arrival
   * time it brings (see `isSpoolId`); durable once it resolves. Storing an
   * id again replaces it, so an import interrupted and run again makes no copy.
   */
  readonly restore: (record: SpoolRecord, raw: Uint8Array) => Effect.Effect<void, SpoolError>
  /** Deletes messages whose summaries were relayed or filed; ids it does not hold are ignored. */
  readonly remove: (ids: ReadonlyArray<string>) => Effect.Effect<void>
  /** The raw bytes of a stored message (a {@link SpoolError} whose `isMissing` is true if it is not held). */
  readonly readRaw: (id: string) => Effect.Effect<Buffer, SpoolError>
  /** Every pending message, oldest first (for recovery after a restart, and for listing). */
  readonly recover: Effect.Effect<ReadonlyArray<SpoolRecord>, SpoolError>
  /** Whether a message could be stored now (probed for real, at most once per {@link HEALTH_TTL}). */
  readonly checkHealth: Effect.Effect<boolean>
  /** The document `name` as last saved, or `undefined` if it was never saved. */
  readonly load: (name: string) => Effect.Effect<unknown, StateError>
  /**
   * Replaces the document `name` with what `value` returns (called when the
   * write happens: it must return the state as of that moment); resolves
   * once it (or a later value) is durable.
   */
  readonly save: (name: string, value: () => unknown) => Effect.Effect<void, StateError>
}

/** The durable store failmail runs on. */
export class Store extends Context.Tag("failmail/Store")<Store, StoreShape>() {}
