/**
 * What failmail remembers of the groups it reported, per batch key and group
 * key: when the group was first and last seen, when it was last reported,
 * and how many instances it had since it was first seen. From that memory a
 * digest marks each group **new** (never reported, or quiet longer than
 * `--forget-after`), **back** (known, and quiet longer than `--back-after`
 * before it returned) or **ongoing**, and `--repeat-interval` decides whether
 * a due batch may wait.
 *
 * The memory is bounded ({@link MEMORY_BOUND} groups): when it is full, the
 * least recently seen groups are forgotten first (they would be new again
 * anyway once quiet for `--forget-after`).
 *
 * Pure data and functions, no I/O and no clock.
 */

/** The most groups remembered; beyond it the least recently seen are forgotten. */
export const MEMORY_BOUND = 5_000

/** What is remembered of one group. */
export interface GroupRecord {
  readonly batchKey: string
  readonly groupKey: string
  /** Arrival of the first instance since the group was last new (ms). */
  readonly firstSeen: number
  /** Arrival of the latest reported instance (ms). */
  readonly lastSeen: number
  /** When it was last in a digest that was relayed or filed (ms). */
  readonly lastReported: number
  /** Instances reported since `firstSeen`. */
  readonly instances: number
  /** Digests it was in since `firstSeen`. */
  readonly reports: number
}

/** The remembered groups, by {@link memoryKey}. */
export type Memory = ReadonlyMap<string, GroupRecord>

/** The key of a group in the memory: batch key and group key. */
export const memoryKey = (batchKey: string, groupKey: string): string => JSON.stringify([batchKey, groupKey])

/**
 * Whether a group is reported for the first time (or again after a quiet
 * spell longer than `--forget-after`), returns after a quiet spell longer
 * than `--back-after`, or continues.
 */
export type Novelty = "new" | "back" | "ongoing"

/** The order in which a digest lists its groups: new ones, then those back, then ongoing ones. */
export const NOVELTY_ORDER: ReadonlyArray<Novelty> = ["new", "back", "ongoing"]

/** A group as a digest is about to report it. */
export interface SeenGroup {
  readonly batchKey: string
  readonly groupKey: string
  readonly count: number
  readonly firstAt: number
  readonly lastAt: number
}

/** How long a known group was quiet (no instance) before this digest's first instance of it (ms). */
export const quietFor = (record: GroupRecord, group: Pick<SeenGroup, "firstAt">): number => group.firstAt - record.lastSeen

/**
 * New when never reported, or when it was quiet (no instance) for longer
 * than `forgetAfterMs` before this digest's first instance; back when it was
 * quiet longer than `backAfterMs` (and not that long); ongoing otherwise.
 */
export const classify = (
  record: GroupRecord | undefined,
  group: Pick<SeenGroup, "firstAt">,
  forgetAfterMs: number,
  backAfterMs: number = Number.POSITIVE_INFINITY
): Novelty => {
  if (record === undefined) return "new"
  const quiet = quietFor(record, group)
  return quiet > forgetAfterMs ? "new" : quiet > backAfterMs ? "back" : "ongoing"
}

/** The record of a group after a digest that reported it at `now`. */
export const reported = (
  record: GroupRecord | undefined,
  group: SeenGroup,
  now: number,
  forgetAfterMs: number
): GroupRecord => {
  const fresh = classify(record, group, forgetAfterMs) === "new" || record === undefined
  return {
    batchKey: group.batchKey,
    groupKey: group.groupKey,
    firstSeen: fresh ? group.firstAt : Math.min(record.firstSeen, group.firstAt),
    lastSeen: fresh ? group.lastAt : Math.max(record.lastSeen, group.lastAt),
    lastReported: now,
    instances: (fresh ? 0 : record.instances) + group.count,
    reports: (fresh ? 0 : record.reports) + 1
  }
}

/**
 * The memory after a digest reported `groups` at `now`, bounded to `bound`
 * groups (the least recently seen forgotten first). Returns a new map.
 */
export const remember = (
  memory: Memory,
  groups: ReadonlyArray<SeenGroup>,
  now: number,
  forgetAfterMs: number,
  bound: number = MEMORY_BOUND
): Memory => {
  const next = new Map(memory)
  for (const group of groups) {
    const key = memoryKey(group.batchKey, group.groupKey)
    next.set(key, reported(next.get(key), group, now, forgetAfterMs))
  }
  if (next.size <= bound) return next
  const byLastSeen = [...next.entries()].sort(([, a], [, b]) => b.lastSeen - a.lastSeen || b.lastReported - a.lastReported)
  return new Map(byLastSeen.slice(0, Math.max(0, bound)))
}

/**
 * With `--repeat-interval` (`repeatMs` > 0): when a due batch whose groups
 * are all ongoing and were all reported less than `repeatMs` before `now`
 * may go out — the first moment one of them is due a repeat. `undefined`:
 * it goes now (off, something new or back, or a group due a repeat already).
 */
export const repeatHoldUntil = (
  memory: Memory,
  groups: ReadonlyArray<SeenGroup>,
  now: number,
  repeatMs: number,
  forgetAfterMs: number,
  backAfterMs: number = Number.POSITIVE_INFINITY
): number | undefined => {
  if (repeatMs <= 0 || groups.length === 0) return undefined
  let until = Number.POSITIVE_INFINITY
  for (const group of groups) {
    const record = memory.get(memoryKey(group.batchKey, group.groupKey))
    if (record === undefined || classify(record, group, forgetAfterMs, backAfterMs) !== "ongoing") return undefined
    const due = record.lastReported + repeatMs
    if (due <= now) return undefined
    until = Math.min(until, due)
  }
  return until
}

/** Records newest seen first, for the API. */
export const listed = (memory: Memory): ReadonlyArray<GroupRecord> =>
  [...memory.values()].sort((a, b) => b.lastSeen - a.lastSeen)
