/**
 * Between the Batcher and the Dispatcher: keeps the upstream within
 * `--relay-rate`. A due batch becomes one summary per recipient set; each
 * goes to the Dispatcher at once while the budget allows, and is held
 * otherwise. When the budget allows the next send, the summary held longest
 * goes, merged with every other one held for the same recipients into one
 * "storm" digest, so a flood over many batch keys becomes a few digests and
 * every message is still summarized within `--max-wait` plus one budget
 * period (as long as fewer recipient sets than the rate's count are held).
 *
 * Durability: a held summary is nothing but its messages, which stay in the
 * spool until it is relayed or filed, so a restart brings them back (their
 * batches are overdue, and come here again). The budget's own state, the
 * send times of the current period, is saved in the {@link Store}
 * before each send, so a restart (or a crash loop) never sends more than the
 * budget. On stop, what the budget allows now is sent; the rest stays in the
 * spool for the next start. With `--relay-rate 0` everything goes at once.
 *
 * In a cluster the budget is the cluster's: only the sender sends, and it
 * loads the send times from the Store each time it becomes the sender;
 * when it stops being the sender, what it held is forgotten (its messages
 * stay in the store for the next sender).
 *
 * Other mail failmail sends upstream (the expected-mail notices) takes its
 * send from the same budget with {@link Outbox.takeSend}: it waits for one,
 * ahead of held summaries, and is never merged or dropped.
 */
import { Clock, Deferred, Duration, Effect, FiberMap, Queue } from "effect"
import type * as Batching from "../../domain/batching/Batching.ts"
import * as LogContext from "../../domain/LogContext.ts"
import * as Outgoing from "../../domain/delivery/Outgoing.ts"
import * as RelayBudget from "../../domain/delivery/RelayBudget.ts"
import * as Storm from "../../domain/delivery/Storm.ts"
import type { HeldSummary } from "../../domain/Status.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import * as SenderState from "../cluster/SenderState.ts"
import { Dispatcher } from "./Dispatcher.ts"
import { Metrics } from "../runtime/Metrics.ts"
import { Store } from "../store/Store.ts"

const DOCUMENT = "budget"

/** How soon a budget that could not be saved is saved again (nothing is sent meanwhile). */
const SAVE_RETRY = Duration.seconds(1)

const sendLogOf = (saved: unknown): RelayBudget.SendLog => {
  const sends = (saved as { sends?: unknown } | undefined)?.sends
  return Array.isArray(sends) ? sends.filter((at): at is number => typeof at === "number").sort((a, b) => a - b) : []
}

