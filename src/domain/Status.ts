/**
 * What failmail reports about itself: pending batches and recent summaries,
 * as the Batcher and History keep them and the dashboard and API show them.
 */

/** A pending batch as the dashboard and API show it. */
export interface BatchSnapshot {
  readonly key: string
  readonly recipients: ReadonlyArray<string>
  readonly messageCount: number
  readonly firstAt: number
  readonly lastAt: number
  /** When it will be sent (ms since the epoch). */
  readonly dueAt: number
  /** `repeat`: it came due, but waits for `--repeat-interval` (every group was reported lately, nothing new); `""` otherwise. */
  readonly held: "" | "repeat"
  readonly groups: ReadonlyArray<{ readonly key: string; readonly subject: string; readonly count: number }>
}

/** A summary held back before relaying, as the dashboard and API show it. */
export interface HeldSummary {
  /**
   * `budget`: the relay budget (`--relay-rate`) is spent for now; `storm`:
   * gathered into the storm digest of its recipients (`--storm-threshold`).
   */
  readonly reason: "budget" | "storm"
  readonly recipients: ReadonlyArray<string>
  /** When it came due (ms since the epoch). */
  readonly dueAt: number
  /** When the budget allows the next send, or the storm's next digest goes (ms since the epoch). */
  readonly nextSendAt: number
  readonly messageCount: number
  /** The batches it covers (several: it goes out as one storm digest). */
  readonly batches: ReadonlyArray<{ readonly key: string; readonly count: number }>
}

/** Where a summary stands. */
export type SummaryStatus = "sending" | "retrying" | "delivered" | "failed"

/** One summary as the dashboard shows it. */
export interface SummaryRecord {
  readonly id: number
  readonly batchKey: string
  readonly subject: string
  readonly recipients: ReadonlyArray<string>
  readonly messageCount: number
  readonly groupCount: number
  readonly createdAt: number
  status: SummaryStatus
  attempts: number
  updatedAt: number
  /** The last relay error, if any. */
  error: string
  /** Where it was filed when relaying failed. */
  failedPath: string
  /** Its `Message-ID`; `""` for one recorded before threads were. */
  readonly messageId: string
  /** The `Message-ID` of the first summary of its thread (its own when it starts one); `""` when not known. */
  readonly thread: string
}

/** Go's zero `time.Time` in RFC 3339: what the original reports before anything happened. */
export const ZERO_TIME = "0001-01-01T00:00:00Z"

/** A time (ms since the epoch) in RFC 3339, UTC; 0 or less is {@link ZERO_TIME}. */
export const rfc3339 = (ms: number): string => (ms > 0 ? new Date(ms).toISOString() : ZERO_TIME)
