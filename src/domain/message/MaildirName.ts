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

/**
 * When a maildir file was delivered, from its name (`<seconds>.M<micros>…`
 * or `<seconds>.…`, as failmail and most MDAs write them), in milliseconds;
 * `undefined` for a name that does not start with the time.
 */
export const deliveredAtOf = (name: string): number | undefined => {
  const match = /^(\d{9,11})\.(?:M(\d{1,6})(?=\D|$))?/.exec(name)
  if (match === null) return undefined
  return Number(match[1]) * 1000 + (match[2] === undefined ? 0 : Math.floor(Number(match[2]) / 1000))
}
