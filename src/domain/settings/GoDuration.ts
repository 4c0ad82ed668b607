/**
 * Go-syntax durations (`30s`, `5m0s`, `1h30m`, `250ms`, `1.5s`), because
 * failmail users already write them that way in flags and config files.
 *
 * Parsing follows Go's `time.ParseDuration`; formatting follows Go's
 * `Duration.String`, so a value written by `--write-config` reads back equal.
 */
// Modules, not the "effect" index: `failmail sendmail` parses durations and must start fast.
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"

const NANOS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "µs": 1_000n,
  "μs": 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n
}

const MAX_NANOS = 2n ** 63n - 1n

// µs and μs written as escapes: one non-ASCII character in a regular expression would make the whole bundled chunk a two-byte string in memory.
const COMPONENT = /^(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/

/** Parses a Go duration string into nanoseconds, or explains why it is not one. */
export const parseNanos = (text: string): Either.Either<bigint, string> => {
  const invalid = Either.left(`invalid duration "${text}" (use Go syntax such as 30s, 5m, 1h30m, 250ms)`)
  let rest = text
  let sign = 1n
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1n : 1n
    rest = rest.slice(1)
  }
  if (rest === "0") return Either.right(0n)
  if (rest === "") return invalid
  let total = 0n
  while (rest !== "") {
    const match = COMPONENT.exec(rest)
    if (match === null) return invalid
    const [whole, intPart = "", fracPart = "", unit = ""] = match
    if (intPart === "" && fracPart === "") return invalid
    const perUnit = NANOS_PER_UNIT[unit]
    if (perUnit === undefined) return invalid
    total += BigInt(intPart === "" ? "0" : intPart) * perUnit
    if (fracPart !== "") {
      const scale = 10n ** BigInt(fracPart.length)
      total += (BigInt(fracPart) * perUnit) / scale
    }
    rest = rest.slice(whole.length)
  }
  // Go's Duration is an int64 of nanoseconds (about 292 years); larger values are invalid there too.
  if (total > MAX_NANOS) return invalid
  return Either.right(sign * total)
}

/** Parses a Go duration string into an Effect `Duration`. */
export const parse = (text: string): Either.Either<Duration.Duration, string> =>
  Either.flatMap(parseNanos(text), (nanos) =>
    nanos < 0n ? Either.left(`negative duration "${text}"`) : Either.right(Duration.nanos(nanos))
  )

const trimFraction = (digits: string): string => digits.replace(/0+$/, "")

/** `whole.fraction` of `value / unit` with trailing zeros dropped, as Go prints it. */
const decimal = (value: bigint, unit: bigint): string => {
  const whole = value / unit
  const fraction = trimFraction((value % unit).toString().padStart(unit.toString().length - 1, "0"))
  return fraction === "" ? whole.toString() : `${whole}.${fraction}`
}

/** Formats nanoseconds exactly as Go's `time.Duration.String` does (`5m0s`, `1.5s`, `250ms`). */
export const formatNanos = (nanos: bigint): string => {
  if (nanos === 0n) return "0s"
  const negative = nanos < 0n
  const abs = negative ? -nanos : nanos
  const sign = negative ? "-" : ""
  if (abs < 1_000n) return `${sign}${abs}ns`
  if (abs < 1_000_000n) return `${sign}${decimal(abs, 1_000n)}µs`
  if (abs < 1_000_000_000n) return `${sign}${decimal(abs, 1_000_000n)}ms`
  const hours = abs / 3_600_000_000_000n
  const minutes = (abs % 3_600_000_000_000n) / 60_000_000_000n
  const seconds = decimal(abs % 60_000_000_000n, 1_000_000_000n)
  if (hours > 0n) return `${sign}${hours}h${minutes}m${seconds}s`
  if (minutes > 0n) return `${sign}${minutes}m${seconds}s`
  return `${sign}${seconds}s`
}

/** Formats an Effect `Duration` in Go syntax. */
export const format = (duration: Duration.Duration): string =>
  Duration.isFinite(duration) ? formatNanos(Duration.unsafeToNanos(duration)) : "0s"
