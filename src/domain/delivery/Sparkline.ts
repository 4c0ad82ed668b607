/**
 * How a group's count moved over a summary's window: per-minute buckets of
 * arrival times, drawn as a text sparkline (`▁▂▃▅▇`) and as bar heights for
 * the HTML part. "17 times" reads differently as a burst or a steady drip.
 *
 * A window longer than {@link MAX_BUCKETS} minutes uses wider buckets (a
 * whole number of minutes each), so the line stays short.
 *
 * Pure data and functions, no I/O and no clock.
 */

/** The most buckets a sparkline has. */
export const MAX_BUCKETS = 60

const MINUTE = 60_000

/** The bucket layout of a window: where it starts and how wide each bucket is. */
export interface Window {
  readonly startMs: number
  readonly bucketMs: number
  readonly buckets: number
}

/** The buckets covering `[fromMs, toMs]`: one per minute from the minute of `fromMs`, widened to stay within `maxBuckets`. */
export const windowOf = (fromMs: number, toMs: number, maxBuckets: number = MAX_BUCKETS): Window => {
  const startMs = Math.floor(fromMs / MINUTE) * MINUTE
  const minutes = Math.max(1, Math.floor((Math.max(toMs, fromMs) - startMs) / MINUTE) + 1)
  const perBucket = Math.ceil(minutes / Math.max(1, maxBuckets))
  return { startMs, bucketMs: perBucket * MINUTE, buckets: Math.ceil(minutes / perBucket) }
}

/** Counts arrival times per bucket of `window` (times outside it go to the nearest end). */
export const bucketCounts = (times: Iterable<number>, window: Window): ReadonlyArray<number> => {
  const counts = new Array<number>(window.buckets).fill(0)
  for (const at of times) {
    const index = Math.min(window.buckets - 1, Math.max(0, Math.floor((at - window.startMs) / window.bucketMs)))
    counts[index] = (counts[index] ?? 0) + 1
  }
  return counts
}

const BARS = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

/**
 * One character per bucket: a space for none, `▁`…`█` scaled to the
 * busiest bucket (any instance shows at least `▁`).
 */
export const sparkline = (counts: ReadonlyArray<number>): string => {
  const max = Math.max(0, ...counts)
  return counts
    .map((count) => (count <= 0 ? " " : BARS[Math.min(BARS.length - 1, Math.ceil((count / max) * BARS.length) - 1)]))
    .join("")
}

/** Bar heights from 0 to `maxHeight` (any instance at least 1), scaled to the busiest bucket. */
export const barHeights = (counts: ReadonlyArray<number>, maxHeight: number): ReadonlyArray<number> => {
  const max = Math.max(0, ...counts)
  return counts.map((count) => (count <= 0 ? 0 : Math.max(1, Math.round((count / max) * maxHeight))))
}
