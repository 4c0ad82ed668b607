import { describe, expect, it } from "vitest"
import * as RecentWrites from "../src/domain/store/RecentWrites.ts"

const T0 = 1_800_000_000_000

const writes = (outcomes: ReadonlyArray<readonly [at: number, stored: boolean]>) => {
  const recent = RecentWrites.empty()
  for (const [at, stored] of outcomes) RecentWrites.record(recent, T0 + at, stored)
  return recent
}

describe("RecentWrites (readiness)", () => {
  it("counts the stored and refused writes of the last 10 s", () => {
    const recent = writes([
      [0, true],
      [500, false],
      [4_000, false],
      [9_999, true]
    ])
    expect(RecentWrites.countsAt(recent, T0 + 9_999)).toEqual({ stored: 2, refused: 2 })
    // 10 s on, the first second's writes are out of the window.
    expect(RecentWrites.countsAt(recent, T0 + 10_000)).toEqual({ stored: 1, refused: 1 })
    expect(RecentWrites.countsAt(recent, T0 + 30_000)).toEqual({ stored: 0, refused: 0 })
  })

  it("a second reused after the window starts from zero", () => {
    const recent = writes([
      [0, false],
      [10_000, true]
    ])
    expect(RecentWrites.countsAt(recent, T0 + 10_000)).toEqual({ stored: 1, refused: 0 })
  })

  it("refusing while more than half of the window's writes were refused; no writes tell nothing", () => {
    expect(RecentWrites.refusing({ stored: 0, refused: 0 })).toBe(false)
    expect(RecentWrites.refusing({ stored: 102, refused: 3_593 })).toBe(true)
    expect(RecentWrites.refusing({ stored: 0, refused: 1 })).toBe(true)
    expect(RecentWrites.refusing({ stored: 5, refused: 5 })).toBe(false)
    expect(RecentWrites.refusing({ stored: 100, refused: 1 })).toBe(false)
  })

  it("recovers by itself once the refusals are older than the window, or outnumbered", () => {
    const recent = writes(Array.from({ length: 50 }, (_, n) => [n * 10, false] as const))
    expect(RecentWrites.refusing(RecentWrites.countsAt(recent, T0 + 1_000))).toBe(true)
    expect(RecentWrites.refusing(RecentWrites.countsAt(recent, T0 + 10_000))).toBe(false)
    for (let n = 0; n < 51; n++) RecentWrites.record(recent, T0 + 2_000, true)
    expect(RecentWrites.refusing(RecentWrites.countsAt(recent, T0 + 2_000))).toBe(false)
  })
})
