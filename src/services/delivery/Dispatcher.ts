/**
 * Turns a summary handed over by the Outbox (one recipient set's share of a
 * due batch, or a storm digest of several) into an e-mail and gets it out:
 * relayed upstream, retried with exponential backoff while failures are
 * transient, and filed in `--fail-dir` exactly once when it finally cannot
 * be relayed. Only then are its groups remembered (new or ongoing next time)
 * and its messages removed from the spool.
 *
 * Every summary carries a Message-ID derived from what it covers (the same
 * summary built again gets the same one). Before its relay it is claimed
 * (in a cluster: recorded as being sent, only if this replica still holds
 * the sender lease; a replica that lost it sends nothing), and after it is
 * relayed or filed it is recorded sent as its messages leave the store.
 *
 * Every summary is delivered on its own fiber, so a slow or dead relay never
 * holds back other batches. A delivery that dies (a defect, not a relay
 * failure) does not strand its messages: a relay that dies counts as a
 * failed attempt, and a summary that could not be built is built again after
 * a backoff.
 *
 * Closing (stop or reload) never cuts an attempt short, and never starts one
 * beside another: deliveries belong to the graph that started them, and its
 * close waits for them (at most `--relay-timeout` and a little slack) before
 * the relay, the spool and the fail-dir close. Closing only ends *waiting*:
 * - an attempt under way finishes, and its messages leave the spool (relayed,
 *   or on stop filed when it failed) before the graph is gone;
 * - a summary waiting to retry gets, on stop, exactly one last attempt, then
 *   the fail-dir; on reload none: its messages stay in the spool;
 * - a summary waiting for an unwritable fail-dir keeps its messages in the spool.
 * A reload does not wait for them: once this service starts closing (the
 * listener, the batches and the budget above it are closed), the new graph is
 * built beside the old one, whose relay, store and fail-dir stay open until
 * its deliveries end. The process's {@link Ledger} keeps the two apart: the
 * new graph leaves out what the old one is delivering, and takes in what it
 * hands back (its messages stay in the spool); a message leaves the store
 * only once every recipient it was addressed to got it, so a batch split by
 * recipients and caught mid-way by a reload sends each part once.
 *
 * Removing what a summary covered waits at most {@link REMOVAL_WAIT}: a
 * removal the store cannot write yet (a full disk) goes on in the background,
 * counted by `failmail_removals_pending` and on the dashboard, and a stop
 * before it is written leaves those messages to be summarized again.
 */
import { Cause, Clock, Deferred, Duration, Effect, Either, Fiber, FiberRef, FiberSet, Option, Schedule } from "effect"
import * as Batching from "../../domain/batching/Batching.ts"
import * as Memory from "../../domain/batching/GroupMemory.ts"
import * as LogContext from "../../domain/LogContext.ts"
import * as Outgoing from "../../domain/delivery/Outgoing.ts"
import { backoff, retryPolicy } from "../../domain/delivery/RelayRetry.ts"
import type { RenderedSummary, SummaryGroup } from "../../domain/delivery/Summary.ts"
import { MAX_BODY_GROUPS } from "../../domain/delivery/SummaryText.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { Classifier } from "../message/Classifier.ts"
import { type Claim, Cluster, ClusterError, type Fenced, messageIdsOf } from "../cluster/Cluster.ts"
import type { SummaryRecord } from "../../domain/Status.ts"
import { GroupMemory } from "../batching/GroupMemory.ts"
import { Threads } from "../batching/Threads.ts"
import { History } from "./History.ts"
import { Ledger, type LedgerMessage } from "./Ledger.ts"
import { Lifecycle } from "../runtime/Lifecycle.ts"
import { Maildir } from "./Maildir.ts"
import { Metrics } from "../runtime/Metrics.ts"
import { Relay, RelayError } from "./Relay.ts"
import { Renderer } from "./Renderer.ts"
import { Store } from "../store/Store.ts"

/**
 * What a delivery runs when a relay attempt is done: the relay budget's
 * slot, which the Outbox lets go at the first (see `Outbox`).
 */
