/**
 * The operator's HTTP surface on `--bind-http` (empty: off), served by
 * @effect/platform's router on a node `http` server as a scoped resource,
 * its listening socket kept across reloads (Listeners), like the SMTP one:
 *
 * - `GET /` — the live dashboard (server-rendered, then polls the API);
 * - `GET /api/stats`, `GET /api/batches`, `GET /api/summaries` — JSON;
 * - `POST /api/batches/{key}/flush` — send one batch now (key URL-encoded);
 *   `POST /api/batches/flush?key=...` does the same and also reaches the
 *   default batch, whose key is the empty string (`?key=`);
 * - `POST /api/flush` — send every pending batch now;
 * - `GET /metrics` — Prometheus exposition;
 * - `GET /healthz`, `GET /readyz` — 200 when the SMTP listener and the spool
 *   are healthy, 503 otherwise; never behind auth.
 *
 * A request whose `Host` is not this failmail's is refused with 421 (see
 * HostCheck), the probes excepted.
 *
 * With `--credentials`, everything else needs HTTP Basic with the same
 * user:password. Requests other than GET/HEAD are refused (403) when they
 * come from another site (`Origin` host differs from `Host`, or
 * `Sec-Fetch-Site: cross-site`). Unknown paths are 404, known paths with
 * the wrong method 405 with `Allow`.
 */
// Modules, not the "@effect/platform" index: the index also loads the bundled Swagger/Scalar UIs (~35 MB resident).
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Clock, Effect } from "effect"
import * as crypto from "node:crypto"
import * as http from "node:http"
import { parseHostPort } from "../domain/Address.ts"
import * as Configuration from "../domain/Configuration.ts"
import * as Dashboard from "../domain/Dashboard.ts"
import * as HostCheck from "../domain/HostCheck.ts"
import { ConfigError, StartError } from "../domain/Errors.ts"
import { VERSION } from "../domain/Version.ts"
import { AppConfig } from "./AppConfig.ts"
import { Batcher } from "./Batcher.ts"
import { History } from "./History.ts"
import { Ingress } from "./Ingress.ts"
import { attach } from "./Listeners.ts"
import { Metrics } from "./Metrics.ts"
import { Spool } from "./Spool.ts"

/** Paths open without credentials (probes). */
const OPEN_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz"])

/** Methods that never change anything, so never need the cross-site check. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"])

/** How long open connections may finish when the server stops. */
const CLOSE_GRACE_MS = 2_000

/** The path of a request URL, without the query. */
export const pathOf = (url: string): string => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

const sameSecret = (given: string, expected: string): boolean => {
  const a = crypto.createHash("sha256").update(given).digest()
  const b = crypto.createHash("sha256").update(expected).digest()
  return crypto.timingSafeEqual(a, b)
}

/** Whether an `Authorization` header carries HTTP Basic `credentials` ("user:pass"). */
export const basicAuthorized = (header: string | undefined, credentials: string): boolean => {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "")
  if (match === null || match[1] === undefined) return false
  return sameSecret(Buffer.from(match[1], "base64").toString("utf8"), credentials)
}

/**
 * Whether a state-changing request comes from another site: `Sec-Fetch-Site:
 * cross-site`, or an `Origin` whose host (with port) is not the `Host` the
 * request was sent to (an opaque `null` origin counts as another site).
 */
export const isCrossSite = (headers: {
  readonly origin: string | undefined
  readonly host: string | undefined
  readonly secFetchSite: string | undefined
}): boolean => {
  if (headers.secFetchSite?.toLowerCase() === "cross-site") return true
  if (headers.origin === undefined) return false
  if (headers.host === undefined || headers.host === "") return true
  try {
    const origin = new URL(headers.origin)
    const target = new URL(`${origin.protocol}//${headers.host}`)
    return origin.host !== target.host
  } catch {
    return true
  }
}

const NO_STORE = { "cache-control": "no-store" } as const

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(body, { status, headers: { ...NO_STORE, ...headers } })

