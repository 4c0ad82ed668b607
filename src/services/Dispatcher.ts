/**
 * Turns a due batch into summaries and gets each one out: relayed upstream,
 * retried with exponential backoff while failures are transient, and filed
 * in `--fail-dir` exactly once when it finally cannot be relayed. Only then
 * do the batch's messages leave the spool.
 *
 * Every batch is delivered on its own fiber, so a slow or dead relay never
 * holds back other batches. When failmail stops, retries end at once: each
 * summary gets one last attempt, then the fail-dir.
 */
import { Clock, Deferred, Duration, Effect, FiberSet, Schedule } from "effect"
import * as Batching from "../domain/Batching.ts"
import type { RenderedSummary, SummaryGroup } from "../domain/Summary.ts"
import { MAX_BODY_GROUPS } from "../domain/SummaryText.ts"
import { AppConfig } from "./AppConfig.ts"
import { Classifier } from "./Classifier.ts"
import type { SummaryRecord } from "../domain/Status.ts"
import { History } from "./History.ts"
import * as Maildir from "./Maildir.ts"
import { Metrics } from "./Metrics.ts"
import { Relay, type RelayError } from "./Relay.ts"
import { Renderer } from "./Renderer.ts"
import { Spool } from "./Spool.ts"

/** The backoff between relay attempts: about 1 s, doubling, at most 3 minutes apart, jittered. */
export const backoff = Schedule.exponential("1 second").pipe(
  Schedule.union(Schedule.spaced("3 minutes")),
  Schedule.jittered
)

/**
 * {@link backoff} for at most `retryFor`: the last retry is made at the end of
 * the window, never a backoff step after it (0: no retry).
 */
export const retryPolicy = (retryFor: Duration.Duration) =>
  backoff.pipe(
    Schedule.intersect(Schedule.elapsed),
    Schedule.whileOutput(([, elapsed]) => Duration.lessThan(elapsed, retryFor)),
    Schedule.modifyDelay(([, elapsed], delay) => Duration.min(delay, Duration.subtract(retryFor, elapsed)))
  )

/** How long to wait before trying an unwritable fail-dir again. */
const FAIL_DIR_RETRY = Duration.seconds(30)

/** What became of one summary. */
type Outcome = "delivered" | "filed" | "kept"

