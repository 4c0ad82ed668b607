/**
 * One view of a cluster: a replica that does not send answers the
 * dashboard, its fragments and the JSON API by forwarding the request to
 * the replica that sends (which holds the pending batches, the summaries,
 * the silences), so every replica shows the same and a silence created
 * through any of them is created once, on the sender. What each replica
 * answers itself: the probes and `/metrics` (its own health and counters),
 * `GET /api/cluster` (asks the shared store itself), the OpenAPI document
 * and the dashboard's static files (the same on every replica of a version).
 *
 * Pure rules: which requests need the sender, and where it is.
 */
import { type HostPort, parseHostPort } from "../settings/Address.ts"

/** The paths every replica answers itself. */
export const LOCAL_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics", "/api/cluster", "/api/openapi.json"])

/** The header a forwarded request carries: the id of the replica that forwarded it (a request is forwarded once, never again). */
export const FORWARDED_BY = "x-failmail-forwarded-by"

/** Whether a request for `path` (without the query) is the sender's to answer; `forwardedBy` is its {@link FORWARDED_BY} header. */
export const needsSender = (path: string, forwardedBy: string | undefined): boolean =>
  forwardedBy === undefined && !LOCAL_PATHS.has(path) && !path.startsWith("/static/")

/** A replica as the one view needs it: its id, host name and `--bind-http`. */
export interface ReplicaAddress {
  readonly id: string
  readonly hostname: string
  readonly http: string
}

/** Who sends, as the cluster says: this replica's id, the sender's (if any holds the lease), the replicas. */
export interface SenderLookup {
  readonly self: string
  readonly sender: string | undefined
  readonly replicas: ReadonlyArray<ReplicaAddress>
}

/** Where a request that needs the sender goes: answered here, forwarded to `target`, or refused (503) for `reason`. */
export type SenderRoute =
  | { readonly _tag: "Here" }
  | { readonly _tag: "Forward"; readonly sender: string; readonly target: HostPort }
  | { readonly _tag: "Unavailable"; readonly reason: string }

/** Hosts that mean "every interface": the sender is then reached by its host name. */
const WILDCARDS: ReadonlySet<string> = new Set(["", "0.0.0.0", "::", "[::]"])

/**
 * Where the sender's HTTP answers, from its `--bind-http`: its host (or its
 * host name when it listens on every interface) and port; a reason when it
 * has no HTTP or listens on an unknown port (0).
 */
export const httpAddressOf = (replica: ReplicaAddress): HostPort | string => {
  if (replica.http === "") return `the sender (replica ${replica.id}) has no HTTP listener (--bind-http is empty)`
  const address = parseHostPort(replica.http, 8025)
  if (typeof address === "string") return `the sender's --bind-http cannot be used: ${address}`
  if (address.port === 0) return `the sender (replica ${replica.id}) listens on HTTP port 0, which other replicas cannot know`
  return WILDCARDS.has(address.host) ? { host: replica.hostname, port: address.port } : address
}

/** Whether `host` names this machine only (`localhost`, 127.0.0.0/8, `::1`). */
const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host)

/** Where a request that needs the sender goes, given who sends. */
export const senderRoute = (lookup: SenderLookup): SenderRoute => {
  if (lookup.sender === lookup.self) return { _tag: "Here" }
  if (lookup.sender === undefined) return { _tag: "Unavailable", reason: "no replica holds the sender lease now (a takeover is under way); try again in a few seconds" }
  const sender = lookup.replicas.find((replica) => replica.id === lookup.sender)
  if (sender === undefined) return { _tag: "Unavailable", reason: `the sender (replica ${lookup.sender}) has not announced its address yet` }
  const target = httpAddressOf(sender)
  if (typeof target === "string") return { _tag: "Unavailable", reason: target }
  // A loopback address of another machine would reach this one (and show its own, empty, view).
  const here = lookup.replicas.find((replica) => replica.id === lookup.self)
  if (isLoopback(target.host) && here !== undefined && here.hostname !== sender.hostname) {
    return {
      _tag: "Unavailable",
      reason: `the sender (replica ${sender.id} on ${sender.hostname}) listens on ${sender.http}, which other machines cannot reach; give every replica a --bind-http address the others can reach`
    }
  }
  return { _tag: "Forward", sender: sender.id, target }
}