const errorJson = (status: number, error: string, headers: Record<string, string> = {}) =>
  json({ error }, status, headers)

const unauthorized = HttpServerResponse.text("authentication required\n", {
  status: 401,
  contentType: "text/plain; charset=utf-8",
  headers: { "www-authenticate": 'Basic realm="failmail", charset="UTF-8"', ...NO_STORE }
})

/**
 * Refuses with 421 a request whose `Host` is not this failmail's (DNS
 * rebinding, see HostCheck). The probes answer whatever the `Host`: they
 * change nothing and tell nothing, and a load balancer or a container
 * health check may call them by any name.
 */
export const refuseForeignHosts = (accepted: HostCheck.AcceptedHosts) =>
  HttpMiddleware.make((app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const host = request.headers["host"]
      if (OPEN_PATHS.has(pathOf(request.url)) || HostCheck.isAccepted(accepted, host)) return app
      const why = host === undefined ? "the request has no Host header" : `this failmail does not answer to the host ${JSON.stringify(host)}`
      return Effect.succeed(
        HttpServerResponse.text(
          `misdirected request: ${why}; it answers to localhost, IP addresses, the --bind-http host and the --external-url host\n`,
          { status: 421, contentType: "text/plain; charset=utf-8", headers: { ...NO_STORE, "x-content-type-options": "nosniff" } }
        )
      )
    })
  )

type Handler = Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext>

/** Answers with the handler for the request's method (HEAD as GET), or 405 with `Allow`. */
const byMethod = (handlers: { readonly GET?: Handler; readonly POST?: Handler }): Handler =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const method = request.method === "HEAD" ? "GET" : request.method
    const handler = method === "GET" ? handlers.GET : method === "POST" ? handlers.POST : undefined
    if (handler !== undefined) return handler
    const allow = [...(handlers.GET === undefined ? [] : ["GET", "HEAD"]), ...(handlers.POST === undefined ? [] : ["POST"])]
    return Effect.succeed(errorJson(405, `method ${request.method} not allowed`, { allow: allow.join(", ") }))
  })

