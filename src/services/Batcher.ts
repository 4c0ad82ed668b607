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
 * pending batch is summarized and delivered, bounded in time.
 */
import { Clock, Duration, Effect, FiberMap } from "effect"
import * as Batching from "../domain/Batching.ts"
import { type Received, receivedOf } from "../domain/Message.ts"
import type { BatchSnapshot } from "../domain/Status.ts"
import { AppConfig } from "./AppConfig.ts"
import { Classifier } from "./Classifier.ts"
import { Dispatcher } from "./Dispatcher.ts"
import { Lifecycle } from "./Lifecycle.ts"
import { Metrics } from "./Metrics.ts"
import { Spool } from "./Spool.ts"


/** Pending batches and their timers. */
export class Batcher extends Effect.Service<Batcher>()("failmail/Batcher", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const dispatcher = yield* Dispatcher
    const spool = yield* Spool
    const classifier = yield* Classifier
    const metrics = yield* Metrics
    const timing: Batching.Timing = {
      waitPeriodMs: Duration.toMillis(config.waitPeriod),
      maxWaitMs: Duration.toMillis(config.maxWait)
    }
    const pending = new Map<string, Batching.PendingBatch>()
    let serial = 0
    let pendingMessages = 0

    const publishGauges = () => {
      metrics.pendingBatches.set(pending.size)
      metrics.pendingMessages.set(pendingMessages)
    }

    /** Takes a batch out of the pending set (if it is still the same batch) and hands it on. */
    const release = (batch: Batching.PendingBatch) =>
      Effect.suspend(() => {
        if (pending.get(batch.key) !== batch) return Effect.void
        pending.delete(batch.key)
        pendingMessages -= batch.messages.length
        publishGauges()
        return dispatcher.dispatch(batch)
      })

    const waitUntilDue = (batch: Batching.PendingBatch) =>
      Effect.gen(function* () {
        while (true) {
          const now = yield* Clock.currentTimeMillis
          const due = Batching.deadline(batch, timing)
          if (now >= due) break
          yield* Effect.sleep(Duration.millis(due - now))
        }
        yield* release(batch)
      })

    const lifecycle = yield* Lifecycle

    // Registered before any timer starts, so it runs after they are interrupted.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const batches = [...pending.values()]
        if (yield* lifecycle.isReloading) {
          yield* Effect.logInfo(`reload: ${batches.length} pending batches stay in the spool for the new configuration`)
          return
        }
        yield* Effect.logInfo(`stopping: summarizing ${batches.length} pending batches`)
        yield* Effect.forEach(batches, release, { discard: true })
        yield* dispatcher.drain
        yield* Effect.logInfo("stopping: pending summaries delivered or filed")
      })
    )
    const timers = yield* FiberMap.make<number>()

    const startTimer = (batch: Batching.PendingBatch) =>
      FiberMap.run(timers, batch.serial, waitUntilDue(batch)).pipe(Effect.asVoid)

    /** Adds a message to its batch; returns the batch when it was opened by this message. */
    const place = (message: Received): Batching.PendingBatch | undefined => {
      pendingMessages++
      const existing = pending.get(message.batchKey)
      if (existing !== undefined) {
        Batching.add(existing, message)
        return undefined
      }
      const batch = Batching.open(++serial, message)
      pending.set(message.batchKey, batch)
      return batch
    }

    const add = (message: Received): Effect.Effect<void> =>
      Effect.suspend(() => {
        const opened = place(message)
        publishGauges()
        return opened === undefined ? Effect.void : startTimer(opened)
      })

    // Every recovered message is placed before any timer starts, so an overdue batch goes out whole.
    const recover = Effect.gen(function* () {
      const records = yield* spool.recover
      for (const record of records) {
        if (record.keys.fingerprint === classifier.fingerprint) {
          place(receivedOf(record))
          continue
        }
        const raw = yield* spool.readRaw(record.id)
        const classified = yield* classifier.classify(raw, record.envelope)
        place(receivedOf({ ...record, keys: classified.keys }))
      }
      publishGauges()
      yield* Effect.forEach([...pending.values()], startTimer, { discard: true })
      metrics.spooledMessages.set(records.length)
      if (records.length > 0) yield* Effect.logInfo(`recovered ${records.length} messages from the spool`)
    })
    yield* recover

    const snapshotOf = (batch: Batching.PendingBatch): BatchSnapshot => ({
      key: batch.key,
      recipients: Batching.allRecipients(batch.messages),
      messageCount: batch.messages.length,
      firstAt: batch.firstAt,
      lastAt: batch.lastAt,
      dueAt: Batching.deadline(batch, timing),
      groups: Batching.groups(batch.messages).map((group) => ({
        key: group.key,
        subject: group.subject,
        count: group.count
      }))
    })

    return {
      /** Adds a stored message to its batch, opening the batch (and its timer) if needed. */
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
        return { batches: pending.size, messages: pendingMessages, lastAt }
      })
    } as const
  })
}) {}
