/**
 * The HTTP app behind `--bind-http`: what answers each request. Loaded and
 * built by `src/services/http/Http.ts` on the first request, not at start.
 *
 * Routing is @effect/platform's `HttpApi`: the JSON API, the probes and
 * `/metrics` are described in `src/domain/api/Api.ts` (one group per file in
 * `src/domain/api/`, handlers in `src/services/http/`), the OpenAPI document
 * of that description is served at `/api/openapi.json`, and the dashboard
 * pages (`src/services/http/Pages.ts`) sit on the same router.
 *
 * Around it, small middlewares do what HttpApi does not express:
 * - a request whose `Host` is not this failmail's is refused with 421 (see
 *   HostCheck), the probes excepted;
 * - with `--credentials`, everything but `/healthz` and `/readyz` needs
 *   HTTP Basic with the same user:password (HttpApi's Basic security splits
 *   at every ':', and passwords may contain one);
 * - requests other than GET/HEAD are refused (403) when they come from
 *   another site (`Origin` host differs from `Host`, or
 *   `Sec-Fetch-Site: cross-site`);
 * - unknown paths are 404 (JSON under `/api/`, text elsewhere), known paths
 *   with the wrong method 405 with `Allow` (derived from the routes);
 * - every answer is `nosniff`, and `no-store` unless it says otherwise;
 * - on a replica of a cluster that does not send, the dashboard and the API
 *   are asked of the sender (see `http/Forward.ts`), once the request has
 *   passed the checks above here.
 */
// Modules, not the "@effect/platform" index: the index also loads the bundled Swagger/Scalar UIs (~35 MB resident).
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import { RequestError, RouteNotFound } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Option, type Redacted } from "effect"
import { OPENAPI_PATH } from "../../domain/api/Api.ts"
import { OPEN_PATHS } from "../../domain/api/Probes.ts"
import * as HostCheck from "../../domain/http/HostCheck.ts"
import * as Secrets from "../../domain/settings/Secrets.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { Cluster } from "../cluster/Cluster.ts"
import { Dashboard } from "./Dashboard.ts"
import { ApiLive } from "./api/Api.ts"
import { viaSender } from "./Forward.ts"
import { PagesLive } from "./Pages.ts"

const isRouteNotFound = (error: unknown): error is RouteNotFound => error instanceof RouteNotFound

/** Methods that never change anything, so never need the cross-site check. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"])

/** The path of a request URL, without the query. */
export const pathOf = (url: string): string => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

/** Whether an `Authorization` header carries HTTP Basic `credentials` ("user:pass"). */
export const basicAuthorized = (header: string | undefined, credentials: Redacted.Redacted<string>): boolean => {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "")
  if (match === null || match[1] === undefined) return false
  return Secrets.sameSecret(Buffer.from(match[1], "base64").toString("utf8"), credentials)
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

const NO_STORE = "no-store"

const errorJson = (status: number, error: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson({ error }, { status, headers: { "cache-control": NO_STORE, ...headers } })

const unauthorized = HttpServerResponse.text("authentication required\n", {
  status: 401,
  contentType: "text/plain; charset=utf-8",
  headers: { "www-authenticate": 'Basic realm="failmail", charset="UTF-8"', "cache-control": NO_STORE }
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
          { status: 421, contentType: "text/plain; charset=utf-8", headers: { "cache-control": NO_STORE, "x-content-type-options": "nosniff" } }
        )
      )
    })
  )

const notFound = (path: string) =>
  path.startsWith("/api/")
    ? errorJson(404, "not found")
    : HttpServerResponse.text("not found\n", { status: 404, contentType: "text/plain; charset=utf-8" })

/** The order methods are listed in `Allow`. */
const METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

/**
 * What HttpApi's router does not do: a known path asked with another method
 * is 405 with `Allow` (GET also allows HEAD), not 404. Built from the
 * routes themselves, so every endpoint added later gets it too.
 */
