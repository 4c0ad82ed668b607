/**
 * What one SMTP session may take, as pure rules: how many connections one
 * client address may hold, since when a client owes the rest of a line, and
 * the shorter limits while the listener is under stress.
 */
import type { Share } from "../settings/Settings.ts"

/**
 * The most connections one client address may hold (`--max-connections-per-ip`):
 * a count as given (0: no per-address limit), or a percentage of
 * `--max-connections`, rounded down and at least 1.
 */
export const perAddressLimit = (share: Share, maxConnections: number): number =>
  share._tag === "Count" ? share.count : Math.max(1, Math.floor((maxConnections * share.percent) / 100))

/**
 * A session's idle and line limit while the listener is under stress:
 * Postfix's `smtpd_timeout` under stress (10 s, down from 300 s).
 */
export const STRESS_TIMEOUT_MS = 10_000

/**
 * How long a new connection waits for a slot while every one is taken,
 * before it is refused (421): long enough for a session silent since the
 * stress began to be shed.
 */
export const SLOT_WAIT_MS = STRESS_TIMEOUT_MS + 5_000

/**
 * Whether the listener is under stress: its sessions and the connections
 * waiting for a slot (`open`) take every slot of `--max-connections`.
 */
export const underStress = (open: number, maxConnections: number): boolean => maxConnections > 0 && open >= maxConnections

/** A session limit (idle, or one line) as it applies: as configured, or {@link STRESS_TIMEOUT_MS} when shorter, under stress. */
export const limitUnder = (stress: boolean, configuredMs: number): number => (stress ? Math.min(configuredMs, STRESS_TIMEOUT_MS) : configuredMs)

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
