/**
 * The upstream send budget (`--relay-rate`): at most `count` summaries in any
 * window of `periodMs`, so a burst is at most `count` and the upstream never
 * sees more than the rate however the window is placed.
 *
 * It is a sliding log, not a token bucket: a token bucket of capacity N
 * refilled at N per period lets almost 2 N through in one period (a full
 * bucket, then the refill), which is exactly what an upstream's own
 * per-period limit punishes. The log keeps the send times of the last
 * period (at most `count` of them), so its state is small and can be kept
 * durably: a restart, or a crash loop, sees the sends it already made.
 *
 * Pure data and functions, no I/O and no clock.
 */
import { Data, Either } from "effect"

/** A relay rate: `count` summaries per `periodMs`; `count` 0 means no limit. Values compare by content ({@link rateOf}). */
export interface RelayRate {
  readonly count: number
  readonly periodMs: number
}

/** A rate value that compares equal (`Equal.equals`) to any other with the same count and period. */
export const rateOf = (count: number, periodMs: number): RelayRate => Data.struct({ count, periodMs })

/** No limit (`--relay-rate 0`). */
export const unlimited: RelayRate = rateOf(0, 1_000)

const PERIODS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 }

/** The largest count accepted, so the log of one period stays small. */
export const MAX_COUNT = 100_000

/** Parses `N/s`, `N/m`, `N/h` or `0`, or explains the mistake. */
export const parseRate = (text: string): Either.Either<RelayRate, string> => {
  if (text === "0") return Either.right(unlimited)
  const match = /^(\d+)\/([smh])$/.exec(text)
  const count = match === null ? NaN : Number(match[1])
  if (match === null || !Number.isSafeInteger(count) || count < 1 || count > MAX_COUNT) {
    return Either.left(`invalid rate "${text}" (use N/s, N/m or N/h with N from 1 to ${MAX_COUNT}, or 0 for no limit)`)
  }
  return Either.right(rateOf(count, PERIODS[match[2] as string] as number))
}

/** The text form of a rate (`10/s`, `0`). */
export const formatRate = (rate: RelayRate): string => {
  if (rate.count === 0) return "0"
  const unit = Object.entries(PERIODS).find(([, ms]) => ms === rate.periodMs)?.[0] ?? "s"
  return `${rate.count}/${unit}`
}

/** Whether the rate limits anything. */
export const isLimited = (rate: RelayRate): boolean => rate.count > 0

/** Send times (ms) within the last period, oldest first: the budget's whole state. */
export type SendLog = ReadonlyArray<number>

/** The log without the sends that left the window ending at `now`. */
export const prune = (log: SendLog, now: number, rate: RelayRate): SendLog => {
  const from = now - rate.periodMs
  const kept = log.filter((at) => at > from && Number.isFinite(at))
  // A log from a clock that stepped back, or from a larger rate, keeps only what the rate allows.
  return kept.length > rate.count ? kept.slice(kept.length - rate.count) : kept
}

/**
 * The earliest instant, at or after `now`, at which one more send keeps
 * every window of one period within the rate, with `inFlight` sends under
 * way: each holds its slot until it is done (recorded in the log when it
 * ends, as the upstream counts it), however long the upstream takes to
 * answer; none may start while `count` are under way.
 */
export const nextSendAt = (log: SendLog, now: number, rate: RelayRate, inFlight = 0): number => {
  if (!isLimited(rate)) return now
  const recent = prune(log, now, rate)
  if (recent.length + inFlight < rate.count) return now
  if (inFlight >= rate.count) return Number.POSITIVE_INFINITY
  // The send that must leave the window first: the (count - inFlight)-th most recent one.
  return Math.max(now, (recent[recent.length - (rate.count - inFlight)] as number) + rate.periodMs)
}

/** How many sends the window ending at `now` still allows, with `inFlight` under way. */
export const remaining = (log: SendLog, now: number, rate: RelayRate, inFlight = 0): number =>
  isLimited(rate) ? Math.max(0, rate.count - prune(log, now, rate).length - inFlight) : Number.POSITIVE_INFINITY

/** The log after one send at `now` (pruned, so it never grows beyond `count`). */
export const record = (log: SendLog, now: number, rate: RelayRate): SendLog =>
  isLimited(rate) ? prune([...prune(log, now, rate), now], now, rate) : []
