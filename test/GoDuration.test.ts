import { Duration, Either } from "effect"
import { describe, expect, it } from "vitest"
import * as GoDuration from "../src/domain/settings/GoDuration.ts"

const SECOND = 1_000_000_000n
const MINUTE = 60n * SECOND
const HOUR = 60n * MINUTE

const nanosOf = (text: string): bigint => {
  const parsed = GoDuration.parseNanos(text)
  if (Either.isLeft(parsed)) throw new Error(`expected "${text}" to parse, got: ${parsed.left}`)
  return parsed.right
}

describe("GoDuration.parse (Go's time.ParseDuration)", () => {
  it.each([
    ["30s", 30n * SECOND],
    ["5m", 5n * MINUTE],
    ["5m0s", 5n * MINUTE],
    ["1h30m", HOUR + 30n * MINUTE],
    ["1h30m0s", HOUR + 30n * MINUTE],
    ["250ms", 250_000_000n],
    ["1.5s", 1_500_000_000n],
    ["0", 0n],
    ["0s", 0n],
    ["+5s", 5n * SECOND],
    [".5s", 500_000_000n],
    ["5.s", 5n * SECOND],
    ["1h2m3.5s", HOUR + 2n * MINUTE + 3_500_000_000n],
    ["100ns", 100n],
    ["7us", 7_000n],
    ["7µs", 7_000n],
    ["7μs", 7_000n],
    ["2.3ms", 2_300_000n],
    ["1.5h", HOUR + 30n * MINUTE],
    ["10m10m", 20n * MINUTE],
    ["9223372036854775807ns", 2n ** 63n - 1n]
  ])("%s is %s ns", (text, nanos) => {
    expect(nanosOf(text)).toBe(nanos)
    expect(Either.map(GoDuration.parse(text), Duration.unsafeToNanos)).toEqual(Either.right(nanos))
  })

  it.each([
    ["ten"],
    ["5"],
    [""],
    ["s"],
    ["."],
    [".s"],
    ["1.5"],
    ["5x"],
    ["5 s"],
    [" 5s"],
    ["5s "],
    ["1d"],
    ["5m-3s"],
    ["1.2.3s"],
    ["-"],
    ["9223372036854775808ns"],
    ["3000000h"]
  ])("rejects %j with a one-line message quoting it", (text) => {
    const parsed = GoDuration.parse(text)
    expect(Either.isLeft(parsed)).toBe(true)
    if (Either.isLeft(parsed)) {
      expect(parsed.left).toContain(`"${text}"`)
      expect(parsed.left).not.toContain("\n")
    }
  })

  it("rejects negative durations", () => {
    expect(GoDuration.parseNanos("-5s")).toEqual(Either.right(-5n * SECOND))
    const parsed = GoDuration.parse("-5s")
    expect(Either.isLeft(parsed)).toBe(true)
    if (Either.isLeft(parsed)) expect(parsed.left).toContain("negative")
  })
})

describe("GoDuration.format (Go's Duration.String)", () => {
  it.each([
    [0n, "0s"],
    [1n, "1ns"],
    [999n, "999ns"],
    [1_500n, "1.5µs"],
    [2_300_000n, "2.3ms"],
    [250_000_000n, "250ms"],
    [SECOND, "1s"],
    [1_500_000_000n, "1.5s"],
    [30n * SECOND, "30s"],
    [45n * SECOND, "45s"],
    [90n * SECOND, "1m30s"],
    [5n * MINUTE, "5m0s"],
    [10n * MINUTE, "10m0s"],
    [HOUR, "1h0m0s"],
    [HOUR + 30n * MINUTE, "1h30m0s"],
    [HOUR + 500_000_000n, "1h0m0.5s"],
    [100n * HOUR + 1n, "100h0m0.000000001s"],
    [2n ** 63n - 1n, "2562047h47m16.854775807s"],
    [-90n * SECOND, "-1m30s"]
  ])("%s ns is %s", (nanos, text) => {
    expect(GoDuration.formatNanos(nanos)).toBe(text)
  })

  it("formats Effect durations however they were built", () => {
    expect(GoDuration.format(Duration.minutes(5))).toBe("5m0s")
    expect(GoDuration.format(Duration.seconds(30))).toBe("30s")
    expect(GoDuration.format(Duration.millis(250))).toBe("250ms")
    expect(GoDuration.format(Duration.millis(1500))).toBe("1.5s")
    expect(GoDuration.format(Duration.hours(1.5))).toBe("1h30m0s")
    expect(GoDuration.format(Duration.zero)).toBe("0s")
  })

  it.each(["30s", "5m", "5m0s", "1h30m", "250ms", "1.5s", "0", "1h0m0.5s", "2.3ms", "1.5µs", "48h"])(
    "%s reads back equal after formatting, and formatting is stable",
    (text) => {
      const nanos = nanosOf(text)
      const formatted = GoDuration.formatNanos(nanos)
      expect(nanosOf(formatted)).toBe(nanos)
      expect(GoDuration.formatNanos(nanosOf(formatted))).toBe(formatted)
    }
  )
})
