/**
 * Storms (`--storm-threshold`): when many summaries for the same recipients
 * come due close together, they go out as one storm digest instead of one
 * mail each.
 *
 * A summary that comes due begins a storm for its recipient set when, with
 * the batches still open for that set, `--storm-threshold` or more of its
 * summaries come due within one `--wait-period` (an open batch is due
 * within one wait-period of its last message, so "open now" is "due within
 * one wait-period"). Fewer go as the original sends them: one mail each.
 *
 * While the storm lasts, every summary for its recipients that comes due
 * joins it. The first digest goes one `--wait-period` after the storm
 * began, so the reader learns of it as soon as an ordinary summary would
 * have reached them; later ones follow the batch rule one level up: a
 * `--wait-period` after the last summary joined, at most `--max-wait`
 * after the first one since the previous digest. A storm that gathers
 * nothing for one `--wait-period` after a digest ends.
 *
 * Pure data and functions, no I/O and no clock.
 */
import type { Timing } from "../batching/Batching.ts"
import * as Outgoing from "./Outgoing.ts"

/** A storm for one recipient set: what it gathered since its last digest. */
export interface Storm {
  readonly recipients: ReadonlyArray<string>
  readonly recipientsKey: string
  readonly beganAt: number
  /** Summaries that came due since the last digest, in the order they came. */
  readonly gathered: Array<Outgoing.Outgoing>
  /** When the first and the last of `gathered` came due. */
  firstAt: number
  lastAt: number
  /** Digests sent so far, and when the last one went. */
  digests: number
  lastDigestAt: number
}

/** Whether a summary coming due with `alsoComing` more for its recipients within one wait-period begins a storm. */
export const begins = (threshold: number, alsoComing: number): boolean => threshold > 0 && 1 + alsoComing >= threshold

/** A storm begun by one summary, at `now`. */
export const begin = (first: Outgoing.Outgoing, now: number): Storm => ({
  recipients: first.recipients,
  recipientsKey: first.recipientsKey,
  beganAt: now,
  gathered: [first],
  firstAt: now,
  lastAt: now,
  digests: 0,
  lastDigestAt: 0
})

/** A summary for the storm's recipients came due at `now`: it joins the next digest. */
export const gather = (storm: Storm, outgoing: Outgoing.Outgoing, now: number): void => {
  if (storm.gathered.length === 0) storm.firstAt = now
  storm.gathered.push(outgoing)
  storm.lastAt = now
}

/** When the storm's next digest goes, or — nothing gathered since the last one — when the storm ends. */
export const dueAt = (storm: Storm, timing: Timing): number => {
  if (storm.digests === 0) return storm.beganAt + timing.waitPeriodMs
  if (storm.gathered.length === 0) return storm.lastDigestAt + timing.waitPeriodMs
  return Math.min(storm.lastAt + timing.waitPeriodMs, storm.firstAt + timing.maxWaitMs)
}

/** Takes the digest of what the storm gathered (one summary merging them), at `now`. */
export const takeDigest = (storm: Storm, now: number): Outgoing.Outgoing => {
  const digest = Outgoing.merge(storm.gathered)
  storm.gathered.length = 0
  storm.digests++
  storm.lastDigestAt = now
  return digest
}

/** How many messages a storm holds until its next digest. */
export const messageCountOf = (storm: Storm): number =>
  storm.gathered.reduce((sum, outgoing) => sum + Outgoing.messageCountOf(outgoing), 0)
