/**
 * The Effect forms of failmail's plain-code hot path, for tests: the
 * services give one form each (plain code with a callback, so a message
 * costs no fiber), and a test that runs on the `TestClock` wants an effect
 * to `yield*`. Each helper wraps the one form; none adds behaviour.
 */
import { Clock, Effect } from "effect"
import type { Envelope } from "../../src/domain/message/Message.ts"
import type { MessageIntake } from "../../src/services/smtp/MessageIntake.ts"
import type { NewRecord, SpoolError, SpoolRecord, StoreShape } from "../../src/services/store/Store.ts"

/** `store.put` as an effect: stores a message at the current `Clock` time; fails when nothing of it was stored. */
export const put = (store: Pick<StoreShape, "put">, fields: NewRecord, raw: Uint8Array): Effect.Effect<SpoolRecord, SpoolError> =>
  Effect.flatMap(Clock.currentTimeMillis, (receivedAt) =>
    Effect.async<SpoolRecord, SpoolError>((resume) => store.put(fields, raw, receivedAt, resume))
  )

/** `intake.accept` as an effect: fails only when the message could not be stored (the SMTP client would get a 451). */
export const accept = (intake: Pick<MessageIntake, "accept">, raw: Uint8Array, envelope: Envelope): Effect.Effect<void, SpoolError> =>
  Effect.async((resume) => intake.accept(raw, envelope, undefined, (error) => resume(error === undefined ? Effect.void : Effect.fail(error))))

/** A pipeline's intake as tests use it: `accept` as an effect. */
export interface TestIntake {
  readonly accept: (raw: Uint8Array, envelope: Envelope) => Effect.Effect<void, SpoolError>
}

/** {@link TestIntake} over the real intake. */
export const testIntake = (intake: Pick<MessageIntake, "accept">): TestIntake => ({
  accept: (raw, envelope) => accept(intake, raw, envelope)
})
