/**
 * One view of the cluster (see `src/domain/cluster/OneView.ts`): on a replica that
 * does not send, what the sender holds is asked of the sender. The request
 * is forwarded with the same method, path and query, body and headers (HTTP Basic included,
 * so the sender checks the credentials too), to the sender's HTTP address;
 * its answer comes back as it is. The request carries
 * `X-Failmail-Forwarded-By` (so it is never forwarded again),
 * `X-Forwarded-For` and `X-Forwarded-Host`; its `Host` is the sender's
 * address (which the sender accepts), and the cross-site headers, already
 * checked by this replica, are not passed on.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Data, Duration, Effect, Either, Option } from "effect"
import * as http from "node:http"
import { formatHostPort, type HostPort } from "../../domain/settings/Address.ts"
import * as OneView from "../../domain/cluster/OneView.ts"
import type { ClusterShape } from "../cluster/Cluster.ts"

const FORWARDED_BY = OneView.FORWARDED_BY

/** How long the sender has to answer a forwarded request. */
export const FORWARD_TIMEOUT = Duration.seconds(10)

/** The sender could not be asked, or did not answer. */
export class ForwardError extends Data.TaggedError("ForwardError")<{ readonly reason: string }> {}

/** Headers that belong to one connection, not to the request or answer (RFC 9110 §7.6.1), and those rebuilt here. */
const NOT_PASSED_ON: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "host"
])

/** Headers of the request not passed on to the sender besides {@link NOT_PASSED_ON}: checked here already. */
const CHECKED_HERE: ReadonlySet<string> = new Set(["origin", "sec-fetch-site", "x-forwarded-for", "x-forwarded-host", FORWARDED_BY])

/** Methods whose requests have no body to pass on. */
const SAFE_BODYLESS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"])

const passedOn = (headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>, dropped: ReadonlySet<string>) => {
  const kept: Record<string, string | Array<string>> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_PASSED_ON.has(name) || dropped.has(name)) continue
    kept[name] = typeof value === "string" ? value : [...value]
  }
  return kept
}

/** One HTTP exchange with the sender; resolves to its answer, buffered (the dashboard's pages and the API's answers are small). */
const exchange = (target: HostPort, method: string, url: string, headers: Record<string, string | Array<string>>, body: Uint8Array) =>
  Effect.async<{ readonly status: number; readonly headers: http.IncomingHttpHeaders; readonly body: Buffer }, ForwardError>((resume) => {
    const request = http.request({ host: target.host, port: target.port, method, path: url, headers, timeout: Duration.toMillis(FORWARD_TIMEOUT) })
    const fail = (reason: string) => resume(Effect.fail(new ForwardError({ reason })))
    request.on("timeout", () => request.destroy(new Error(`no answer within ${Duration.format(FORWARD_TIMEOUT)}`)))
    request.on("error", (error) => fail(error.message))
    request.on("response", (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("error", (error) => fail(error.message))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 502, headers: response.headers, body: Buffer.concat(chunks) })))
    })
    request.end(body)
    return Effect.sync(() => request.destroy())
  })


/** Forwards the current request to the sender at `target`, on behalf of replica `self`; the sender's answer, or why there is none. */
export const forward = (target: HostPort, self: string) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = SAFE_BODYLESS.has(request.method)
      ? new Uint8Array()
      : new Uint8Array(yield* Effect.mapError(request.arrayBuffer, (error) => new ForwardError({ reason: `the request body cannot be read: ${error.message}` })))
    const headers = passedOn(request.headers, CHECKED_HERE)
    headers["host"] = formatHostPort(target)
    headers[FORWARDED_BY] = self
    const client = Option.getOrUndefined(request.remoteAddress)
    if (client !== undefined) headers["x-forwarded-for"] = client
    const originalHost = request.headers["host"]
    if (originalHost !== undefined) headers["x-forwarded-host"] = originalHost
    const answer = yield* exchange(target, request.method, request.url, headers, body)
    const contentType = answer.headers["content-type"]
    return HttpServerResponse.uint8Array(answer.body, {
      status: answer.status,
      headers: passedOn(answer.headers, new Set(["content-type"])),
      ...(contentType === undefined ? {} : { contentType })
    })
  })

/** How long a client is told to wait before asking again when the sender cannot be asked. */
const RETRY_AFTER_SECONDS = 5

/** 503 with `reason` (JSON under `/api/`, text elsewhere): this replica cannot show the cluster's data now. */
const unavailable = (path: string, reason: string) => {
  const headers = { "retry-after": String(RETRY_AFTER_SECONDS), "cache-control": "no-store" }
  const error = `this replica does not send and cannot show the cluster's data now: ${reason}`
  return path.startsWith("/api/")
    ? HttpServerResponse.unsafeJson({ error }, { status: 503, headers })
    : HttpServerResponse.text(`${error}\n`, { status: 503, contentType: "text/plain; charset=utf-8", headers })
}

/**
 * Answers the current request here (`local`) or from the sender: alone
 * (the embedded store) always here; in a cluster, a request that needs the
 * sender ({@link OneView.needsSender}) on a replica that is not the sender
 * is forwarded to it, or refused with 503 saying why.
 */
export const viaSender =
  (cluster: Pick<ClusterShape, "alone" | "self" | "view">, pathOf: (url: string) => string) =>
  <E, R>(local: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    cluster.alone
      ? local
      : Effect.gen(function* () {
          const request = yield* HttpServerRequest.HttpServerRequest
          const path = pathOf(request.url)
          if (!OneView.needsSender(path, request.headers[FORWARDED_BY])) return yield* local
          const lookup = yield* Effect.either(cluster.view)
          if (Either.isLeft(lookup)) return unavailable(path, `the cluster's state cannot be read: ${lookup.left.message}`)
          const route = OneView.senderRoute(lookup.right)
          if (route._tag === "Here") return yield* local
          if (route._tag === "Unavailable") return unavailable(path, route.reason)
          return yield* forward(route.target, cluster.self).pipe(
            Effect.catchTag("ForwardError", (error) =>
              Effect.succeed(unavailable(path, `the sender (replica ${route.sender} at ${formatHostPort(route.target)}) did not answer: ${error.reason}`))
            )
          )
        })
