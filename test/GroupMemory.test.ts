/** The memory of reported groups: new or ongoing, the repeat decision, the bound. Pure rules. */
import { describe, expect, it } from "vitest"
import * as Memory from "../src/domain/batching/GroupMemory.ts"

const HOUR = 3_600_000
const FORGET = 24 * HOUR

const seen = (groupKey: string, firstAt: number, lastAt = firstAt, count = 1): Memory.SeenGroup => ({
  batchKey: "b",
  groupKey,
  count,
  firstAt,
  lastAt
})

const recordIn = (memory: Memory.Memory, groupKey: string) => memory.get(Memory.memoryKey("b", groupKey))

describe("GroupMemory.classify", () => {
  it("a group never reported is new", () => {
    expect(Memory.classify(undefined, { firstAt: 0 }, FORGET)).toBe("new")
  })

  it("a group reported before is ongoing, until it was quiet longer than forget-after", () => {
    const memory = Memory.remember(new Map(), [seen("disk full", 0, HOUR, 3)], HOUR, FORGET)
    const record = recordIn(memory, "disk full")
    expect(Memory.classify(record, { firstAt: 2 * HOUR }, FORGET)).toBe("ongoing")
    expect(Memory.classify(record, { firstAt: HOUR + FORGET }, FORGET)).toBe("ongoing")
    expect(Memory.classify(record, { firstAt: HOUR + FORGET + 1 }, FORGET)).toBe("new")
  })

  it("a known group quiet longer than --back-after is back, up to --forget-after; then it is new", () => {
    const BACK = HOUR
    const record = recordIn(Memory.remember(new Map(), [seen("disk full", 0, HOUR)], HOUR, FORGET), "disk full")
    expect(Memory.classify(record, { firstAt: HOUR + BACK }, FORGET, BACK)).toBe("ongoing")
    expect(Memory.classify(record, { firstAt: HOUR + BACK + 1 }, FORGET, BACK)).toBe("back")
    expect(Memory.classify(record, { firstAt: HOUR + FORGET }, FORGET, BACK)).toBe("back")
    expect(Memory.classify(record, { firstAt: HOUR + FORGET + 1 }, FORGET, BACK)).toBe("new")
    expect(record === undefined ? -1 : Memory.quietFor(record, { firstAt: 3 * HOUR })).toBe(2 * HOUR)
    expect(Memory.NOVELTY_ORDER).toEqual(["new", "back", "ongoing"])
  })

  it("the same group key in another batch is another group", () => {
    const memory = Memory.remember(new Map(), [seen("disk full", 0)], 0, FORGET)
    expect(memory.get(Memory.memoryKey("other", "disk full"))).toBeUndefined()
  })
})

describe("GroupMemory.remember", () => {
  it("keeps first seen, last seen, last reported and the instances since first seen", () => {
    let memory = Memory.remember(new Map(), [seen("a", 100, 200, 2)], 300, FORGET)
    memory = Memory.remember(memory, [seen("a", 400, 500, 5)], 600, FORGET)
    expect(recordIn(memory, "a")).toEqual({
      batchKey: "b",
      groupKey: "a",
      firstSeen: 100,
      lastSeen: 500,
      lastReported: 600,
      instances: 7,
      reports: 2
    })
  })

  it("a group new again after a quiet spell starts over", () => {
    let memory = Memory.remember(new Map(), [seen("a", 0, 0, 9)], 0, FORGET)
    memory = Memory.remember(memory, [seen("a", FORGET + 1, FORGET + 2, 2)], FORGET + 3, FORGET)
    expect(recordIn(memory, "a")).toMatchObject({ firstSeen: FORGET + 1, instances: 2, reports: 1 })
  })

  it("is bounded: the least recently seen groups are forgotten first", () => {
    const memory = Memory.remember(
      new Map(),
      Array.from({ length: 10 }, (_, i) => seen(`g${i}`, i * 10)),
      1_000,
      FORGET,
      4
    )
    expect([...memory.values()].map((record) => record.groupKey).sort()).toEqual(["g6", "g7", "g8", "g9"])
    expect(Memory.listed(memory).map((record) => record.groupKey)).toEqual(["g9", "g8", "g7", "g6"])
  })
})

describe("GroupMemory.repeatHoldUntil (--repeat-interval)", () => {
  const memory = Memory.remember(new Map(), [seen("a", 0), seen("b", 0)], 10 * 60_000, FORGET)
  const at = (minutes: number) => minutes * 60_000

  it("off (0): never holds", () => {
    expect(Memory.repeatHoldUntil(memory, [seen("a", at(20))], at(20), 0, FORGET)).toBeUndefined()
  })

  it("only ongoing groups reported less than the interval ago: waits until the first of them is due", () => {
    expect(Memory.repeatHoldUntil(memory, [seen("a", at(20)), seen("b", at(21))], at(25), HOUR, FORGET)).toBe(at(70))
  })

  it("something new in the batch: goes now", () => {
    expect(Memory.repeatHoldUntil(memory, [seen("a", at(20)), seen("c", at(21))], at(25), HOUR, FORGET)).toBeUndefined()
  })

  it("once the interval since the last report passed: goes now", () => {
    expect(Memory.repeatHoldUntil(memory, [seen("a", at(20))], at(70), HOUR, FORGET)).toBeUndefined()
  })

  it("a group back after a quiet spell longer than --back-after: goes now", () => {
    expect(Memory.repeatHoldUntil(memory, [seen("a", at(20))], at(25), HOUR, FORGET, 5 * 60_000)).toBeUndefined()
    expect(Memory.repeatHoldUntil(memory, [seen("a", at(20))], at(25), HOUR, FORGET, HOUR)).toBe(at(70))
  })

  it("a group quiet longer than forget-after is new: goes now", () => {
    expect(Memory.repeatHoldUntil(memory, [seen("a", at(10) + FORGET + 1)], at(10) + FORGET + 2, 2 * FORGET, FORGET)).toBeUndefined()
  })
})
