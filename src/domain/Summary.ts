/**
 * A summary before rendering: which messages it covers and how they group.
 * Times are milliseconds since the epoch, when failmail stored each message.
 */
import type { HeldNote } from "./Silence.ts"

/** One group inside a summary (messages with the same group key). */
export interface SummaryGroup {
  /** The group key (rendered `--group-expr`). */
  readonly key: string
  readonly count: number
  readonly firstAt: number
  readonly lastAt: number
  /** Subject of the group's latest message. */
  readonly subject: string
  /** Distinct envelope senders, in first-seen order. */
  readonly senders: ReadonlyArray<string>
  /** Decoded text body of the group's latest message (not yet cut to size). */
  readonly body: string
}

/** Everything a summary e-mail is rendered from. */
export interface SummaryInput {
  /** The batch key (rendered `--batch-expr`). */
  readonly batchKey: string
  /** Who receives this summary (lower-cased, sorted). */
  readonly recipients: ReadonlyArray<string>
  /** Groups in order of first arrival. */
  readonly groups: ReadonlyArray<SummaryGroup>
  /** When the summary was made. */
  readonly createdAt: number
  /** What silences held back of this batch from these recipients (one line each at the end). */
  readonly held?: ReadonlyArray<HeldNote> | undefined
}

/** A rendered summary, ready to relay or to file in a maildir. */
export interface RenderedSummary {
  readonly batchKey: string
  readonly subject: string
  readonly from: string
  readonly recipients: ReadonlyArray<string>
  readonly messageCount: number
  readonly groupCount: number
  /** The complete RFC 5322 message (CRLF line ends). */
  readonly raw: Buffer
}

/** Total number of messages in a summary. */
export const messageCount = (input: SummaryInput): number => input.groups.reduce((sum, group) => sum + group.count, 0)
