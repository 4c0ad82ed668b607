/**
 * What intake's store writes did lately, for readiness (`/readyz`): the
 * messages stored (250) and refused because they could not be stored (451)
 * in the last {@link WINDOW_MS}, counted per second so that thousands of
 * writes a second cost a fixed few counters. Pure: every time is given.
 */

/** How far back readiness looks. */
export const WINDOW_MS = 10_000

const SLOT_MS = 1_000
const SLOTS = WINDOW_MS / SLOT_MS

/** One second's writes. */
interface Slot {
  /** The second (ms since the epoch, divided by {@link SLOT_MS}) the counts are of. */
  second: number
  stored: number
  refused: number
}

/** The writes of the last {@link WINDOW_MS}, by second (mutable, owned by one listener). */
export interface RecentWrites {
  readonly slots: Array<Slot>
}

/** The writes of the window, counted. */
export interface WriteCounts {
  readonly stored: number
  readonly refused: number
}

/** No writes yet. */
export const empty = (): RecentWrites => ({
  slots: Array.from({ length: SLOTS }, () => ({ second: -1, stored: 0, refused: 0 }))
})

/** Counts one write at `now`: stored, or refused because it could not be stored. */
export const record = (writes: RecentWrites, now: number, stored: boolean): void => {
  const second = Math.floor(now / SLOT_MS)
  const slot = writes.slots[second % SLOTS] as Slot
  if (slot.second !== second) {
    slot.second = second
    slot.stored = 0
    slot.refused = 0
  }
  if (stored) slot.stored++
  else slot.refused++
}

/** The writes of the last {@link WINDOW_MS} before `now`. */
export const countsAt = (writes: RecentWrites, now: number): WriteCounts => {
  const second = Math.floor(now / SLOT_MS)
  let stored = 0
  let refused = 0
  for (const slot of writes.slots) {
    if (slot.second <= second - SLOTS || slot.second > second) continue
    stored += slot.stored
    refused += slot.refused
  }
  return { stored, refused }
}

/**
 * Whether intake is refusing mail: more than half of the writes of the
 * window could not be stored. No writes at all tells nothing (readiness then
 * rests on the store's own probe); a refusal among many stored messages is
 * a passing fault, not a reason to take the replica out of service.
 */
export const refusing = (counts: WriteCounts): boolean => counts.refused > counts.stored
