/**
 * Previews expressions over stored messages: each message is keyed by the
 * daemon's own Classifier (so with exactly what `--batch-expr` and
 * `--group-expr` would give it), then the batching rules of the running
 * configuration make the summaries (domain/Preview). Reads only.
 */
import { Duration, Effect, Either, Layer } from "effect"
import { addressesIn } from "../domain/settings/Address.ts"
import { readHeaders } from "../domain/message/HeaderBlock.ts"
import type { Envelope } from "../domain/message/Message.ts"
import * as Preview from "../domain/batching/Preview.ts"
import * as Rewrite from "../domain/message/Rewrite.ts"
import { AppConfig, type RunningConfig } from "../services/runtime/AppConfig.ts"
import { Classifier } from "../services/message/Classifier.ts"
import type { Candidate, StoredMessage } from "../services/store/MailSource.ts"

/** Messages keyed at once (each is read whole, then only its keys are kept). */
const CONCURRENCY = 4

/**
 * The envelope of a message stored without one (a maildir): sender from
 * `Return-Path`, recipients from `To` and `Cc`.
 */
const envelopeFromHeaders = (raw: Uint8Array): Envelope => {
  const headers = readHeaders(raw)
  return {
    mailFrom: addressesIn(headers["return-path"] ?? "")[0] ?? "",
    rcptTo: [...addressesIn(headers["to"] ?? ""), ...addressesIn(headers["cc"] ?? "")]
  }
}

/**
 * Keys stored messages exactly as the daemon keys new mail: the envelope as
 * stored (or read from the headers, rewritten by `--rewrite-*`), then the
 * Classifier's expressions.
 */
export const keyer: Effect.Effect<
  (id: string, stored: StoredMessage) => Effect.Effect<Preview.PreviewMessage>,
  never,
  Classifier | AppConfig
> = Effect.gen(function* () {
  const config = yield* AppConfig
  const classifier = yield* Classifier
  const rule = Rewrite.makeRule(config.rewriteSrc, config.rewriteDest)
  return (id, stored) =>
    Effect.gen(function* () {
      const found = stored.envelope ?? envelopeFromHeaders(stored.raw)
      const envelope = stored.rewrite ? { ...found, rcptTo: Rewrite.rewriteAll(rule, found.rcptTo) } : found
      const classified = yield* classifier.classify(stored.raw, envelope)
      const message: Preview.PreviewMessage = {
        id,
        receivedAt: stored.receivedAt,
        envelope,
        batchKey: classified.keys.batchKey,
        groupKey: classified.keys.groupKey,
        subject: classified.view.subject,
        sender: classified.sender,
        size: stored.raw.byteLength,
        problems: classified.problems
      }
      return message
    })
})

/** The preview of these stored messages under the Classifier's expressions and the configuration's timing. */
export const preview = (candidates: ReadonlyArray<Candidate>): Effect.Effect<Preview.Preview, never, Classifier | AppConfig> =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const keyed = yield* keyer

    const results = yield* Effect.forEach(
      candidates,
      (candidate) =>
        candidate.load.pipe(
          Effect.flatMap((stored) => (stored === undefined ? Effect.succeed(undefined) : keyed(candidate.id, stored))),
          Effect.mapError((error) => ({ id: candidate.id, error })),
          Effect.either
        ),
      { concurrency: CONCURRENCY }
    )
    const messages = results.flatMap((result) => (Either.isRight(result) && result.right !== undefined ? [result.right] : []))
    const unreadable = results.flatMap((result) => (Either.isLeft(result) ? [result.left] : []))
    return Preview.build(messages, unreadable, {
      timing: { waitPeriodMs: Duration.toMillis(config.waitPeriod), maxWaitMs: Duration.toMillis(config.maxWait) },
      subjectPrefix: config.subjectPrefix
    })
  })

/**
 * The configuration and a Classifier for it; expressions that do not
 * compile fail with a ConfigError naming the setting (`batch-expr: …`).
 */
export const layerFor = (config: RunningConfig) =>
  Layer.provideMerge(Classifier.Default, AppConfig.layer(config))
