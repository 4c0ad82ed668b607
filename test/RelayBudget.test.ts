/** The relay budget's sliding log (`--relay-rate`): pure rules, no clock. */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"

const rate = (text: string): RelayBudget.RelayRate => {
  const parsed = RelayBudget.parseRate(text)
  if (Either.isLeft(parsed)) throw new Error(parsed.left)
  return parsed.right
}

/** Sends as many as the budget allows, at each instant of `instants`, `wanted` each time; returns the send times. */
const sendGreedily = (budget: RelayBudget.RelayRate, instants: ReadonlyArray<number>, wanted: number) => {
  let log: RelayBudget.SendLog = []
  const sent: Array<number> = []
  for (const now of instants) {
    for (let i = 0; i < wanted && RelayBudget.nextSendAt(log, now, budget) <= now; i++) {
      log = RelayBudget.record(log, now, budget)
      sent.push(now)
    }
  }
  return sent
}

describe("RelayBudget.parseRate", () => {
  it.each([
    ["10/s", 10, 1_000],
    ["60/m", 60, 60_000],
    ["500/h", 500, 3_600_000]
  ])("%s", (text, count, periodMs) => {
    expect(rate(text)).toMatchObject({ count, periodMs })
    expect(RelayBudget.formatRate(rate(text))).toBe(text)
  })

  it("0 is no limit", () => {
    expect(RelayBudget.isLimited(rate("0"))).toBe(false)
    expect(RelayBudget.formatRate(rate("0"))).toBe("0")
  })

  it.each(["", "10", "10/d", "-1/s", "0/s", "1.5/s", "ten/s", "10 /s", "100001/s"])("refuses %j", (text) => {
    const parsed = RelayBudget.parseRate(text)
    expect(Either.isLeft(parsed) && parsed.left).toContain("invalid rate")
  })
})

describe("RelayBudget sliding log", () => {
  it("allows a burst of at most N at once", () => {
    expect(sendGreedily(rate("10/s"), [0], 50)).toHaveLength(10)
  })

  it("no window of one period ever holds more than N, however sends are asked for", () => {
    const budget = rate("10/s")
    const instants = Array.from({ length: 400 }, (_, i) => i * 37)
    const sent = sendGreedily(budget, instants, 7)
    for (const start of sent) {
      expect(sent.filter((at) => at >= start && at < start + 1_000).length).toBeLessThanOrEqual(10)
    }
    // …and it is not stingy: about N per period over the run.
    expect(sent.length).toBeGreaterThanOrEqual(Math.floor((400 * 37) / 1_000) * 10)
  })

  it("the next send is due when the oldest of the last N leaves the window", () => {
    const budget = rate("2/s")
    let log = RelayBudget.record([], 100, budget)
    log = RelayBudget.record(log, 400, budget)
    expect(RelayBudget.nextSendAt(log, 500, budget)).toBe(1_100)
    expect(RelayBudget.remaining(log, 500, budget)).toBe(0)
    expect(RelayBudget.nextSendAt(log, 1_100, budget)).toBe(1_100)
    expect(RelayBudget.remaining(log, 1_100, budget)).toBe(1)
  })

  it("a send under way holds its slot until it is done, however long: none starts while N are under way", () => {
    const budget = rate("2/s")
    const log = RelayBudget.record([], 100, budget)
    // One done at 100 ms, one under way: the budget is spent until the one done leaves the window...
    expect(RelayBudget.remaining(log, 500, budget, 1)).toBe(0)
    expect(RelayBudget.nextSendAt(log, 500, budget, 1)).toBe(1_100)
    // ...and with two under way, no window lets a third go before one of them is done.
    expect(RelayBudget.nextSendAt([], 5_000, budget, 2)).toBe(Number.POSITIVE_INFINITY)
    expect(RelayBudget.nextSendAt([], 5_000, budget, 1)).toBe(5_000)
  })

  it("keeps at most N send times (the state stays small)", () => {
    const budget = rate("3/m")
    let log: RelayBudget.SendLog = []
    for (let at = 0; at < 10; at++) log = RelayBudget.record(log, at, budget)
    expect(log).toHaveLength(3)
  })

  it("a log saved under a larger rate is cut to the new one", () => {
    expect(RelayBudget.prune([1, 2, 3, 4, 5], 10, rate("2/s"))).toEqual([4, 5])
  })

  it("no limit: always now, nothing kept", () => {
    expect(RelayBudget.nextSendAt([1, 2, 3], 3, rate("0"))).toBe(3)
    expect(RelayBudget.record([1, 2, 3], 3, rate("0"))).toEqual([])
  })
})
