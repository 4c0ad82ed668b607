/**
 * Holds pending batches and sends each one when it is due: one fiber per
 * open batch sleeps on the Effect `Clock` until
 * `min(last message + wait-period, first message + max-wait)`, re-checking
 * when a new message pushed the quiet deadline. A due batch is taken out of
 * the pending set in one step, so a message arriving meanwhile opens a new
 * batch and lands in exactly one summary.
 *
 * On start, every message left in the spool comes back into its batch with
 * its original arrival time (overdue batches go out at once). On stop, every
 * pending batch is summarized and delivered, bounded in time. A due batch
 * goes to the Outbox (the relay budget), not straight to the Dispatcher.
 *
 * In a cluster (see Cluster) all this runs only while this replica is the
 * sender: on becoming it, the Batcher recovers every pending message as on
 * start, sends again what a previous sender claimed and did not record
 * sent, and follows what the other replicas store; on ceasing to be it, it
 * forgets its batches (they stay in the store for the next sender, which
 * summarizes them by their deadlines) and takes nothing in meanwhile. A
 * sender that stops when no other replica runs flushes as a lone failmail
 * does.
 *
 * With `--repeat-interval`, a due batch whose groups were all reported less
 * than that long ago, and nothing new, waits (its messages stay spooled and
 * counted) until one of them is due a repeat, or a new group joins it; on
 * stop such a batch stays in the spool.
 *
 * Two operator rules apply here. A message an expectation is waiting for
 * marks it met and is not batched (it leaves the spool at once). When a
 * batch comes due, the messages a silence in force matches are held back by
 * that silence (still in the spool, counted as silenced): the rest is
 * summarized, with a line per silence saying how many it holds; when the
 * silence ends, what it held is summarized at once (unless another silence
 * holds it then).
 */
import { Clock, Duration, Effect, Either, PubSub, Queue } from "effect"
import { Alarms } from "../../domain/batching/Alarms.ts"
import * as Batching from "../../domain/batching/Batching.ts"
import * as LogContext from "../../domain/LogContext.ts"
import * as Outgoing from "../../domain/delivery/Outgoing.ts"
import { type Received, receivedOf } from "../../domain/message/Message.ts"
import * as Silence from "../../domain/silences/Silence.ts"
import type { BatchSnapshot } from "../../domain/Status.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { Classifier } from "../message/Classifier.ts"
import { ARRIVALS_EVERY, type Arrivals, type Claim, Cluster } from "../cluster/Cluster.ts"
import * as SenderState from "../cluster/SenderState.ts"
import { Expectations } from "../expectations/Expectations.ts"
import { GroupMemory } from "./GroupMemory.ts"
import { Threads } from "./Threads.ts"
import { Ledger } from "../delivery/Ledger.ts"
import { Lifecycle } from "../runtime/Lifecycle.ts"
import { Metrics } from "../runtime/Metrics.ts"
import { Outbox } from "../delivery/Outbox.ts"
import { Silences } from "../silences/Silences.ts"
import { type SpoolRecord, Store } from "../store/Store.ts"

