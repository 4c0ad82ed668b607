/**
 * Addresses: `host:port` listen and relay addresses as failmail's flags
 * spell them, and the mail addresses a header names.
 */
import addressparser from "nodemailer/lib/addressparser"

/** The default `--bind-addr`, which is also where `failmail sendmail` submits by default. */
export const DEFAULT_BIND_ADDR = "localhost:2525"

/** A host and port. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

/**
 * Splits `host:port`, `[v6]:port`, `:port` or a bare host (with `defaultPort`).
 * Returns a one-line problem for anything else.
 */
export const parseHostPort = (text: string, defaultPort: number): HostPort | string => {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text)
  const plain = /^([^:]*)(?::(\d+))?$/.exec(text)
  const match = bracketed ?? plain
  if (match === null) return `invalid address "${text}" (use host:port)`
  const host = match[1] ?? ""
  const port = match[2] === undefined ? defaultPort : Number(match[2])
  if (!Number.isInteger(port) || port < 0 || port > 65535) return `invalid port in "${text}"`
  return { host, port }
}

/** `host:port`, or `[v6]:port`: the form {@link parseHostPort} reads. */
export const formatHostPort = (address: HostPort): string =>
  address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`

/**
 * The mail addresses a header value names (`"Ops" <ops@example.com>,
 * dev@example.com`; groups flattened). A bare word is a local address
 * (`To: root`, as cron writes it).
 */
export const addressesIn = (value: string): ReadonlyArray<string> =>
  addressparser(value, { flatten: true })
    .map((entry) => (entry.address.trim() !== "" ? entry.address.trim() : /^[^\s@"<>()]+$/.test(entry.name) ? entry.name : ""))
    .filter((address) => address !== "")
