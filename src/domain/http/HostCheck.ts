/**
 * Which `Host` an HTTP request may name: the defence against DNS rebinding.
 * A page on another site whose name was re-pointed at this machine reaches
 * the dashboard with its own name in `Host` (and in `Origin`, so the
 * same-origin check alone lets it through); a request naming a host that is
 * not this failmail's is refused.
 *
 * Accepted host names: `localhost`, any IP address literal (`127.0.0.1`,
 * `[::1]`, the bound address, or whatever address a load balancer or a NAT
 * uses: DNS rebinding needs a name, an address cannot be re-pointed), the
 * host of `--bind-http` and the host of `--external-url`. Ports are not
 * compared: a port mapping (a container's `-p 9000:8025`, a port forward)
 * changes the port the browser sends, and the port gives no protection,
 * since the attacker's name is refused on every port.
 */

/** The host names a failmail answers to (lower case, without a trailing dot), besides IP literals. */
export interface AcceptedHosts {
  readonly names: ReadonlySet<string>
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

const isIpv4 = (host: string): boolean => {
  const match = IPV4.exec(host)
  return match !== null && match.slice(1).every((part) => Number(part) <= 255)
}

/** `name`, `name:port`, `1.2.3.4:port`, `[v6]` or `[v6]:port`; nothing else (no user info, path or spaces). */
const HOST_HEADER = /^(?:\[([0-9a-f:.]*:[0-9a-f:.]*)\]|([a-z0-9._-]+))(?::\d{1,5})?$/i

/** The host of a `Host` header value, normalized; `undefined` when it is not a valid `host[:port]`. */
export const hostOf = (header: string): { readonly name: string; readonly ip: boolean } | undefined => {
  const match = HOST_HEADER.exec(header.trim())
  if (match === null) return undefined
  if (match[1] !== undefined) return { name: match[1].toLowerCase(), ip: true }
  const name = (match[2] ?? "").toLowerCase().replace(/\.$/, "")
  return name === "" ? undefined : { name, ip: isIpv4(name) }
}

/**
 * The names implied by the settings: `localhost`, the host of `--bind-http`
 * (`bindHost`, as parsed from it) and the host of `--external-url` (empty
 * when not set).
 */
export const acceptedHosts = (settings: { readonly bindHost: string; readonly externalUrl: string }): AcceptedHosts => {
  const names = new Set(["localhost"])
  for (const host of [settings.bindHost, settings.externalUrl === "" ? "" : new URL(settings.externalUrl).hostname]) {
    const parsed = host === "" ? undefined : hostOf(host)
    if (parsed !== undefined && !parsed.ip) names.add(parsed.name)
  }
  return { names }
}

/** Whether a request with this `Host` header (absent: `undefined`) is for this failmail. */
export const isAccepted = (accepted: AcceptedHosts, header: string | undefined): boolean => {
  const host = header === undefined ? undefined : hostOf(header)
  return host !== undefined && (host.ip || accepted.names.has(host.name))
}