/** Pending batches and their timers. */
export class Batcher extends Effect.Service<Batcher>()("failmail/Batcher", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const outbox = yield* Outbox
    const store = yield* Store
    const classifier = yield* Classifier
    const metrics = yield* Metrics
    const silences = yield* Silences
    const expectations = yield* Expectations
    const memory = yield* GroupMemory
    const threads = yield* Threads
    const cluster = yield* Cluster
    const ledger = yield* Ledger
    const timing: Batching.Timing = {
      waitPeriodMs: Duration.toMillis(config.waitPeriod),
      maxWaitMs: Duration.toMillis(config.maxWait)
    }
    const pending = new Map<string, Batching.PendingBatch>()
    /** Batches that came due but wait for `--repeat-interval`, by serial: until when. */
    const heldForRepeat = new Map<number, number>()
    let serial = 0
    let pendingMessages = 0
    /** Silence id → batch key → the messages it holds back. */
    const held = new Map<string, Map<string, Array<Batching.PendingMessage>>>()
    let heldMessages = 0

    /**
     * Open batches by the recipient sets of their messages (batches waiting
     * for a repeat not counted): how many more summaries for a recipient set
     * come due within one `--wait-period`, for the Outbox to tell a storm.
     */
    const comingDue = new Map<string, number>()
    /** The recipient sets each open batch is counted under in {@link comingDue}. */
    const countedUnder = new Map<number, Set<string>>()

    const countUnder = (batch: Batching.PendingBatch, recipientsKey: string) => {
      let keys = countedUnder.get(batch.serial)
      if (keys === undefined) countedUnder.set(batch.serial, (keys = new Set()))
      if (keys.has(recipientsKey)) return
      keys.add(recipientsKey)
      comingDue.set(recipientsKey, (comingDue.get(recipientsKey) ?? 0) + 1)
    }

    const uncount = (batch: Batching.PendingBatch) => {
      const keys = countedUnder.get(batch.serial)
      if (keys === undefined) return
      countedUnder.delete(batch.serial)
      for (const key of keys) {
        const left = (comingDue.get(key) ?? 0) - 1
        if (left > 0) comingDue.set(key, left)
        else comingDue.delete(key)
      }
    }

    const comingDueFor = (recipientsKey: string) => comingDue.get(recipientsKey) ?? 0

    /** The gauges of what is pending: cheap, so they follow every message. */
    const publishCounts = () => {
      metrics.pendingBatches.set(pending.size)
      metrics.pendingMessages.set(pendingMessages)
      metrics.silencedMessages.set(heldMessages)
    }

    /** When the oldest message waiting for its batch's deadline arrived (0: none), for the gauge that tells a stuck batch. */
    const oldestPendingAt = () => {
      let oldest = 0
      for (const batch of pending.values()) {
        if (!heldForRepeat.has(batch.serial) && (oldest === 0 || batch.firstAt < oldest)) oldest = batch.firstAt
      }
      return oldest
    }
    metrics.maxWait.set(timing.maxWaitMs / 1000)
    yield* Effect.acquireRelease(Effect.sync(() => metrics.readOldestPendingFrom(oldestPendingAt)), (letGo) => Effect.sync(letGo))

    /** Every gauge, the repeat ones too (they walk the pending batches): when what waits for a repeat may have changed. */
    const publishGauges = () => {
      publishCounts()
      let repeating = 0
      let repeatingMessages = 0
      for (const batch of pending.values()) {
        if (!heldForRepeat.has(batch.serial)) continue
        repeating++
        repeatingMessages += batch.messages.length
      }
      metrics.heldSummaries.set({ reason: "repeat" }, repeating)
      metrics.heldMessages.set({ reason: "repeat" }, repeatingMessages)
    }

    /** The groups of a batch as the memory of reported groups sees them. */
    const seenGroups = (batch: Batching.PendingBatch) =>
      Batching.groups(batch.messages).map((group) => ({
        batchKey: batch.key,
        groupKey: group.key,
        count: group.count,
        firstAt: group.firstAt,
        lastAt: group.lastAt
      }))

    const hold = (silenceId: string, batchKey: string, messages: ReadonlyArray<Batching.PendingMessage>) => {
      let byBatch = held.get(silenceId)
      if (byBatch === undefined) held.set(silenceId, (byBatch = new Map()))
      const list = byBatch.get(batchKey)
      if (list === undefined) byBatch.set(batchKey, [...messages])
      else list.push(...messages)
      heldMessages += messages.length
    }

    /** What each silence holds back of a batch key. */
    const heldOf = (batchKey: string) =>
      Effect.forEach([...held.entries()], ([id, byBatch]) => {
        const messages = byBatch.get(batchKey)
        return messages === undefined
          ? Effect.succeed([])
          : Effect.map(silences.get(id), (silence): ReadonlyArray<Outgoing.HeldBack> => (silence === undefined ? [] : [{ silence, messages }]))
      }).pipe(Effect.map((lists) => lists.flat()))

    /** Holds back what silences in force match and sends the rest (if any), with a line per silence. */
    const sendUnsilenced = (batch: Batching.PendingBatch) =>
      Effect.gen(function* () {
        const split = Silence.split(batch.key, batch.messages, yield* silences.active)
        for (const [id, messages] of split.held) hold(id, batch.key, messages)
        publishGauges()
        if (split.released.length === 0) return
        const released = split.released.length === batch.messages.length ? batch : Batching.ofMessages(batch.serial, batch.key, split.released)
        yield* outbox.submit(released, yield* heldOf(batch.key), yield* Clock.currentTimeMillis, comingDueFor)
      })

    /** Takes a batch out of the pending set (if it is still the same batch) and hands it on. */
    const release = (batch: Batching.PendingBatch) =>
      Effect.suspend(() => {
        if (pending.get(batch.key) !== batch) return Effect.void
        pending.delete(batch.key)
        heldForRepeat.delete(batch.serial)
        uncount(batch)
        pendingMessages -= batch.messages.length
        return sendUnsilenced(batch)
      })

    /** A silence ended: what it held goes out now, batch key by batch key (held again if another silence matches). */
    const releaseHeld = (silenceId: string) =>
      Effect.suspend(() => {
        const byBatch = held.get(silenceId)
        if (byBatch === undefined) return Effect.void
        held.delete(silenceId)
        for (const messages of byBatch.values()) heldMessages -= messages.length
        return Effect.forEach(
          [...byBatch.entries()],
          ([key, messages]) => sendUnsilenced(Batching.ofMessages(++serial, key, messages)),
          { discard: true }
        )
      })

    /**
     * When a batch goes out: its deadline, then — with `--repeat-interval` —
     * not before one of its groups is due a repeat, unless something new is in it.
     */
    const sendAt = (batch: Batching.PendingBatch, now: number): number => {
      const due = Batching.deadline(batch, timing)
      if (now < due || !memory.repeats) return due
      return memory.repeatHoldUntil(seenGroups(batch), now) ?? due
    }

    /** When the timer looks at each pending batch next. */
    const alarms = new Alarms<Batching.PendingBatch>()
    /** The alarm the timer sleeps until (none: it waits to be woken). */
    let sleepingUntil = Number.POSITIVE_INFINITY
    const wakeTimer = yield* Queue.sliding<void>(1)

    /** Releases every batch due at `now`; one not due yet (its deadline moved, or it waits for a repeat) gets a later alarm. */
    const ring = (now: number) =>
      Effect.gen(function* () {
        for (let batch = alarms.takeDue(now); batch !== undefined; batch = alarms.takeDue(now)) {
          if (pending.get(batch.key) !== batch) continue
          const at = sendAt(batch, now)
          if (now >= at) {
            yield* release(batch).pipe(LogContext.own({ component: "batcher", batch: batch.key }))
            continue
          }
          if (at > Batching.deadline(batch, timing) && heldForRepeat.get(batch.serial) !== at) {
            heldForRepeat.set(batch.serial, at)
            uncount(batch)
            publishGauges()
          }
          alarms.add(at, batch)
        }
      })

    /**
     * The batches' one timer, while this replica is the sender: sleeps on the
     * `Clock` until the earliest alarm (or until woken for an earlier one).
     * One fiber for every batch, not one each: a flood over thousands of
     * batch keys holds one sleeping fiber.
     */
    const timer = Effect.gen(function* () {
      while (true) {
        yield* ring(yield* Clock.currentTimeMillis)
        const now = yield* Clock.currentTimeMillis
        sleepingUntil = alarms.next ?? Number.POSITIVE_INFINITY
        if (sleepingUntil <= now) continue
        const woken = Queue.take(wakeTimer)
        yield* Number.isFinite(sleepingUntil) ? Effect.raceFirst(Effect.sleep(Duration.millis(sleepingUntil - now)), woken) : woken
      }
    })

    const lifecycle = yield* Lifecycle

    /** On stop, every pending batch is summarized (but those waiting for a repeat); on reload they stay in the spool. */
    const finalFlush = Effect.gen(function* () {
        const batches = [...pending.values()]
        if (yield* lifecycle.isReloading) {
          yield* Effect.logInfo(`${batches.length} pending batches stay in the spool for the reloaded configuration`)
          return
        }
        const repeating = batches.filter((batch) => heldForRepeat.has(batch.serial))
        if (repeating.length > 0) {
          yield* Effect.logInfo(`${repeating.length} batches waiting for --repeat-interval stay in the spool`)
        }
        const due = batches.filter((batch) => !heldForRepeat.has(batch.serial))
        yield* Effect.logInfo(`summarizing ${due.length} pending batches before stopping`)
        yield* Effect.forEach(due, release, { discard: true }).pipe(
          Effect.zipRight(outbox.drain),
          Effect.zipRight(Effect.logInfo("pending summaries delivered or filed; stopping")),
          Effect.withLogSpan("final-flush")
        )
      })
    /** While this replica is the sender: what it takes in (none otherwise). */
    let role: { readonly arrivals: Arrivals } | undefined
    let readied = false

    /**
     * Sets a batch's alarm (plain code); returns what is left to run:
     * waking the timer when the alarm comes before the one it
     * sleeps until, and, for the first batch, readying the outgoing side
     * while it waits (not when it is due).
     */
    const startTimer = (batch: Batching.PendingBatch, at = Batching.deadline(batch, timing)): Effect.Effect<void> => {
      if (role === undefined) return Effect.void
      alarms.add(at, batch)
      const wake = at < sleepingUntil ? Queue.offer(wakeTimer, undefined) : Effect.void
      if (readied) return wake
      readied = true
      return Effect.zipRight(outbox.prepare, wake)
    }

    /** Adds a message to its batch; returns the batch when it was opened by this message. */
    const place = (message: Received): Batching.PendingBatch | undefined => {
      pendingMessages++
      const existing = pending.get(message.batchKey)
      const batch = existing ?? Batching.open(++serial, message)
      if (existing === undefined) pending.set(message.batchKey, batch)
      else Batching.add(existing, message)
      if (!heldForRepeat.has(batch.serial)) countUnder(batch, (batch.messages[batch.messages.length - 1] as Batching.PendingMessage).recipientsKey)
      return existing === undefined ? batch : undefined
    }

    /** Whether an expectation was waiting for the message; if so, it is routine and leaves the spool. */
    const expected = (message: Received) =>
      Effect.flatMap(expectations.observe(message), (routine) =>
        routine
          ? store.remove([message.id]).pipe(
              Effect.zipRight(Effect.sync(() => metrics.spooledMessages.dec())),
              Effect.as(true)
            )
          : Effect.succeed(false)
      )

    /** A batch waiting for its repeat that a new group (or one back after a quiet spell) joined goes out now: its timer looks again. */
    const wakeIfNew = (message: Received): Effect.Effect<void> => {
      const batch = pending.get(message.batchKey)
      if (batch === undefined || !heldForRepeat.has(batch.serial)) return Effect.void
      if (memory.classify(message.batchKey, message.groupKey, message.receivedAt) === "ongoing") return Effect.void
      return startTimer(batch, message.receivedAt)
    }

    /** Places a message no expectation was waiting for, at the call; returns the timer to start or wake (`Effect.void`: none). */
    const placeUnexpected = (message: Received): Effect.Effect<void> => {
      const opened = place(message)
      const joined = pending.get(message.batchKey)
      if (opened === undefined && joined !== undefined && heldForRepeat.has(joined.serial)) publishGauges()
      else publishCounts()
      return opened === undefined ? wakeIfNew(message) : startTimer(opened)
    }

    /** Adds a message taken in (once) to its batch, unless an expectation was waiting for it. */
    const addTaken = (message: Received): Effect.Effect<void> =>
      Effect.flatMap(expected(message), (routine) => (routine ? Effect.void : placeUnexpected(message)))

    /**
     * Adds a stored message to its batch: nothing when this replica is not
     * the sender, or took it in already. Only the sender counts it as
     * spooled: a follower's gauges stay 0, so their sum over the replicas is
     * the cluster's. For the SMTP hot path, the message is placed at the
     * call (plain code), and what is returned is what is left to run (an
     * expectation to check, a timer to start): `Effect.void`, an effect
     * already finished, when nothing is, so the intake runs no fiber for it.
     */
    const add = (message: Received): Effect.Effect<void> => {
      if (role === undefined || !role.arrivals.admit(message.id)) return Effect.void
      metrics.spooledMessages.inc()
      return expectations.waiting() ? addTaken(message) : placeUnexpected(message)
    }

    /** A stored message as the Batcher takes it in, keyed again when the keys it was stored with are another configuration's. */
    const receivedOfRecord = (record: SpoolRecord) =>
      Effect.gen(function* () {
        const keys =
          record.keys.fingerprint === classifier.fingerprint
            ? record.keys
            : (yield* classifier.classify(yield* store.readRaw(record.id), record.envelope)).keys
        // Only to the recipients it has not reached: a batch split by recipients may have been delivered in part.
        const envelope = { ...record.envelope, rcptTo: ledger.owed(record.id, record.envelope.rcptTo) }
        return receivedOf({ ...record, envelope, keys })
      })

    /**
     * Takes in what a reload's previous graph handed back (a summary under
     * way at the reload that did not reach every recipient): of `ids`, those
     * this graph left out at its recovery (`deferred`), read again from the store.
     */
    const takeHandedBack = (ids: ReadonlyArray<string>, deferred: Set<string>) =>
      Effect.gen(function* () {
        const wanted = new Set(ids.filter((id) => deferred.delete(id)))
        if (wanted.size === 0) return
        const records = (yield* store.recover).filter((record) => wanted.has(record.id))
        yield* Effect.logInfo(`taking in ${records.length} messages the previous configuration did not deliver to every recipient`)
        for (const record of records) yield* Effect.flatMap(receivedOfRecord(record), addTaken)
      }).pipe(Effect.catchAll((error) => Effect.logError(`messages handed back cannot be read (until the next start): ${error.message}`)))

    /** The summary of a claim a previous sender left unfinished, rebuilt from its stored messages (so with the same Message-ID). */
    const resent = (claim: Claim, byId: ReadonlyMap<string, Received>, now: number): Outgoing.Outgoing => ({
      recipients: claim.recipients,
      recipientsKey: claim.recipients.join("\n"),
      parts: claim.parts.flatMap((part) => {
        let batch: Batching.PendingBatch | undefined
        for (const id of part.messageIds) {
          const message = byId.get(id)
          if (message === undefined) continue
          if (batch === undefined) batch = Batching.open(++serial, message)
          else Batching.add(batch, message)
        }
        return batch === undefined ? [] : [{ batchKey: part.batchKey, messages: batch.messages, held: [] }]
      }),
      dueAt: now
    })

    /** Sends again, as they were, the summaries a previous sender claimed and did not record sent; returns their message ids. */
    const resendUnfinished = (records: ReadonlyArray<SpoolRecord>) =>
      Effect.gen(function* () {
        const claims = yield* cluster.unfinished
        if (claims.length === 0) return new Set<string>()
        const claimed = new Set(claims.flatMap((claim) => claim.parts.flatMap((part) => part.messageIds)))
        const byId = new Map<string, Received>()
        for (const record of records) if (claimed.has(record.id)) byId.set(record.id, yield* receivedOfRecord(record))
        const now = yield* Clock.currentTimeMillis
        for (const claim of claims) {
          const outgoing = resent(claim, byId, now)
          if (outgoing.parts.length === 0) continue
          if (Outgoing.summaryIdOf(outgoing) !== claim.summaryId) {
            yield* Effect.logWarning(`summary ${claim.summaryId} is sent again without some of its messages, under a new Message-ID`)
          }
          yield* Effect.logWarning(`sending again summary ${claim.summaryId}, claimed by a previous sender that did not record it sent`)
          yield* outbox.resend(outgoing)
        }
        return claimed
      })

    /** Takes in what other replicas stored since the last look (the sender's own intake adds directly). */
    const takeArrivals = (arrivals: Arrivals) =>
      Effect.gen(function* () {
        const fresh = yield* Effect.either(arrivals.poll)
        if (Either.isLeft(fresh)) return yield* Effect.logWarning(`new messages cannot be read from the store: ${fresh.left.message}`)
        for (const record of fresh.right) {
          metrics.spooledMessages.inc()
          yield* receivedOfRecord(record).pipe(
            Effect.flatMap(addTaken),
            Effect.catchAll((error) => Effect.logError(`message ${record.id} cannot be batched (until the next sender): ${error.message}`))
          )
        }
      })

    /** In a cluster, the role ends: the batches are forgotten (their messages stay in the store for the next sender). */
    const forget = Effect.sync(() => {
      role = undefined
      pending.clear()
      alarms.clear()
      comingDue.clear()
      countedUnder.clear()
      heldForRepeat.clear()
      held.clear()
      pendingMessages = 0
      heldMessages = 0
      metrics.spooledMessages.set(0)
      publishGauges()
    })

    // Every recovered message is placed before any timer starts, so an overdue batch goes out whole.
    const recover = Effect.gen(function* () {
      // What a reload's previous graph still delivers is left out, and taken in if it hands it back (subscribed first, so none is missed).
      const handedBack = yield* PubSub.subscribe(ledger.handedBack)
      const underWay = ledger.underWay()
      const records = yield* store.recover
      metrics.spooledMessages.set(records.length)
      const deferred = new Set(records.filter((record) => underWay.has(record.id)).map((record) => record.id))
      const claimed = yield* resendUnfinished(records.filter((record) => !deferred.has(record.id)))
      const arrivals = yield* cluster.follow(records.map((record) => record.id))
      for (const record of records) {
        if (claimed.has(record.id) || deferred.has(record.id)) continue
        const message = yield* receivedOfRecord(record)
        if (!(yield* expected(message))) place(message)
      }
      role = { arrivals }
      publishGauges()
      for (const batch of pending.values()) yield* startTimer(batch)
      // Interrupted when the role (or the service) ends, before the final flush: that finalizer was registered first.
      yield* Effect.forkScoped(timer)
      if (records.length > deferred.size) yield* Effect.logInfo(`recovered ${records.length - deferred.size} messages from the spool`)
      if (deferred.size > 0) yield* Effect.logInfo(`${deferred.size} messages are still being delivered by the previous configuration`)
      yield* Queue.take(handedBack).pipe(
        Effect.flatMap((ids) => takeHandedBack(ids, deferred)),
        Effect.forever,
        Effect.forkScoped
      )
      if (!cluster.alone) yield* takeArrivals(arrivals).pipe(Effect.delay(ARRIVALS_EVERY), Effect.forever, Effect.forkScoped)
    })
    // A digest's "Stopped" lines leave out the groups that came again and wait here (pending, or behind a silence).
    yield* threads.watchPending((batchKey) => {
      const keys = new Set<string>()
      for (const message of pending.get(batchKey)?.messages ?? []) keys.add(message.groupKey)
      for (const byBatch of held.values()) for (const message of byBatch.get(batchKey) ?? []) keys.add(message.groupKey)
      return keys
    })
    const ends = yield* PubSub.subscribe(silences.ended)
    // The pending batches are the sender's: recovered when it gains the role, summarized when it stops last, forgotten when it loses it.
    yield* SenderState.make({ what: "the pending messages", component: "batcher", load: recover, flush: finalFlush, clear: forget })
    yield* Queue.take(ends).pipe(Effect.flatMap(releaseHeld), Effect.forever, Effect.forkScoped)

    const snapshotOf = (batch: Batching.PendingBatch): BatchSnapshot => ({
      key: batch.key,
      recipients: Batching.allRecipients(batch.messages),
      messageCount: batch.messages.length,
      firstAt: batch.firstAt,
      lastAt: batch.lastAt,
      dueAt: heldForRepeat.get(batch.serial) ?? Batching.deadline(batch, timing),
      held: heldForRepeat.has(batch.serial) ? "repeat" : "",
      groups: Batching.groups(batch.messages).map((group) => ({
        key: group.key,
        subject: group.subject,
        count: group.count
      }))
    })

    return {
      /** Adds a stored message to its batch at the call, opening the batch if needed; returns what is left to run (see `add` above). */
      add,
      /** Sends one batch now; false if no such batch is pending. */
      flush: (key: string) =>
        Effect.suspend(() => {
          const batch = pending.get(key)
          return batch === undefined ? Effect.succeed(false) : Effect.as(release(batch), true)
        }),
      /** Sends every pending batch now; returns how many. */
      flushAll: Effect.suspend(() => {
        const batches = [...pending.values()]
        return Effect.as(Effect.forEach(batches, release, { discard: true }), batches.length)
      }),
      /** Pending batches, oldest first. */
      snapshot: Effect.sync(() => [...pending.values()].map(snapshotOf)),
      /** Counts for `/api/stats`; `lastAt` is the latest arrival among pending batches (0 when none is pending). */
      counts: Effect.sync(() => {
        let lastAt = 0
        for (const batch of pending.values()) lastAt = Math.max(lastAt, batch.lastAt)
        return { batches: pending.size, messages: pendingMessages, silenced: heldMessages, lastAt }
      }),
      /** The messages of the pending batch with this key, in arrival order; `undefined` when none is pending. */
      messages: (key: string): Effect.Effect<ReadonlyArray<Batching.PendingMessage> | undefined> =>
        Effect.sync(() => pending.get(key)?.messages.slice()),
      /** How many messages each silence holds back (silence id → count). */
      silenced: Effect.sync(
        () => new Map([...held.entries()].map(([id, byBatch]) => [id, [...byBatch.values()].reduce((n, list) => n + list.length, 0)]))
      )
    } as const
  }).pipe(LogContext.annotate({ component: "batcher" }))
}) {}
