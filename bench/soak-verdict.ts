/**
 * The soak's verdict, batch key by batch key: what the clients saw
 * acknowledged against what reached the upstream or the fail-dir, or is
 * still in the spool (and so will be summarized at the next start).
 */
import type { KeyLedger } from "./soak-load.ts"

/** Messages lost or summarized twice, in all and by key (`key (count)`). */
export interface Verdict {
  readonly lost: number
  readonly duplicated: number
  readonly lostKeys: ReadonlyArray<string>
  readonly duplicatedKeys: ReadonlyArray<string>
  /** Keys summarized that no client sent under. */
  readonly unknownKeys: ReadonlyArray<string>
}

/**
 * Judges every key: fewer messages summarized (or still spooled) than
 * acknowledged is a loss; more than acknowledged plus those whose reply
 * never came (stored or not, both right) is a message summarized twice.
 */
export const judge = (
  ledger: ReadonlyMap<string, KeyLedger>,
  summarized: ReadonlyMap<string, number>,
  spooled: ReadonlyMap<string, number>
): Verdict => {
  let lost = 0
  let duplicated = 0
  const lostKeys: Array<string> = []
  const duplicatedKeys: Array<string> = []
  for (const [key, entry] of ledger) {
    const accounted = (summarized.get(key) ?? 0) + (spooled.get(key) ?? 0)
    const missing = entry.acknowledged - accounted
    const extra = accounted - entry.acknowledged - entry.unanswered
    if (missing > 0) {
      lost += missing
      lostKeys.push(`${key} (${missing})`)
    }
    if (extra > 0) {
      duplicated += extra
      duplicatedKeys.push(`${key} (${extra})`)
    }
  }
  const unknownKeys = [...summarized.keys(), ...spooled.keys()].filter((key) => !ledger.has(key))
  return { lost, duplicated, lostKeys, duplicatedKeys, unknownKeys: [...new Set(unknownKeys)] }
}
