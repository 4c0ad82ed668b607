/**
 * Unique maildir file names, `<seconds>.<unique>.<hostname>`, with the
 * characters maildir readers reserve (`/` and `:`) escaped in the hostname.
 */

/** The hostname part of a maildir name: `/` → `\057`, `:` → `\072`. */
export const safeHostname = (hostname: string): string =>
  (hostname === "" ? "localhost" : hostname).replace(/\//g, "\\057").replace(/:/g, "\\072")

/** Inputs that make a name unique on this host. */
export interface UniqueParts {
  readonly nowMillis: number
  readonly pid: number
  readonly counter: number
  readonly random: string
}

/** A unique maildir file name, e.g. `1764061380.M123456P4242Q7R1a2b.host`. */
export const uniqueName = (parts: UniqueParts, hostname: string): string => {
  const seconds = Math.floor(parts.nowMillis / 1000)
  const micros = (parts.nowMillis % 1000) * 1000
  return `${seconds}.M${micros}P${parts.pid}Q${parts.counter}R${parts.random}.${safeHostname(hostname)}`
}
