/** Per-minute buckets and their sparkline: pure rules. */
import { describe, expect, it } from "vitest"
import * as Sparkline from "../src/domain/delivery/Sparkline.ts"

const MINUTE = 60_000

describe("Sparkline", () => {
  it("one bucket per minute of the window, from the minute of its start", () => {
    const window = Sparkline.windowOf(30_000, 4 * MINUTE + 10_000)
    expect(window).toEqual({ startMs: 0, bucketMs: MINUTE, buckets: 5 })
    expect(Sparkline.bucketCounts([30_000, 50_000, 2 * MINUTE, 4 * MINUTE + 10_000], window)).toEqual([2, 0, 1, 0, 1])
  })

  it("a window longer than the most buckets uses whole-minute buckets, wider", () => {
    const window = Sparkline.windowOf(0, 3 * 60 * MINUTE, 60)
    expect(window.bucketMs).toBe(4 * MINUTE)
    expect(window.buckets).toBeLessThanOrEqual(60)
  })

  it("draws a burst and a steady drip differently", () => {
    expect(Sparkline.sparkline([0, 0, 17, 0, 0])).toBe("  █  ")
    expect(Sparkline.sparkline([4, 3, 4, 3, 3])).toBe("█▆█▆▆")
    expect(Sparkline.sparkline([8, 1, 4, 0])).toBe("█▁▄ ")
  })

  it("bar heights scale to the busiest bucket, any instance at least 1", () => {
    expect(Sparkline.barHeights([0, 1, 100, 50], 20)).toEqual([0, 1, 20, 10])
  })
})
