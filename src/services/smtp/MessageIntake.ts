/**
 * What happens to a received message before the SMTP 250: it is decoded,
 * keyed, written durably to the spool and added to its batch. After that,
 * in the background, `--all-dir` archives it as received and `--relay-all`
 * relays it unchanged with its original envelope (a copy that cannot be
 * relayed, or is still pending when failmail stops, goes to the fail-dir).
 *
 * This module is the one boundary of the SMTP hot path: the path from the
 * listener's DATA to the 250 ({@link MessageIntake.accept}) is plain code
 * with callbacks, because a fiber per message cost more CPU than everything
 * else failmail does for it (profiled, see docs/performance.md). The
 * services it calls give effects; one that is already finished when
 * returned (an `Exit`: the keys of a header-only expression, a message
 * joining an open batch) is taken at once, and only one that has work left
 * (a body to decode, an expectation to check, a new batch's timer to start,
 * a warning to log) is run, on the runtime of the layer that built this
 * service, so its log lines keep their annotations. Every `Runtime.run*`
 * the path needs is here.
 */
import { Cause, Effect, Either, Exit, FiberSet, Runtime } from "effect"
import * as LogContext from "../../domain/LogContext.ts"
import { type Envelope, receivedOf } from "../../domain/message/Message.ts"
import { retryPolicy } from "../../domain/delivery/RelayRetry.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { Batcher } from "../batching/Batcher.ts"
import { type Classified, Classifier } from "../message/Classifier.ts"
import { History } from "../delivery/History.ts"
import { Maildir } from "../delivery/Maildir.ts"
import { Metrics } from "../runtime/Metrics.ts"
import { Relay } from "../delivery/Relay.ts"
import { SpoolError, type SpoolRecord, Store } from "../store/Store.ts"

/** Called once a message is stored and batched, or with why it could not be stored. */
type Done = (error: SpoolError | undefined) => void
/** Puts an effect in the context of one connection (its log lines name it). */
type Within = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

/** Accepts received messages into the pipeline. */
export class MessageIntake extends Effect.Service<MessageIntake>()("failmail/MessageIntake", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const classifier = yield* Classifier
    const store = yield* Store
    const batcher = yield* Batcher
    const relay = yield* Relay
    const history = yield* History
    const metrics = yield* Metrics
    const maildir = yield* Maildir
    const background = yield* FiberSet.make<void>()

    const archive = (raw: Uint8Array) =>
      maildir.deliver(config.allDir, raw).pipe(
        Effect.catchAll((error) => Effect.logError(`message not archived: ${error.message}`)),
        Effect.asVoid,
        LogContext.annotate({ component: "all-dir" })
      )

    const fileCopy = (raw: Uint8Array, why: string) =>
      Effect.logError(`message not relayed (${why}); filing it in the fail-dir`).pipe(
        Effect.zipRight(maildir.deliver(config.failDir, raw)),
        Effect.catchAll((failure) => Effect.logError(`message not filed: ${failure.message}`))
      )

    // A copy still being relayed (or waiting to retry) when failmail stops or reloads is filed, not dropped.
    const passThrough = (raw: Uint8Array, envelope: Envelope) =>
      relay.send({ from: envelope.mailFrom, to: envelope.rcptTo }, raw).pipe(
        Effect.retry({ schedule: retryPolicy(config.relayRetryFor), while: (error) => error.transient }),
        Effect.catchAll((error) => fileCopy(raw, error.message)),
        Effect.onInterrupt(() => fileCopy(raw, "failmail stopped while it was pending")),
        Effect.asVoid,
        LogContext.annotate({ component: "relay-all" })
      )

    const runInBackground = yield* FiberSet.runtime(background)()
    const runtime = yield* Effect.runtime<never>()
    const clock = yield* Effect.clock

    /**
     * Gives `effect`'s exit to `onExit`: at once when it is already finished
     * (an `Exit`, so no fiber), otherwise once it has run on the layer's
     * runtime in the connection's context.
     */
    const settle = <A, E>(effect: Effect.Effect<A, E>, within: Within, onExit: (exit: Exit.Exit<A, E>) => void): void => {
      if (Exit.isExit(effect)) return onExit(effect as Exit.Exit<A, E>)
      Runtime.runCallback(runtime)(within(effect), { onExit })
    }

    /** What follows the store, off the SMTP answer's path: the `--all-dir` copy and the `--relay-all` relay. */
    const afterwards = (raw: Uint8Array, envelope: Envelope, within: Within) => {
      if (config.allDir !== "") runInBackground(within(archive(raw)))
      if (config.relayAll) runInBackground(within(passThrough(raw, envelope)))
    }

    /**
     * Adds a stored message to its batch (at the call); returns what is left
     * to run. A failure here is a bug: it is logged, and the message, durable
     * already, is batched at the next start.
     */
    const batch = (record: SpoolRecord, raw: Uint8Array, within: Within): Effect.Effect<void> => {
      try {
        metrics.messagesReceived.inc()
        metrics.bytesReceived.inc(raw.byteLength)
        history.received(record.receivedAt)
        afterwards(raw, record.envelope, within)
        return batcher.add(receivedOf(record))
      } catch (defect) {
        const line = `message ${record.id} is stored but could not be batched; it is summarized after a restart`
        return Effect.logError(line, Cause.die(defect))
      }
    }

    /** Stores a classified message and adds it to its batch; `done` gets why it could not be stored, if it could not. */
    const storeAndBatch = (raw: Uint8Array, envelope: Envelope, classified: Classified, within: Within, done: Done) =>
      store.put(
        { envelope, keys: classified.keys, subject: classified.view.subject, sender: classified.sender, size: raw.byteLength },
        raw,
        clock.unsafeCurrentTimeMillis(),
        (outcome) => {
          if (Either.isLeft(outcome)) return done(outcome.left)
          settle(batch(outcome.right, raw, within), within, () => done(undefined))
        }
      )

    /**
     * Accepts a message (the SMTP hot path, plain code: no fiber when its
     * keys need no decoded body and its batch is open): it is classified,
     * stored and added to its batch, then `done` is called, with why it could
     * not be stored if it could not. `connection` names the SMTP session in
     * the log lines of what runs for it.
     */
    const accept = (raw: Uint8Array, envelope: Envelope, connection: string | undefined, done: Done): void => {
      const within: Within = connection === undefined ? (effect) => effect : LogContext.annotate({ connection })
      settle(classifier.classify(raw, envelope), within, (exit) =>
        Exit.isSuccess(exit)
          ? storeAndBatch(raw, envelope, exit.value, within, done)
          : done(new SpoolError({ operation: "classify", cause: Cause.squash(exit.cause) }))
      )
    }

    return { accept } as const
  })
}) {}