/** The relay budget: holds and merges summaries beyond `--relay-rate`. */
export class Outbox extends Effect.Service<Outbox>()("failmail/Outbox", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const dispatcher = yield* Dispatcher
    const store = yield* Store
    const metrics = yield* Metrics
    const rate = config.relayRate
    let log: RelayBudget.SendLog = []
    let held: ReadonlyArray<Outgoing.Outgoing> = []
    /**
     * Summaries sent and not yet answered by the upstream: each holds its
     * slot of the budget until its first relay attempt is done, and is
     * recorded in the log then, when the upstream counts it.
     */
    let inFlight = 0
    /** Other mail waiting for a send from the budget, first come first served. */
    let waiting: ReadonlyArray<Deferred.Deferred<void>> = []
    const lock = yield* Effect.makeSemaphore(1)
    const wake = yield* Queue.unbounded<void>()
    /** Storms under way, by recipient set, each with a fiber that sends its digests (see Storm). */
    const storms = new Map<string, Storm.Storm>()
    const stormFibers = yield* FiberMap.make<string>()
    const timing = { waitPeriodMs: Duration.toMillis(config.waitPeriod), maxWaitMs: Duration.toMillis(config.maxWait) }

    const publishGauges = (now: number) => {
      metrics.heldSummaries.set({ reason: "budget" }, held.length)
      metrics.heldMessages.set({ reason: "budget" }, held.reduce((sum, item) => sum + Outgoing.messageCountOf(item), 0))
      const inStorms = [...storms.values()]
      metrics.heldSummaries.set({ reason: "storm" }, inStorms.reduce((sum, storm) => sum + storm.gathered.length, 0))
      metrics.heldMessages.set({ reason: "storm" }, inStorms.reduce((sum, storm) => sum + Storm.messageCountOf(storm), 0))
      if (RelayBudget.isLimited(rate)) metrics.relayBudgetRemaining.set(RelayBudget.remaining(log, now, rate, inFlight))
    }

    /**
     * Sends a summary the budget allowed: it is under way until its first
     * relay attempt is done (or its delivery ends without one), then
     * recorded in the budget's log at that instant.
     */
    const sendCounted = (outgoing: Outgoing.Outgoing) =>
      Effect.suspend(() => {
        inFlight++
        let done = false
        const attempted = Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (done) return Effect.void
          done = true
          inFlight--
          log = RelayBudget.record(log, now, rate)
          publishGauges(now)
          return Queue.offer(wake, undefined)
        })
        return dispatch(outgoing, attempted)
      })

    /** Hands a summary to the Dispatcher (a digest merging several batches is counted and logged). */
    const dispatch = (outgoing: Outgoing.Outgoing, attempted: Effect.Effect<void> = Effect.void) =>
      Effect.suspend(() => {
        if (!Outgoing.isStorm(outgoing)) return dispatcher.dispatch(outgoing, attempted)
        metrics.stormDigests.inc()
        return Effect.logWarning(
          `merging ${outgoing.parts.length} batches for ${outgoing.recipients.join(", ")} into one storm digest`
        ).pipe(Effect.zipRight(dispatcher.dispatch(outgoing, attempted)))
      })

    /** Summaries that may go: at once with `--relay-rate 0`, otherwise held for the budget's next sends. */
    const enqueue = (items: ReadonlyArray<Outgoing.Outgoing>): Effect.Effect<void> => {
      if (items.length === 0) return Effect.void
      if (!RelayBudget.isLimited(rate)) return Effect.forEach(items, (item) => dispatch(item), { discard: true })
      held = [...held, ...items]
      return Queue.offer(wake, undefined)
    }

    let saveFailing = false
    /**
     * Saves the budget's sends; false when they could not be saved. Not the
     * sender state's usual policy (logged, saved with the next change): a
     * send whose record is not on disk would give a restart a fresh budget,
     * so nothing is sent until it is. The first failure of a run is logged,
     * and the save that works again.
     */
    const saveLog: Effect.Effect<boolean> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      // A send under way is saved as made now: the budget a restart sees counts it.
      const sends = [...log, ...Array.from({ length: inFlight }, () => now)]
      return store.save(DOCUMENT, () => ({ sends }))
    }).pipe(
      Effect.as(true),
      Effect.catchAll((error) =>
        (saveFailing
          ? Effect.void
          : Effect.logWarning(`relay budget not saved: ${error.message}; nothing is sent until it is (trying again every ${Duration.format(SAVE_RETRY)})`)
        ).pipe(Effect.as(false))
      ),
      Effect.tap((saved) => {
        const recovered = saved && saveFailing
        saveFailing = !saved
        return recovered ? Effect.logInfo("relay budget saved again; held summaries go out") : Effect.void
      })
    )

    /**
     * Grants the sends other mail waits for, then sends held summaries, while
     * the budget allows (the sends saved first, once for all of them: when
     * they cannot be saved, nothing goes and it is tried again after
     * {@link SAVE_RETRY}); returns when the next one may go, if anything still waits.
     */
    const sendDue: Effect.Effect<number | undefined> = lock.withPermits(1)(
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const before = { log, held }
        let granted = 0
        while (granted < waiting.length && RelayBudget.nextSendAt(log, now, rate, inFlight) <= now) {
          log = RelayBudget.record(log, now, rate)
          granted++
        }
        const grants = waiting.slice(0, granted)
        waiting = waiting.slice(granted)
        const { send: due, held: rest } = Outgoing.sendable(held, log, now, rate, inFlight)
        held = rest
        inFlight += due.length
        publishGauges(now)
        const saved = due.length === 0 && grants.length === 0 ? true : yield* saveLog
        inFlight -= due.length
        if (!saved) {
          // Put back as they were (a submit or a notice may have come meanwhile: it stays, behind them).
          log = before.log
          held = [...before.held.filter((item) => !rest.includes(item)), ...held]
          waiting = [...grants, ...waiting]
          publishGauges(now)
          return now + Duration.toMillis(SAVE_RETRY)
        }
        for (const grant of grants) yield* Deferred.succeed(grant, undefined)
        for (const outgoing of due) yield* sendCounted(outgoing)
        return held.length === 0 && waiting.length === 0 ? undefined : RelayBudget.nextSendAt(log, now, rate, inFlight)
      })
    )

    // Wakes on each submit and each send done, and sleeps until the budget allows the next send while anything is held.
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          yield* Queue.take(wake)
          yield* Queue.takeAll(wake)
          let nextAt = yield* sendDue
          while (nextAt !== undefined) {
            const now = yield* Clock.currentTimeMillis
            // Every send slot is under way (Infinity): the next one done wakes it.
            if (Number.isFinite(nextAt)) yield* Effect.raceFirst(Effect.sleep(Duration.millis(Math.max(0, nextAt - now))), Queue.take(wake))
            else yield* Queue.take(wake)
            nextAt = yield* sendDue
          }
        })
      )
    )

    /** Sends a storm's digests while it lasts: each when it is due, then ends it once it gathered nothing for a wait-period. */
    const followStorm = (recipientsKey: string) =>
      Effect.gen(function* () {
        while (true) {
          const storm = storms.get(recipientsKey)
          if (storm === undefined) return
          const now = yield* Clock.currentTimeMillis
          const at = Storm.dueAt(storm, timing)
          if (now < at) {
            yield* Effect.sleep(Duration.millis(at - now))
            continue
          }
          if (storm.gathered.length === 0) {
            storms.delete(recipientsKey)
            publishGauges(now)
            return
          }
          const digest = Storm.takeDigest(storm, now)
          publishGauges(now)
          yield* enqueue([digest])
        }
      }).pipe(LogContext.own({ component: "outbox" }))

    /** Gathers a summary into the storm of its recipients (beginning one if it is the first); false: it goes alone. */
    const gathered = (item: Outgoing.Outgoing, now: number, alsoComing: number): Effect.Effect<void> | undefined => {
      const storm = storms.get(item.recipientsKey)
      if (storm !== undefined) {
        Storm.gather(storm, item, now)
        metrics.stormMerges.inc()
        return Effect.void
      }
      if (!Storm.begins(config.stormThreshold, alsoComing)) return undefined
      storms.set(item.recipientsKey, Storm.begin(item, now))
      metrics.storms.inc()
      metrics.stormMerges.inc()
      return Effect.logWarning(
        `storm: ${1 + alsoComing} summaries for ${item.recipients.join(", ")} due within ${Duration.format(config.waitPeriod)}; they go as one storm digest in ${Duration.format(config.waitPeriod)}`
      ).pipe(Effect.zipRight(FiberMap.run(stormFibers, item.recipientsKey, followStorm(item.recipientsKey))))
    }

    const submit = (
      batch: Batching.PendingBatch,
      silenced: ReadonlyArray<Outgoing.HeldBack>,
      dueAt: number,
      comingDue: (recipientsKey: string) => number = () => 0
    ): Effect.Effect<void> =>
      Effect.suspend(() => {
        const alone: Array<Outgoing.Outgoing> = []
        const storming: Array<Effect.Effect<void>> = []
        for (const item of Outgoing.outgoingOf(batch, silenced, dueAt)) {
          const stormed = gathered(item, dueAt, comingDue(item.recipientsKey))
          if (stormed === undefined) alone.push(item)
          else storming.push(stormed)
        }
        publishGauges(dueAt)
        return Effect.zipRight(Effect.all(storming, { discard: true }), enqueue(alone))
      })

    /** On stop: every storm's digest goes now (within the budget, as any summary). */
    const endStorms = Effect.suspend(() => {
      const digests = [...storms.values()].filter((storm) => storm.gathered.length > 0).map((storm) => Outgoing.merge(storm.gathered))
      storms.clear()
      return enqueue(digests)
    })

    // The budget's sends so far, as saved (by this replica or the sender before it).
    yield* SenderState.make({
      what: "the relay budget",
      component: "outbox",
      load: Effect.map(store.load(DOCUMENT), (saved) => {
        log = sendLogOf(saved)
      }),
      // A replica that stops sending holds nothing: its gauges say so (the next sender's count the cluster's).
      clear: Effect.map(Clock.currentTimeMillis, (now) => {
        held = []
        storms.clear()
        publishGauges(now)
      })
    })

    const takeSend: Effect.Effect<void> = RelayBudget.isLimited(rate)
      ? Effect.gen(function* () {
          const grant = yield* Deferred.make<void>()
          waiting = [...waiting, grant]
          yield* Queue.offer(wake, undefined)
          yield* Deferred.await(grant).pipe(
            Effect.onInterrupt(() =>
              Effect.sync(() => {
                waiting = waiting.filter((other) => other !== grant)
              })
            )
          )
        })
      : Effect.void

    return {
      /**
       * Waits for one send from the budget, for mail other than summaries
       * (an expected-mail notice), and counts it: ahead of held summaries,
       * at once with `--relay-rate 0`.
       */
      takeSend,
      /** Hands over a due batch (with what silences hold back of it): its summaries go now, or are held for the budget. */
      submit,
      /** Readies the outgoing side ahead of the first summary, in the background (see `Dispatcher.prepare`). */
      prepare: dispatcher.prepare,
      /** Sends again a summary a previous sender claimed (its send was counted from the budget then). */
      resend: (outgoing: Outgoing.Outgoing) => dispatcher.dispatch(outgoing),
      /**
       * On stop: sends what the budget allows now (held summaries beyond it
       * stay in the spool for the next start), then lets every delivery
       * finish (see `Dispatcher.drain`).
       */
      drain: Effect.gen(function* () {
        yield* endStorms
        yield* sendDue
        if (held.length > 0) {
          yield* Effect.logInfo(
            `${held.length} summaries held by the relay budget (${RelayBudget.formatRate(rate)}) stay in the spool for the next start`
          )
        }
        yield* dispatcher.drain
      }).pipe(LogContext.annotate({ component: "outbox" })),
      /**
       * Summaries held for the budget, oldest first, with when the next may
       * go; then each storm's next digest (what it gathered so far, busiest
       * batch first), with when it goes.
       */
      snapshot: Effect.map(Clock.currentTimeMillis, (now): ReadonlyArray<HeldSummary> => {
        const nextAt = RelayBudget.nextSendAt(log, now, rate, inFlight)
        const heldOf = (reason: HeldSummary["reason"], item: Outgoing.Outgoing, sendsAt: number): HeldSummary => ({
          reason,
          recipients: item.recipients,
          dueAt: item.dueAt,
          nextSendAt: sendsAt,
          messageCount: Outgoing.messageCountOf(item),
          batches: item.parts.map((part) => ({ key: part.batchKey, count: part.messages.length }))
        })
        const storming = [...storms.values()]
          .filter((storm) => storm.gathered.length > 0)
          .map((storm) => heldOf("storm", Outgoing.merge(storm.gathered), Storm.dueAt(storm, timing)))
        return [...[...held].sort((a, b) => a.dueAt - b.dueAt).map((item) => heldOf("budget", item, nextAt)), ...storming]
      }),
      /** The budget in force. */
      rate
    } as const
  }).pipe(LogContext.annotate({ component: "outbox" }))
}) {}
