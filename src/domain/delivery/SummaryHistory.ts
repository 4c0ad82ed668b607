/**
 * The recent summaries as a durable document (`history` in the Store): what
 * it holds, how a document read back is checked, and how it is merged with
 * what a process already tracks. Kept in the Store so that a restart, a
 * reload, a new sender after a failover and every replica show the same
 * recent summaries.
 */
import { Either, Schema } from "effect"
import type { SummaryRecord } from "../Status.ts"

/** How many summaries are kept (and shown). */
export const RECENT_SUMMARIES = 100

/** The error an adopted summary carries when the process that was sending it is gone. */
export const INTERRUPTED =
  "its sender stopped before this summary was settled; its messages stay pending and the next sender summarizes them"

const Stored = Schema.Struct({
  summaries: Schema.Array(
    Schema.Struct({
      id: Schema.Number,
      batchKey: Schema.String,
      subject: Schema.String,
      recipients: Schema.Array(Schema.String),
      messageCount: Schema.Number,
      groupCount: Schema.Number,
      createdAt: Schema.Number,
      status: Schema.Literal("sending", "retrying", "delivered", "failed"),
      attempts: Schema.Number,
      updatedAt: Schema.Number,
      error: Schema.String,
      failedPath: Schema.String,
      // Documents saved before threads were recorded lack them.
      messageId: Schema.optionalWith(Schema.String, { default: () => "" }),
      thread: Schema.optionalWith(Schema.String, { default: () => "" })
    })
  )
})

/** The document for `recent` (newest first). */
export const documentOf = (recent: ReadonlyArray<SummaryRecord>): typeof Stored.Encoded => ({ summaries: recent })

/**
 * The summaries of a document read back (newest first), or a reason it
 * cannot be read; nothing saved (`undefined`) is an empty history.
 */
export const recordsOf = (saved: unknown): Either.Either<Array<SummaryRecord>, string> => {
  if (saved === undefined) return Either.right([])
  return Either.match(Schema.decodeUnknownEither(Stored)(saved), {
    onLeft: (error) => Either.left(error.message),
    onRight: (document) => Either.right(document.summaries.map((summary) => ({ ...summary, recipients: [...summary.recipients] })))
  })
}

/**
 * What a process shows after reading the document: the summaries it tracks
 * itself (they are current), then the stored ones it does not know, newest
 * first, at most {@link RECENT_SUMMARIES}. A stored summary still being
 * sent that this process does not track was left by a process that is gone
 * (a restart, or a sender that lost its lease): it says so in its `error`.
 */
export const merged = (tracked: ReadonlyArray<SummaryRecord>, stored: ReadonlyArray<SummaryRecord>): Array<SummaryRecord> => {
  const known = new Set(tracked.map((summary) => summary.id))
  const adopted = stored
    .filter((summary) => !known.has(summary.id))
    .map((summary) =>
      summary.status === "sending" || summary.status === "retrying" ? { ...summary, error: summary.error === "" ? INTERRUPTED : `${summary.error}; ${INTERRUPTED}` } : summary
    )
  return [...tracked, ...adopted].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id).slice(0, RECENT_SUMMARIES)
}

/** The id for the next summary: above every id shown, so ids stay unique across restarts and senders. */
export const nextIdAfter = (recent: ReadonlyArray<SummaryRecord>): number => recent.reduce((max, summary) => Math.max(max, summary.id), 0) + 1
