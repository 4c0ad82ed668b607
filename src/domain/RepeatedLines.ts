/**
 * Repeated log lines of one kind (the same refusal for the same reason, a
 * thousand times a second on a full disk): the first is written, the next
 * ones are only counted, and when the interval ends one line says how many
 * there were. A kind with nothing counted in its interval is closed, so its
 * next occurrence is written at once again. Pure: the caller keeps time.
 */

/** How long the lines of one kind are counted before their count is written. */
export const INTERVAL_MS = 10_000

/** The kinds whose interval is open, with what was counted since its start. */
export type Tally = Map<string, { count: number }>

/** No kind open. */
export const empty = (): Tally => new Map()

/** Notes one occurrence of `kind`: true when it is to be written (the first of a new interval), false when it is only counted. */
export const note = (tally: Tally, kind: string): boolean => {
  const open = tally.get(kind)
  if (open === undefined) {
    tally.set(kind, { count: 0 })
    return true
  }
  open.count++
  return false
}

/**
 * Ends `kind`'s interval: how many occurrences were counted in it. With
 * some, the next interval starts at once (counting goes on); with none, the
 * kind is closed.
 */
export const endInterval = (tally: Tally, kind: string): number => {
  const open = tally.get(kind)
  if (open === undefined) return 0
  const counted = open.count
  if (counted === 0) tally.delete(kind)
  else open.count = 0
  return counted
}

/** The line for `counted` more occurrences of `what` in an interval: `answered 451 × 3,593 more in the last 10 s: ENOSPC`. */
export const countLine = (what: string, counted: number, reason: string, intervalMs: number = INTERVAL_MS): string =>
  `${what} × ${counted.toLocaleString("en-US")} more in the last ${intervalMs / 1000} s: ${reason}`
