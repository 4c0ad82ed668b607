import { describe, expect, it } from "vitest"
import { limitUnder, pendingLineSince, perAddressLimit, STRESS_TIMEOUT_MS, underStress } from "../src/domain/smtp/SessionLimits.ts"
import { shareCount, sharePercent } from "../src/domain/settings/Settings.ts"

const bytes = (text: string) => Buffer.from(text, "latin1")

describe("perAddressLimit (--max-connections-per-ip)", () => {
  it("a count is taken as given; 0 means no per-address limit", () => {
    expect(perAddressLimit(shareCount(7), 100)).toBe(7)
    expect(perAddressLimit(shareCount(0), 100)).toBe(0)
    expect(perAddressLimit(shareCount(500), 100)).toBe(500)
  })

  it("a percentage is of --max-connections, rounded down, and at least 1", () => {
    expect(perAddressLimit(sharePercent(50), 100)).toBe(50)
    expect(perAddressLimit(sharePercent(50), 7)).toBe(3)
    expect(perAddressLimit(sharePercent(100), 7)).toBe(7)
    expect(perAddressLimit(sharePercent(1), 10)).toBe(1)
    expect(perAddressLimit(sharePercent(50), 1)).toBe(1)
  })
})

describe("under stress (Postfix's stress-adaptive limits)", () => {
  it("is when the sessions and the connections waiting for a slot take every slot", () => {
    expect(underStress(99, 100)).toBe(false)
    expect(underStress(100, 100)).toBe(true)
    expect(underStress(101, 100)).toBe(true)
  })

  it("cuts the idle and line limits to 10 s, never lengthens them; without stress they are as configured", () => {
    expect(STRESS_TIMEOUT_MS).toBe(10_000)
    expect(limitUnder(true, 300_000)).toBe(10_000)
    expect(limitUnder(true, 60_000)).toBe(10_000)
    expect(limitUnder(true, 2_000)).toBe(2_000)
    expect(limitUnder(false, 300_000)).toBe(300_000)
    expect(limitUnder(false, 60_000)).toBe(60_000)
  })
})

describe("pendingLineSince (--line-timeout)", () => {
  it("nothing is owed after a chunk that ends its line", () => {
    expect(pendingLineSince(undefined, bytes("EHLO x\r\n"), 10)).toBeUndefined()
    expect(pendingLineSince(5, bytes("LO x\r\n"), 10)).toBeUndefined()
    expect(pendingLineSince(undefined, bytes("MAIL FROM:<a>\r\nRCPT TO:<b>\r\n"), 10)).toBeUndefined()
  })

  it("a chunk that leaves a line unfinished starts its clock then", () => {
    expect(pendingLineSince(undefined, bytes("EH"), 10)).toBe(10)
    expect(pendingLineSince(undefined, bytes("EHLO x\r\nMAIL FR"), 10)).toBe(10)
  })

  it("more bytes of the same unfinished line never move its clock (trickling does not help)", () => {
    let since = pendingLineSince(undefined, bytes("E"), 10)
    for (const [byte, now] of [["H", 20], ["L", 30], ["O", 40]] as const) since = pendingLineSince(since, bytes(byte), now)
    expect(since).toBe(10)
  })

  it("a new unfinished line after a finished one starts a new clock", () => {
    expect(pendingLineSince(10, bytes("O x\r\nMAIL"), 30)).toBe(30)
  })

  it("an empty chunk changes nothing", () => {
    expect(pendingLineSince(10, bytes(""), 30)).toBe(10)
    expect(pendingLineSince(undefined, bytes(""), 30)).toBeUndefined()
  })
})
