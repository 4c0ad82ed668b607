/**
 * What one SMTP session may take, as pure rules: how many connections one
 * client address may hold, and since when a client owes the rest of a line.
 */
import type { Share } from "../settings/Settings.ts"

/**
 * The most connections one client address may hold (`--max-connections-per-ip`):
 * a count as given (0: no per-address limit), or a percentage of
 * `--max-connections`, rounded down and at least 1.
 */
export const perAddressLimit = (share: Share, maxConnections: number): number =>
  share._tag === "Count" ? share.count : Math.max(1, Math.floor((maxConnections * share.percent) / 100))

const LINE_FEED = 0x0a

/**
 * When the line the client is in the middle of began, after it sent `chunk`
 * at `now`: `undefined` when the chunk ends a line (nothing owed), the time
 * of the chunk when it starts a new unfinished line, and `pendingSince`
 * unchanged when it only adds to the unfinished line (so trickling bytes
 * never extends the line's deadline).
 */
export const pendingLineSince = (pendingSince: number | undefined, chunk: Uint8Array, now: number): number | undefined => {
  if (chunk.length === 0) return pendingSince
  const lastLineFeed = chunk.lastIndexOf(LINE_FEED)
  if (lastLineFeed === chunk.length - 1) return undefined
  return lastLineFeed === -1 ? (pendingSince ?? now) : now
}
