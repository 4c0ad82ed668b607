/**
 * What failmail did lately, for the dashboard and `/api/stats`: the last
 * summaries with their delivery status, and totals since start. Built once
 * per process and kept across reloads (`processServices` in `Main.ts`).
 * The summaries are also kept durably (see `HistoryDocument.ts`): this
 * service adopts what was stored and says when what it shows changed.
 */
import { Clock, Effect } from "effect"
import type { SummaryRecord } from "../../domain/Status.ts"
import * as SummaryHistory from "../../domain/delivery/SummaryHistory.ts"

/** Totals since start. */
export interface Totals {
  readonly startedAt: number
  received: number
  rejected: number
  summariesDelivered: number
  summariesFailed: number
  /** When the last message was accepted (ms), 0 if none yet. */
  lastReceivedAt: number
  /** Messages summarized whose removal from the store is not written yet (a stop now would summarize them again). */
  removalsPending: number
}

/** Recent summaries and totals. */
export class History extends Effect.Service<History>()("failmail/History", {
  effect: Effect.gen(function* () {
    const startedAt = yield* Clock.currentTimeMillis
    const totals: Totals = {
      startedAt,
      received: 0,
      rejected: 0,
      summariesDelivered: 0,
      summariesFailed: 0,
      lastReceivedAt: 0,
      removalsPending: 0
    }
    let recent: Array<SummaryRecord> = []
    /** The ids of the summaries this process tracks (the others were adopted from the store). */
    const own = new Set<number>()
    let nextId = 1
    let changed: (() => void) | undefined
    const notify = () => changed?.()

    const track = (fields: Pick<SummaryRecord, "batchKey" | "subject" | "recipients" | "messageCount" | "groupCount" | "messageId" | "thread">) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const record: SummaryRecord = {
          batchKey: fields.batchKey,
          subject: fields.subject,
          recipients: fields.recipients,
          messageCount: fields.messageCount,
          groupCount: fields.groupCount,
          messageId: fields.messageId,
          thread: fields.thread,
          id: nextId++,
          createdAt: now,
          updatedAt: now,
          status: "sending",
          attempts: 0,
          error: "",
          failedPath: ""
        }
        recent.unshift(record)
        own.add(record.id)
        for (const dropped of recent.splice(SummaryHistory.RECENT_SUMMARIES)) own.delete(dropped.id)
        notify()
        return record
      })

    const update = (record: SummaryRecord, change: Partial<Pick<SummaryRecord, "status" | "attempts" | "error" | "failedPath">>) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        Object.assign(record, change, { updatedAt: now })
        if (change.status === "delivered") totals.summariesDelivered++
        if (change.status === "failed") totals.summariesFailed++
        notify()
      })

    return {
      totals,
      /** Newest first. */
      recent: (): ReadonlyArray<SummaryRecord> => recent,
      /** Starts tracking a summary. */
      track,
      /** Records a change of a tracked summary. */
      update,
      /**
       * Takes in the summaries read from the store (newest first): they are
       * shown beside those this process tracks, which stay as they are, and
       * ids continue above all of them.
       */
      adopt: (stored: ReadonlyArray<SummaryRecord>): void => {
        recent = SummaryHistory.merged(recent.filter((record) => own.has(record.id)), stored)
        nextId = Math.max(nextId, SummaryHistory.nextIdAfter(recent))
      },
      /** Calls `listener` (plain code) whenever what {@link recent} shows changes; `undefined` stops it. */
      onChange: (listener: (() => void) | undefined): void => {
        changed = listener
      },
      /** Stops `listener`, unless another took its place (a reload's next graph, while this one's last deliveries end). */
      offChange: (listener: () => void): void => {
        if (changed === listener) changed = undefined
      },
      /** Counts messages whose removal from the store is waited for (`delta` added; negative once written). */
      removalsPending: (delta: number): void => {
        totals.removalsPending += delta
      },
      /** Records an accepted message (plain code: it runs for every message before its 250). */
      received: (at: number): void => {
        totals.received++
        totals.lastReceivedAt = Math.max(totals.lastReceivedAt, at)
      },
      /** Records a refused message. */
      rejected: Effect.sync(() => {
        totals.rejected++
      })
    } as const
  })
}) {}
