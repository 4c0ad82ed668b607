/**
 * What failmail did lately, for the dashboard and `/api/stats`: the last
 * summaries with their delivery status, and totals since start. Built once
 * per process and kept across reloads (`processServices` in `Main.ts`).
 */
import { Clock, Effect } from "effect"
import type { SummaryRecord } from "../domain/Status.ts"

/** Totals since start. */
export interface Totals {
  readonly startedAt: number
  received: number
  rejected: number
  summariesDelivered: number
  summariesFailed: number
  /** When the last message was accepted (ms), 0 if none yet. */
  lastReceivedAt: number
}

/** How many summaries the dashboard keeps. */
export const RECENT_SUMMARIES = 100

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
      lastReceivedAt: 0
    }
    const recent: Array<SummaryRecord> = []
    let nextId = 1

    const track = (fields: Pick<SummaryRecord, "batchKey" | "subject" | "recipients" | "messageCount" | "groupCount">) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const record: SummaryRecord = {
          batchKey: fields.batchKey,
          subject: fields.subject,
          recipients: fields.recipients,
          messageCount: fields.messageCount,
          groupCount: fields.groupCount,
          id: nextId++,
          createdAt: now,
          updatedAt: now,
          status: "sending",
          attempts: 0,
          error: "",
          failedPath: ""
        }
        recent.unshift(record)
        if (recent.length > RECENT_SUMMARIES) recent.length = RECENT_SUMMARIES
        return record
      })

    const update = (record: SummaryRecord, change: Partial<Pick<SummaryRecord, "status" | "attempts" | "error" | "failedPath">>) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        Object.assign(record, change, { updatedAt: now })
        if (change.status === "delivered") totals.summariesDelivered++
        if (change.status === "failed") totals.summariesFailed++
      })

    return {
      totals,
      /** Newest first. */
      recent: (): ReadonlyArray<SummaryRecord> => recent,
      /** Starts tracking a summary. */
      track,
      /** Records a change of a tracked summary. */
      update,
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
