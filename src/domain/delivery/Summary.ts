/**
 * A summary before rendering: which messages it covers and how they group.
 * Times are milliseconds since the epoch, when failmail stored each message.
 */
import type { Novelty } from "../batching/GroupMemory.ts"
import type { HeldNote } from "../silences/Silence.ts"

/** One group inside a summary (messages with the same group key). */
export interface SummaryGroup {
  /** The batch key of the batch it belongs to (several batches: a storm digest). */
  readonly batchKey: string
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
  /**
   * `new`: never reported, or quiet longer than `--forget-after`; `back`:
   * reported before and quiet longer than `--back-after` until this digest;
   * `ongoing`: reported before.
   */
  readonly novelty: Novelty
  /** For a group that is back: how long it was quiet before it returned (ms); 0 otherwise. */
  readonly quietMs: number
  /** When the group was first seen (this digest's first instance when new). */
  readonly firstSeen: number
  /** Instances since it was first seen, this digest's included. */
  readonly instancesSince: number
  /** When each of this digest's instances arrived (for the per-minute trend). */
  readonly times: ReadonlyArray<number>
}

/** Everything a summary e-mail is rendered from. */
export interface SummaryInput {
  /** The batch key (rendered `--batch-expr`); of the first batch in a storm digest. */
  readonly batchKey: string
  /** Every batch the summary covers, with its message count; more than one: a storm digest merging held batches. */
  readonly batches: ReadonlyArray<{ readonly key: string; readonly count: number }>
  /** Who receives this summary (lower-cased, sorted). */
  readonly recipients: ReadonlyArray<string>
  /** New groups first, then those back, then ongoing ones, each in order of first arrival. */
  readonly groups: ReadonlyArray<SummaryGroup>
  /** When the summary was made. */
  readonly createdAt: number
  /** What silences held back of this batch from these recipients (one line each at the end). */
  readonly held?: ReadonlyArray<HeldNote> | undefined
  /**
   * The local part of its `Message-ID`, derived from what it covers (see
   * `Outgoing.summaryIdOf`) so that the same summary built again gets the
   * same one; without it, a random one.
   */
  readonly summaryId?: string | undefined
  /** The `Message-ID` of the first digest of its thread, when it continues one (`In-Reply-To` and `References`). */
  readonly inReplyTo?: string | undefined
  /** Groups of the previous digest to the same recipients that have not come since (see `Threads.stoppedOf`). */
  readonly stopped?: ReadonlyArray<StoppedGroup> | undefined
}

/** A group that stopped: in the previous digest to the same recipients, and not come since. */
export interface StoppedGroup {
  /** The subject of its latest message. */
  readonly subject: string
  /** When its latest instance arrived (ms). */
  readonly lastSeen: number
}

/** A rendered summary, ready to relay or to file in a maildir. */
export interface RenderedSummary {
  readonly batchKey: string
  readonly subject: string
  readonly from: string
  readonly recipients: ReadonlyArray<string>
  readonly messageCount: number
  readonly groupCount: number
  /** Its `Message-ID`, angle brackets included. */
  readonly messageId: string
  /** The `Message-ID` of the first digest of its thread: its own when it starts one. */
  readonly thread: string
  /** The complete RFC 5322 message (CRLF line ends). */
  readonly raw: Buffer
}

/** How many groups of a summary are new. */
export const newGroupCount = (input: SummaryInput): number => input.groups.filter((group) => group.novelty === "new").length

/** How many groups of a summary are back after a quiet spell longer than `--back-after`. */
export const backGroupCount = (input: SummaryInput): number => input.groups.filter((group) => group.novelty === "back").length

/** Total number of messages in a summary. */
export const messageCount = (input: SummaryInput): number => input.groups.reduce((sum, group) => sum + group.count, 0)