const attemptDone = FiberRef.unsafeMake<Effect.Effect<void>>(Effect.void)

/** How long to wait before trying an unwritable fail-dir again. */
const FAIL_DIR_RETRY = Duration.seconds(30)

/** How long closing may wait for deliveries beyond `--relay-timeout` (rendering, filing, spool removal). */
const CLOSE_SLACK = Duration.seconds(5)

/** How long a delivery waits for the removal of what it covered before it goes on without it (the removal goes on). */
export const REMOVAL_WAIT = Duration.seconds(5)

/** A small message to decode ahead of the first summary (see `prepare`). */
const SAMPLE_MESSAGE = Buffer.from("From: failmail@localhost\r\nSubject: sample\r\n\r\nsample body\r\n")

/** What became of one summary: relayed, filed in the fail-dir, or its messages kept in the spool. */
type Outcome = "delivered" | "filed" | "kept"

/** What the cluster records of a summary before its relay. */
const claimOf = (outgoing: Outgoing.Outgoing): Claim => ({
  summaryId: Outgoing.summaryIdOf(outgoing),
  recipients: outgoing.recipients,
  parts: outgoing.parts.map((part) => ({ batchKey: part.batchKey, messageIds: part.messages.map((message) => message.id) }))
})

/** The messages of a summary as the {@link Ledger} counts them. */
const ledgerMessagesOf = (outgoing: Outgoing.Outgoing): ReadonlyArray<LedgerMessage> =>
  Outgoing.messagesOf(outgoing).map((message) => ({ id: message.id, recipients: message.recipients }))