export const methodNotAllowed = (routes: Iterable<HttpRouter.Route<unknown, unknown>>): HttpRouter.HttpRouter<never, HttpServerRequest.HttpServerRequest> => {
  const byPath = new Map<string, Set<string>>()
  for (const route of routes) {
    const methods = byPath.get(route.path) ?? new Set<string>()
    methods.add(route.method)
    if (route.method === "GET") methods.add("HEAD")
    byPath.set(route.path, methods)
  }
  let router: HttpRouter.HttpRouter<never, HttpServerRequest.HttpServerRequest> = HttpRouter.empty
  for (const [path, methods] of byPath) {
    const allow = METHOD_ORDER.filter((method) => methods.has(method)).join(", ")
    router = HttpRouter.all(
      router,
      path as HttpRouter.PathInput,
      Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
        errorJson(405, `method ${request.method} not allowed`, { allow })
      )
    )
  }
  return router
}

const isBodyDecodeError = (defect: unknown): defect is RequestError => defect instanceof RequestError && defect.reason === "Decode"

/**
 * The answers the API's router leaves to its host: an unknown path is 404,
 * a known path asked with another method is answered by `otherMethods`
 * (see {@link methodNotAllowed}), and a body that does not parse as its
 * `Content-Type` says (HttpApi decodes it as a defect) is 400 with a JSON
 * `error`.
 */
export const answerRoutingErrors =
  (otherMethods: HttpRouter.HttpRouter<never, HttpServerRequest.HttpServerRequest>) =>
  <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    // HttpApi's app is typed as never failing, but an unknown path fails with RouteNotFound.
    (app as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, R>).pipe(
      Effect.catchIf(isRouteNotFound, () =>
        otherMethods.pipe(Effect.catchIf(isRouteNotFound, (error) => Effect.succeed(notFound(pathOf(error.request.url)))))
      ),
      Effect.catchSomeDefect((defect) =>
        isBodyDecodeError(defect)
          ? Option.some(Effect.succeed(errorJson(400, `the request body cannot be read as ${defect.request.headers["content-type"] ?? "JSON"}`)))
          : Option.none()
      )
    )

/**
 * The handler of Node's `http` server answering every request of
 * `--bind-http` on `bindHost`, built in the current scope: the dashboard's
 * templates and every route.
 */
export const requestHandler = (bindHost: string) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const credentials = config.credentials
    const cluster = yield* Cluster

    // Every route (API endpoints, the OpenAPI document, the pages) on one router.
    const routes = yield* Layer.build(
      Layer.mergeAll(
        ApiLive,
        PagesLive,
        HttpApiBuilder.middlewareOpenApi({ path: OPENAPI_PATH }).pipe(Layer.provide(ApiLive)),
        HttpApiBuilder.Router.Live,
        HttpApiBuilder.Middleware.layer,
        NodeHttpServer.layerContext
      )
    )
    const api = yield* Effect.provide(HttpApiBuilder.httpApp, routes)
    const otherMethods = methodNotAllowed((yield* Effect.provide(HttpApiBuilder.Router.router, routes)).routes)
    const routed = viaSender(cluster, pathOf)(answerRoutingErrors(otherMethods)(api).pipe(Effect.provide(routes)))

    const app = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const path = pathOf(request.url)
      if (Secrets.isSet(credentials) && !OPEN_PATHS.has(path) && !basicAuthorized(request.headers["authorization"], credentials)) {
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
      return response.pipe(
        HttpServerResponse.setHeader("x-content-type-options", "nosniff"),
        (answer) => ("cache-control" in answer.headers ? answer : HttpServerResponse.setHeader(answer, "cache-control", NO_STORE))
      )
    })

    const accepted = HostCheck.acceptedHosts({ bindHost, externalUrl: config.externalUrl })
    return yield* NodeHttpServer.makeHandler(refuseForeignHosts(accepted)(app))
  }).pipe(Effect.provide(Dashboard.Default))
