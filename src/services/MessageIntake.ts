/**
 * What happens to a received message before the SMTP 250: it is decoded,
 * keyed, written durably to the spool and added to its batch. After that,
 * in the background, `--all-dir` archives it as received and `--relay-all`
 * relays it unchanged with its original envelope (a copy that cannot be
 * relayed, or is still pending when failmail stops, goes to the fail-dir).
 */
import { Effect, FiberSet } from "effect"
import * as LogContext from "../domain/LogContext.ts"
import { type Envelope, receivedOf } from "../domain/Message.ts"
import { retryPolicy } from "../domain/RelayRetry.ts"
import { AppConfig } from "./AppConfig.ts"
import { Batcher } from "./Batcher.ts"
import { Classifier } from "./Classifier.ts"
import { History } from "./History.ts"
import { Maildir } from "./Maildir.ts"
import { Metrics } from "./Metrics.ts"
import { Relay } from "./Relay.ts"
import { Store, type SpoolError } from "./Store.ts"

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

    /** What follows the store, off the SMTP answer's path: the `--all-dir` copy and the `--relay-all` relay. */
    const afterwards = (raw: Uint8Array, envelope: Envelope): Effect.Effect<void> =>
      config.allDir === "" && !config.relayAll
        ? Effect.void
        : Effect.gen(function* () {
            if (config.allDir !== "") yield* FiberSet.run(background, archive(raw))
            if (config.relayAll) yield* FiberSet.run(background, passThrough(raw, envelope))
          })

    /** Stores a message and adds it to its batch; fails only when it could not be stored. */
    const accept = (raw: Uint8Array, envelope: Envelope): Effect.Effect<void, SpoolError> =>
      classifier.classify(raw, envelope).pipe(
        Effect.flatMap((classified) =>
          store.put(
            {
              envelope,
              keys: classified.keys,
              subject: classified.view.subject,
              sender: classified.sender,
              size: raw.byteLength
            },
            raw
          )
        ),
        Effect.flatMap((record) => {
          metrics.messagesReceived.inc()
          metrics.bytesReceived.inc(raw.byteLength)
          history.received(record.receivedAt)
          return batcher.add(receivedOf(record))
        }),
        Effect.zipRight(afterwards(raw, envelope))
      )

    return { accept } as const
  })
}) {}
