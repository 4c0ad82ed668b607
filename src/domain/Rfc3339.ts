/**
 * RFC 3339 times as people write them to the API and the command line
 * (`2026-01-31T18:00:00Z`, `2026-01-31 19:00:00+01:00`). Import-free, so
 * `failmail silence` checks `--until` without loading the daemon's modules.
 */

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/

/** Parses an RFC 3339 time into ms since the epoch, or `undefined`. */
export const parseRfc3339 = (text: string): number | undefined => {
  if (!RFC3339.test(text)) return undefined
  const ms = Date.parse(text.replace(" ", "T"))
  return Number.isNaN(ms) ? undefined : ms
}
