/**
 * The sender lease: which replica of a cluster sends summaries. One lease
 * for the cluster (holder, generation, expiry); a replica takes it when it
 * is free or expired, keeps it by renewing it before it expires, and every
 * sending step checks it still holds it (fencing: same holder, same
 * generation, not expired).
 *
 * Times are the replicas' `Clock` times (ms since the epoch), so the rules
 * are TestClock-tested; replicas' clocks are assumed to agree within a
 * second (NTP). A skew only moves the moment a takeover happens, never lets
 * two replicas send: a takeover changes the holder and the generation, and
 * every claim checks both in the transaction that records it.
 *
 * Pure rules, no I/O.
 */

/** The lease as stored. */
export interface Lease {
  /** The id of the replica holding it ("" when nobody ever held it). */
  readonly holder: string
  /** Incremented at every change of holder: a stale holder's generation no longer matches. */
  readonly generation: number
  /** Until when it holds without a renewal (ms). */
  readonly expiresAt: number
}

/**
 * How long a lease holds without a renewal. Short, for a takeover within
 * 10 s of a sender's death, summary included (see {@link TAKEOVER_BOUND_MS});
 * long enough that a database that stalls for a few seconds (a checkpoint,
 * a failover of its own) makes no replica take over from a live sender: a
 * renewal is due every {@link RENEW_EVERY_MS}, so a stall of up to
 * `TTL_MS - RENEW_EVERY_MS` (4 s) ends before the lease does.
 */
export const TTL_MS = 5_000

/** How often the holder renews it, and how often the others try to take it; also how long one request may take. */
export const RENEW_EVERY_MS = 1_000

/**
 * The longest a cluster goes without a sender after the sender dies
 * (`kill -9`, a network cut, a lost database connection): its last renewal
 * holds for {@link TTL_MS}, and the others try every {@link RENEW_EVERY_MS}.
 * A batch already due is summarized by the new sender at once: 6 s, of the
 * 10 s a failover may take from the death to the summary upstream.
 */
export const TAKEOVER_BOUND_MS = TTL_MS + RENEW_EVERY_MS

/** The lease before anyone held it. */
export const vacant: Lease = { holder: "", generation: 0, expiresAt: 0 }

/**
 * The lease after `replica` asks for it at `now`: renewed (same generation)
 * when it holds it, taken (next generation) when it is free or expired, or
 * `undefined` when another replica holds it.
 */
export const acquire = (current: Lease, replica: string, now: number, ttlMs: number = TTL_MS): Lease | undefined => {
  if (current.holder === replica) return { holder: replica, generation: current.generation, expiresAt: now + ttlMs }
  if (current.expiresAt > now) return undefined
  return { holder: replica, generation: current.generation + 1, expiresAt: now + ttlMs }
}

/** Whether `held` (what a replica believes it holds) is still the lease in force at `now`: the fencing check of every claim. */
export const holds = (current: Lease, held: Lease, now: number): boolean =>
  current.holder === held.holder && current.generation === held.generation && current.expiresAt > now

/** The lease after its holder let it go: expired at once, so the next replica to ask takes it. */
export const released = (current: Lease, replica: string, generation: number): Lease =>
  current.holder === replica && current.generation === generation ? { ...current, expiresAt: 0 } : current

/** The replica that sends at `now`, if any. */
export const senderAt = (current: Lease, now: number): string | undefined =>
  current.holder !== "" && current.expiresAt > now ? current.holder : undefined