/** The HTTP dashboard, API, metrics and probes. */
export class Http extends Effect.Service<Http>()("failmail/Http", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const batcher = yield* Batcher
    const history = yield* History
    const metrics = yield* Metrics
    const spool = yield* Spool
    const ingress = yield* Ingress
    if (config.bindHttp === "") return { port: 0 }
    const address = parseHostPort(config.bindHttp, 8025)
    if (typeof address === "string") return yield* new ConfigError({ message: `bind-http: ${address}` })
    const credentials = config.credentials
    const shownConfig = Configuration.redacted(config)

    const stats = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const counts = yield* batcher.counts
      return { now, version: VERSION, counts, totals: history.totals }
    })

    const health = Effect.gen(function* () {
      const smtp = yield* ingress.listening
      const spoolOk = yield* spool.checkHealth
      const ok = smtp && spoolOk
      return json({ status: ok ? "ok" : "unavailable", smtp, spool: spoolOk }, ok ? 200 : 503)
    })

    const dashboard = Effect.gen(function* () {
      const input = yield* stats
      const batches = yield* batcher.snapshot
      const nonce = crypto.randomBytes(16).toString("base64")
      const page = Dashboard.renderDashboard({
        now: input.now,
        version: VERSION,
        stats: input,
        batches,
        summaries: history.recent(),
        config: shownConfig,
        nonce
      })
      return HttpServerResponse.text(page, {
        contentType: "text/html; charset=utf-8",
        headers: {
          ...NO_STORE,
          "content-security-policy": Dashboard.contentSecurityPolicy(nonce),
          "referrer-policy": "no-referrer",
          "x-frame-options": "DENY"
        }
      })
    })

    const flushOne = (key: string) =>
      Effect.map(batcher.flush(key), (flushed) =>
        flushed ? json({ flushed: true, key }) : json({ error: "no pending batch with this key", key }, 404)
      )

    const router = HttpRouter.empty.pipe(
      HttpRouter.all("/", byMethod({ GET: dashboard })),
      HttpRouter.all("/api/stats", byMethod({ GET: Effect.map(stats, (input) => json(Dashboard.statsJson(input))) })),
      HttpRouter.all(
        "/api/batches",
        byMethod({
          GET: Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            return json(Dashboard.batchesJson(yield* batcher.snapshot, now))
          })
        })
      ),
      HttpRouter.all(
        "/api/batches/flush",
        byMethod({
          POST: Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
            const key = new URL(request.url, "http://failmail.invalid").searchParams.get("key")
            return key === null ? Effect.succeed(errorJson(400, "missing query parameter key (use ?key= for the default batch)")) : flushOne(key)
          })
        })
      ),
      HttpRouter.all(
        "/api/batches/:key/flush",
        byMethod({ POST: Effect.flatMap(HttpRouter.params, (params) => flushOne(params["key"] ?? "")) })
      ),
      HttpRouter.all("/api/flush", byMethod({ POST: Effect.map(batcher.flushAll, (flushed) => json({ flushed })) })),
      HttpRouter.all(
        "/api/summaries",
        byMethod({ GET: Effect.sync(() => json(history.recent().map(Dashboard.summaryJson))) })
      ),
      HttpRouter.all(
        "/metrics",
        byMethod({
          GET: Effect.map(Effect.promise(() => metrics.registry.metrics()), (text) =>
            HttpServerResponse.text(text, { contentType: metrics.registry.contentType, headers: NO_STORE })
          )
        })
      ),
      HttpRouter.all("/healthz", byMethod({ GET: health })),
      HttpRouter.all("/readyz", byMethod({ GET: health }))
    )

    const routed = router.pipe(
      Effect.catchTag("RouteNotFound", (error) =>
        Effect.succeed(
          pathOf(error.request.url).startsWith("/api/")
            ? errorJson(404, "not found")
            : HttpServerResponse.text("not found\n", { status: 404, contentType: "text/plain; charset=utf-8" })
        )
      )
    )

    const app = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const path = pathOf(request.url)
      if (credentials !== "" && !OPEN_PATHS.has(path) && !basicAuthorized(request.headers["authorization"], credentials)) {
        return unauthorized
      }
      if (
        !SAFE_METHODS.has(request.method) &&
        isCrossSite({
          origin: request.headers["origin"],
          host: request.headers["host"],
          secFetchSite: request.headers["sec-fetch-site"]
        })
      ) {
        return errorJson(403, "cross-site request refused")
      }
      const response = yield* routed
      return HttpServerResponse.setHeader(response, "x-content-type-options", "nosniff")
    })

    // The listening socket comes from Listeners when the process has them, so a
    // reload that keeps --bind-http keeps the socket: requests made during the
    // reload wait for the new graph instead of being refused.
    const accepted = HostCheck.acceptedHosts({ bindHost: address.host, externalUrl: config.externalUrl })
    const handler = yield* NodeHttpServer.makeHandler(refuseForeignHosts(accepted)(app))
    const nodeServer = http.createServer(handler)
    const target = { _tag: "Address", ...address, label: `bind-http ${config.bindHttp}` } as const
    const listener = yield* attach("http", target).pipe(Effect.mapError((error) => new StartError({ message: error.message })))
    listener.route((socket) => nodeServer.emit("connection", socket))
    // Idle keep-alive connections go at once, busy ones get a short grace period.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const reloading = yield* listener.detach
        nodeServer.closeIdleConnections()
        setTimeout(() => nodeServer.closeAllConnections(), CLOSE_GRACE_MS).unref()
        yield* Effect.logInfo(reloading ? "http: handing the listener to the new configuration" : "http: server closing")
      })
    )
    const port = listener.address?.port ?? 0
    yield* Effect.logInfo(`http: listening on ${address.host === "" ? "*" : address.host}:${port}`)
    return { port }
  })
}) {}