/** Summarizes and delivers due batches. */
export class Dispatcher extends Effect.Service<Dispatcher>()("failmail/Dispatcher", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* Store
    const classifier = yield* Classifier
    const renderer = yield* Renderer
    const relay = yield* Relay
    const history = yield* History
    const metrics = yield* Metrics
    const memory = yield* GroupMemory
    const threads = yield* Threads
    const lifecycle = yield* Lifecycle
    const maildir = yield* Maildir
    const cluster = yield* Cluster
    const ledger = yield* Ledger
    const closing = yield* Deferred.make<void>()
    /** Why this graph closes, as it was when it started closing (a reload's next graph runs before this one's deliveries end). */
    let closingForReload = false
    const running = yield* FiberSet.make<void>()
    const scope = yield* Effect.scope

    const retries = retryPolicy(config.relayRetryFor)

    /** Waits for `wait`, unless failmail starts closing first. */
    const unlessClosing = <A>(wait: Effect.Effect<A>): Effect.Effect<A | "closing"> =>
      Effect.flatMap(Deferred.isDone(closing), (closed) =>
        closed ? Effect.succeed("closing" as const) : Effect.raceFirst(wait, Effect.as(Deferred.await(closing), "closing" as const))
      )

    const bodyOf = (id: string) =>
      store.readRaw(id).pipe(
        Effect.flatMap((raw) => classifier.parse(raw, { mailFrom: "", rcptTo: [] })),
        Effect.map((view) => view.body),
        Effect.catchAll((error) => Effect.succeed(`(body unavailable: ${error.message})`))
      )

    /**
     * The groups of a summary as the memory of reported groups sees them:
     * new ones first, then those back, then ongoing ones, each in order of first arrival.
     */
    const groupsOf = (outgoing: Outgoing.Outgoing) => {
      const groups = outgoing.parts.flatMap((part) =>
        Batching.groups(part.messages).map((group) => {
          const record = memory.recordOf(part.batchKey, group.key)
          const novelty = memory.classify(part.batchKey, group.key, group.firstAt)
          return {
            batchKey: part.batchKey,
            group,
            novelty,
            quietMs: novelty === "back" && record !== undefined ? Memory.quietFor(record, group) : 0,
            firstSeen: novelty === "new" || record === undefined ? group.firstAt : record.firstSeen,
            instancesSince: (novelty === "new" || record === undefined ? 0 : record.instances) + group.count
          }
        })
      )
      return Memory.NOVELTY_ORDER.flatMap((novelty) => groups.filter((g) => g.novelty === novelty))
    }

    /**
     * Places a summary among the threads (see `Threads`): the thread it
     * continues, and the groups of the last summary to its recipients that
     * stopped (reported since elsewhere: not stopped).
     */
    const placeInThread = (outgoing: Outgoing.Outgoing, summaryId: string, groups: ReadonlyArray<SummaryGroup>) =>
      threads.place(
        {
          storm: Outgoing.isStorm(outgoing),
          batchKeys: outgoing.parts.map((part) => part.batchKey),
          recipientsKey: outgoing.recipientsKey,
          messageId: renderer.messageIdOf(summaryId),
          firstAt: groups.reduce((min, group) => Math.min(min, group.firstAt), Number.POSITIVE_INFINITY),
          lastAt: groups.reduce((max, group) => Math.max(max, group.lastAt), 0),
          groups: groups.map((group) => ({ batchKey: group.batchKey, groupKey: group.key, subject: group.subject, lastSeen: group.lastAt }))
        },
        (group) => (memory.recordOf(group.batchKey, group.groupKey)?.lastSeen ?? 0) > group.lastSeen
      )

    const summarize = (outgoing: Outgoing.Outgoing) =>
      Effect.gen(function* () {
        const groups = groupsOf(outgoing)
        const withBodies: ReadonlyArray<SummaryGroup> = yield* Effect.forEach(
          groups,
          ({ batchKey, group, novelty, quietMs, firstSeen, instancesSince }, index) =>
            Effect.map(index < MAX_BODY_GROUPS ? bodyOf(group.latestId) : Effect.succeed(""), (body) => ({
              batchKey,
              key: group.key,
              count: group.count,
              firstAt: group.firstAt,
              lastAt: group.lastAt,
              subject: group.subject,
              senders: [...group.senders],
              body,
              novelty,
              quietMs,
              firstSeen,
              instancesSince,
              times: group.times
            })),
          { concurrency: 4 }
        )
        const createdAt = yield* Clock.currentTimeMillis
        const summaryId = Outgoing.summaryIdOf(outgoing)
        const thread = yield* placeInThread(outgoing, summaryId, withBodies)
        return yield* renderer.render({
          batchKey: outgoing.parts[0]?.batchKey ?? "",
          batches: outgoing.parts.map((part) => ({ key: part.batchKey, count: part.messages.length })),
          recipients: outgoing.recipients,
          groups: withBodies,
          createdAt,
          held: Outgoing.heldNotesOf(outgoing),
          summaryId,
          inReplyTo: thread.inReplyTo,
          stopped: thread.stopped
        })
      })

    /**
     * Remembers the groups of a summary that was relayed or filed (a failure
     * to save is logged by the memory; the summary is out), and counts it:
     * as a thread's first or a reply, and its groups that are back.
     */
    const remember = (outgoing: Outgoing.Outgoing, summary: RenderedSummary) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const groups = groupsOf(outgoing)
        if (summary.thread === summary.messageId) metrics.threadsStarted.inc()
        else metrics.threadReplies.inc()
        metrics.backGroups.inc(groups.filter((group) => group.novelty === "back").length)
        return memory.reported(
          groups.map(({ batchKey, group }) => ({
            batchKey,
            groupKey: group.key,
            count: group.count,
            firstAt: group.firstAt,
            lastAt: group.lastAt
          })),
          now
        )
      })

    /** Summarizes; a summary that dies while being built is built again after a backoff, until failmail closes. */
    const summarizeAgainIfDead = (outgoing: Outgoing.Outgoing) =>
      Effect.gen(function* () {
        const pause = yield* Schedule.driver(backoff)
        while (true) {
          const built = yield* summarize(outgoing).pipe(
            Effect.catchAllDefect((defect) =>
              Effect.logError("summary could not be built; trying again", Cause.die(defect)).pipe(Effect.as(undefined))
            )
          )
          if (built !== undefined) return built
          if ((yield* unlessClosing(Effect.ignore(pause.next(undefined)))) === "closing") return "kept" as const
        }
      })

    /** One relay attempt; a relay that dies (a defect) is a failed attempt, worth retrying. */
    const attempt = (summary: RenderedSummary, record: SummaryRecord) =>
      Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        yield* history.update(record, { attempts: record.attempts + 1 })
        yield* relay.send({ from: config.from, to: summary.recipients }, summary.raw).pipe(
          Effect.ensuring(Effect.flatten(FiberRef.get(attemptDone))),
          Effect.catchAllDefect((defect) =>
            Effect.logError("relay died", Cause.die(defect)).pipe(
              Effect.zipRight(Effect.fail(new RelayError({ reason: `relay died: ${String(defect)}`, transient: true })))
            )
          ),
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

    /** After a transient failure while closing: on reload the messages stay for the new graph, on stop it was the last attempt. */
    const closedAfter = (error: RelayError) => (closingForReload ? Effect.succeed("kept" as const) : Effect.fail(error))

    /**
     * Relays, retrying transient failures with {@link retryPolicy}, one attempt
     * at a time. Closing ends a wait, never an attempt: a summary waiting to
     * retry gets one last attempt on stop and none on reload.
     */
    const relayWithRetries = (summary: RenderedSummary, record: SummaryRecord): Effect.Effect<"delivered" | "kept", RelayError> =>
      Effect.gen(function* () {
        const schedule = yield* Schedule.driver(retries)
        while (true) {
          const result = yield* Effect.either(attempt(summary, record))
          if (Either.isRight(result)) return "delivered" as const
          const error = result.left
          if (!error.transient) return yield* Effect.fail(error)
          if (yield* Deferred.isDone(closing)) return yield* closedAfter(error)
          const wake = yield* unlessClosing(
            schedule.next(error).pipe(
              Effect.as("retry" as const),
              Effect.orElseSucceed(() => "give up" as const)
            )
          )
          if (wake === "give up") return yield* Effect.fail(error)
          if (wake === "closing" && closingForReload) return "kept" as const
        }
      })

    /** Files a summary in the fail-dir, retrying an unwritable one until it works or failmail closes. */
    const fileAway = (summary: RenderedSummary, record: SummaryRecord): Effect.Effect<Outcome> =>
      maildir.deliver(config.failDir, summary.raw).pipe(
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
            Effect.zipRight(unlessClosing(Effect.sleep(FAIL_DIR_RETRY))),
            Effect.flatMap((wake) => (wake === "closing" ? Effect.succeed<Outcome>("kept") : fileAway(summary, record)))
          )
        ),
        LogContext.annotate({ component: "fail-dir" })
      )

    /**
     * Relays a tracked summary, or files it in the fail-dir. Mail that is not
     * in the spool (`keepable` false: a notice) is filed rather than kept
     * when a reload ends its retries: nothing would send it again.
     */
    const deliverTracked = (summary: RenderedSummary, record: SummaryRecord, keepable: boolean): Effect.Effect<Outcome> =>
      Effect.gen(function* () {
        const relayed = yield* Effect.either(relayWithRetries(summary, record))
        if (Either.isLeft(relayed) || (relayed.right === "kept" && !keepable)) {
          if (Either.isLeft(relayed)) yield* history.update(record, { error: relayed.left.message })
          return yield* fileAway(summary, record)
        }
        if (relayed.right === "kept") {
          yield* history.update(record, { error: `${record.error} (left in the spool for the reloaded configuration)` })
          yield* Effect.logInfo(`summary "${summary.subject}" not relayed yet; its messages stay in the spool for the reloaded configuration`)
          return "kept"
        }
        yield* history.update(record, { status: "delivered", error: "" })
        metrics.summariesSent.inc()
        yield* Effect.logInfo(`summary "${summary.subject}" relayed to ${summary.recipients.join(", ")}`)
        return "delivered"
      })

    /** Tracks a summary in the history and delivers it; its log lines name it (`summary`, the history id). */
    const deliver = (summary: RenderedSummary, keepable = true): Effect.Effect<Outcome> =>
      Effect.flatMap(history.track(summary), (record) =>
        deliverTracked(summary, record, keepable).pipe(LogContext.annotate({ summary: record.id }))
      )

    /**
     * A delivery's own fiber: its lines name the dispatcher and the batch
     * (none for a storm digest of several), not the caller's context, with
     * the delivery's duration so far.
     */
    const inBackground = <A>(batchKey: string | undefined, delivery: Effect.Effect<A>) =>
      FiberSet.run(
        running,
        delivery.pipe(
          Effect.asVoid,
          Effect.withLogSpan("delivery"),
          LogContext.own(batchKey === undefined ? { component: "dispatcher" } : { component: "dispatcher", batch: batchKey })
        )
      ).pipe(Effect.asVoid)

    /**
     * Retries `step` while the cluster's state cannot be reached, until
     * failmail closes; `"closing"` when it closed first.
     */
    const whileUnreachable = <E>(step: Effect.Effect<void, E | ClusterError>): Effect.Effect<"done" | "closing", E> =>
      Effect.gen(function* () {
        const pause = yield* Schedule.driver(backoff)
        while (true) {
          const result = yield* Effect.either(Effect.uninterruptible(step))
          if (Either.isRight(result)) return "done" as const
          if (!(result.left instanceof ClusterError)) return yield* Effect.fail(result.left as E)
          yield* Effect.logWarning(`${result.left.message}; trying again`)
          if ((yield* unlessClosing(Effect.ignore(pause.next(undefined)))) === "closing") return "closing" as const
        }
      })

    /** Claims a summary before its relay; false when this replica is no longer the sender (or closes first): it is not sent. */
    const claimed = (claim: Claim) =>
      whileUnreachable<Fenced>(cluster.claim(claim)).pipe(
        Effect.map((outcome) => outcome === "done"),
        Effect.catchTag("Fenced", () =>
          Effect.logInfo("summary not sent: this replica is no longer the sender; the next one sends it").pipe(Effect.as(false))
        )
      )

    /**
     * Records a summary sent, removing from the store the messages every
     * recipient now has (`done`); waits for that at most {@link REMOVAL_WAIT},
     * then lets it go on in the background (counted as pending meanwhile).
     */
    const recordSent = (claim: Claim, done: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const removed = new Set(done)
        const sent: Claim = { ...claim, parts: claim.parts.map((part) => ({ ...part, messageIds: part.messageIds.filter((id) => removed.has(id)) })) }
        const pending = (delta: number) =>
          Effect.sync(() => {
            history.removalsPending(delta)
            metrics.removalsPending.inc(delta)
          })
        yield* pending(done.length)
        // In a cluster the record removed them from the shared store in the same transaction: the removal is then a no-op.
        const removal = yield* whileUnreachable(Effect.zipRight(cluster.recordSent(sent), store.remove(messageIdsOf(sent)))).pipe(
          Effect.tap((outcome) => (outcome === "done" ? Effect.sync(() => metrics.spooledMessages.dec(done.length)) : Effect.void)),
          Effect.ensuring(Effect.zipRight(pending(-done.length), Effect.sync(() => ledger.removed(done)))),
          // Not the graph's: a removal the store cannot write yet must not hold up its close.
          Effect.forkDaemon
        )
        // A store that answers at once (as it does unless it is failing) sets no timer.
        yield* Effect.yieldNow()
        const answered = yield* Fiber.poll(removal)
        const outcome = Option.isSome(answered)
          ? Option.some(yield* answered.value)
          : yield* Fiber.join(removal).pipe(Effect.timeoutOption(REMOVAL_WAIT))
        if (Option.isNone(outcome)) {
          return yield* Effect.logWarning(
            `summary ${claim.summaryId} was sent, but the removal of its ${done.length} messages is not written yet; it goes on in the background (a stop before it is written summarizes them again)`
          )
        }
        if (outcome.value === "closing") {
          yield* Effect.logWarning(`summary ${claim.summaryId} was sent but not recorded; the next sender sends it again (same Message-ID)`)
        }
      })

    /**
     * Summarizes, claims and delivers one summary, then remembers its groups
     * and records it sent (the messages every recipient now has leave the
     * spool), unless they are kept. Its messages are under way in the
     * {@link Ledger} from `dispatch` until this ends, however it ends.
     */
    const deliverOne = (outgoing: Outgoing.Outgoing, messages: ReadonlyArray<LedgerMessage>) =>
      Effect.suspend(() => {
        let reached: ReadonlyArray<string> = []
        let ended = false
        return Effect.gen(function* () {
          const summary = yield* summarizeAgainIfDead(outgoing)
          if (summary === "kept") return
          const claim = claimOf(outgoing)
          if (!(yield* claimed(claim))) return
          if ((yield* deliver(summary)) === "kept") return
          reached = outgoing.recipients
          yield* remember(outgoing, summary)
          ended = true
          yield* recordSent(claim, ledger.end(messages, reached))
        }).pipe(
          Effect.catchAllCause((cause) => Effect.logError("summary delivery failed; messages stay in the spool", cause)),
          // Ends it in the ledger however the delivery ended (kept, failed, interrupted), unless it did above.
          Effect.ensuring(Effect.sync(() => void (ended || ledger.end(messages, reached))))
        )
      })

    let prepared = false
    /**
     * Readies, once and in the background, what the first summary needs and
     * failmail loads late to stay small while idle: mailparser (by decoding
     * a sample message), the templates and MIME composer's first run (by
     * rendering a sample summary), the relay's SMTP pool. Called when a
     * batch opens, it is done long before the batch is due, instead of
     * delaying the first summaries by as long (over 200 ms on 2 busy cores).
     */
    const prepare = Effect.suspend(() => {
      if (prepared) return Effect.void
      prepared = true
      return Effect.all([classifier.parse(SAMPLE_MESSAGE, { mailFrom: "", rcptTo: [] }), renderer.prepare, relay.prepare], {
        discard: true
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("could not ready the outgoing side ahead of the first summary", cause)),
        Effect.forkIn(scope),
        Effect.asVoid
      )
    })

    /** Ends every wait and lets the deliveries under way finish, at most `--relay-timeout` and a little slack. */
    const drain = Effect.gen(function* () {
      closingForReload = yield* lifecycle.isReloading
      yield* Deferred.succeed(closing, undefined)
      // Everything that takes mail or starts a summary has closed by now (it all depends on this service): on a reload, the next graph may start.
      if (closingForReload) yield* lifecycle.quiesced
    }).pipe(
      Effect.zipRight(FiberSet.awaitEmpty(running)),
      Effect.timeoutOption(Duration.sum(config.relayTimeout, CLOSE_SLACK)),
      Effect.asVoid
    )
    // Registered after `running`, so it runs first: deliveries end before they would be interrupted.
    yield* Effect.addFinalizer(() => drain)

    return {
      /**
       * Starts delivering one summary (handed over by the Outbox) in the
       * background; `attempted` runs when each relay attempt is done and
       * when the delivery ends (the Outbox lets the budget's slot go at the first).
       */
      dispatch: (outgoing: Outgoing.Outgoing, attempted: Effect.Effect<void> = Effect.void) =>
        Effect.suspend(() => {
          // Under way from now, before its fiber runs: a reload's next graph must not take it in.
          const messages = ledgerMessagesOf(outgoing)
          ledger.begin(messages)
          const delivery = deliverOne(outgoing, messages).pipe(Effect.ensuring(attempted), Effect.locally(attemptDone, attempted))
          return inBackground(Outgoing.isStorm(outgoing) ? undefined : outgoing.parts[0]?.batchKey, delivery)
        }),
      /** Readies the outgoing side ahead of the first summary, once, in the background. */
      prepare,
      /** Starts delivering one rendered message (a notice) in the background, with retries and the fail-dir like a summary. */
      send: (summary: RenderedSummary) => inBackground(summary.batchKey, deliver(summary, false)),
      /**
       * Ends waiting (on stop a summary waiting to retry gets one last
       * attempt) and waits for every delivery, at most `--relay-timeout` and
       * a little slack.
       */
      drain
    } as const
  }).pipe(LogContext.annotate({ component: "dispatcher" }))
}) {}