/** Summarizes and delivers due batches. */
export class Dispatcher extends Effect.Service<Dispatcher>()("failmail/Dispatcher", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const spool = yield* Spool
    const classifier = yield* Classifier
    const renderer = yield* Renderer
    const relay = yield* Relay
    const history = yield* History
    const metrics = yield* Metrics
    const stopping = yield* Deferred.make<void>()
    const running = yield* FiberSet.make<void>()

    const retries = retryPolicy(config.relayRetryFor)

    const bodyOf = (id: string) =>
      spool.readRaw(id).pipe(
        Effect.flatMap((raw) => classifier.parse(raw, { mailFrom: "", rcptTo: [] })),
        Effect.map((view) => view.body),
        Effect.catchAll((error) => Effect.succeed(`(body unavailable: ${error.message})`))
      )

    const summarize = (batchKey: string, delivery: Batching.Delivery) =>
      Effect.gen(function* () {
        const groups = Batching.groups(delivery.messages)
        const withBodies: ReadonlyArray<SummaryGroup> = yield* Effect.forEach(
          groups,
          (group, index) =>
            Effect.map(index < MAX_BODY_GROUPS ? bodyOf(group.latestId) : Effect.succeed(""), (body) => ({
              key: group.key,
              count: group.count,
              firstAt: group.firstAt,
              lastAt: group.lastAt,
              subject: group.subject,
              senders: [...group.senders],
              body
            })),
          { concurrency: 4 }
        )
        const createdAt = yield* Clock.currentTimeMillis
        return yield* renderer.render({ batchKey, recipients: delivery.recipients, groups: withBodies, createdAt })
      })

    const attempt = (summary: RenderedSummary, record: SummaryRecord) =>
      Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        yield* history.update(record, { attempts: record.attempts + 1 })
        yield* relay.send({ from: config.from, to: summary.recipients }, summary.raw).pipe(
          Effect.tapError((error) =>
            Effect.gen(function* () {
              yield* Effect.logWarning(`relay of "${summary.subject}" failed: ${error.message}`)
              if (error.transient) metrics.relayRetries.inc()
              yield* history.update(record, { status: "retrying", error: error.message })
            })
          )
        )
        const finished = yield* Clock.currentTimeMillis
        metrics.relayLatency.observe((finished - started) / 1000)
      })

    /** Relays with retries; once failmail is stopping, one last attempt. */
    const relayWithRetries = (summary: RenderedSummary, record: SummaryRecord): Effect.Effect<void, RelayError> =>
      Effect.flatMap(Deferred.isDone(stopping), (stopped) =>
        stopped
          ? attempt(summary, record)
          : Effect.raceFirst(
              attempt(summary, record).pipe(Effect.retry({ schedule: retries, while: (error) => error.transient })),
              Deferred.await(stopping).pipe(Effect.zipRight(attempt(summary, record)))
            )
      )

    /** Files a summary in the fail-dir, retrying an unwritable one until it works or failmail stops. */
    const fileAway = (summary: RenderedSummary, record: SummaryRecord): Effect.Effect<Outcome> =>
      Maildir.deliver(config.failDir, summary.raw).pipe(
        Effect.tap((file) =>
          Effect.all([
            history.update(record, { status: "failed", failedPath: file }),
            Effect.sync(() => metrics.summariesFailed.inc()),
            Effect.logError(`summary "${summary.subject}" not relayed, filed as ${file}`)
          ])
        ),
        Effect.as<Outcome>("filed"),
        Effect.catchAll((error) =>
          Effect.logError(`${error.message}; summary kept in the spool, retrying in ${Duration.format(FAIL_DIR_RETRY)}`).pipe(
            Effect.zipRight(
              Effect.raceFirst(
                Effect.sleep(FAIL_DIR_RETRY).pipe(Effect.zipRight(Effect.suspend(() => fileAway(summary, record)))),
                Deferred.await(stopping).pipe(Effect.as<Outcome>("kept"))
              )
            )
          )
        )
      )

    const deliver = (summary: RenderedSummary): Effect.Effect<Outcome> =>
      Effect.gen(function* () {
        const record = yield* history.track(summary)
        return yield* relayWithRetries(summary, record).pipe(
          Effect.zipRight(
            Effect.all([
              history.update(record, { status: "delivered", error: "" }),
              Effect.sync(() => metrics.summariesSent.inc()),
              Effect.logInfo(`summary "${summary.subject}" relayed to ${summary.recipients.join(", ")}`)
            ])
          ),
          Effect.as<Outcome>("delivered"),
          Effect.catchAll((error) =>
            history.update(record, { error: error.message }).pipe(Effect.zipRight(fileAway(summary, record)))
          )
        )
      })

    const process = (batch: Batching.PendingBatch) =>
      Effect.gen(function* () {
        const deliveries = Batching.partition(batch.messages)
        const outcomes = yield* Effect.forEach(
          deliveries,
          (delivery) => summarize(batch.key, delivery).pipe(Effect.flatMap(deliver)),
          { concurrency: "unbounded" }
        )
        const kept = new Set(
          deliveries.flatMap((delivery, index) => (outcomes[index] === "kept" ? delivery.messages.map((m) => m.id) : []))
        )
        const done = batch.messages.map((message) => message.id).filter((id) => !kept.has(id))
        yield* spool.remove(done)
        metrics.spooledMessages.dec(done.length)
      }).pipe(Effect.catchAllCause((cause) => Effect.logError("summary delivery failed; messages stay in the spool", cause)))

    yield* Effect.addFinalizer(() => Deferred.succeed(stopping, undefined))

    return {
      /** Starts delivering a due batch in the background. */
      dispatch: (batch: Batching.PendingBatch) => FiberSet.run(running, process(batch)).pipe(Effect.asVoid),
      /** Ends retries (each summary gets one last attempt) and waits for every delivery, at most `timeout`. */
      drain: (timeout: Duration.DurationInput) =>
        Deferred.succeed(stopping, undefined).pipe(
          Effect.zipRight(FiberSet.awaitEmpty(running)),
          Effect.timeoutOption(timeout),
          Effect.asVoid
        )
    } as const
  })
}) {}
