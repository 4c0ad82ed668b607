/**
 * Bounded logs for errors that come in floods (see `domain/RepeatedLines.ts`):
 * the first of a kind is written as it comes, the rest are counted and
 * written as one line per interval. Plain code, for the callbacks of the
 * SMTP hot path; the interval's end is a timer that does not keep the
 * process alive.
 */
import * as RepeatedLines from "../../domain/RepeatedLines.ts"

/** Writes the first line of a kind, or counts it; `writeCount` gets the line of each interval's count. */
export const make = (writeCount: (line: string) => void, intervalMs: number = RepeatedLines.INTERVAL_MS) => {
  const tally = RepeatedLines.empty()
  const endOf = (kind: string, what: string, reason: string) => () => {
    const counted = RepeatedLines.endInterval(tally, kind)
    if (counted === 0) return
    writeCount(RepeatedLines.countLine(what, counted, reason, intervalMs))
    setTimeout(endOf(kind, what, reason), intervalMs).unref()
  }
  /** One occurrence of `what` for `reason`: `writeFirst` runs for the first of its interval only. */
  return (what: string, reason: string, writeFirst: () => void): void => {
    const kind = `${what}\u0000${reason}`
    if (!RepeatedLines.note(tally, kind)) return
    writeFirst()
    setTimeout(endOf(kind, what, reason), intervalMs).unref()
  }
}
