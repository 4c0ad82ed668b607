/**
 * The operator's HTTP surface on `--bind-http` (empty: off): a node `http`
 * server as a scoped resource, its listening socket kept across reloads
 * (Listeners), like the SMTP one.
 *
 * What answers the requests (`http/App.ts`: the API, the probes,
 * `/metrics`, the dashboard) is loaded and built on the first request, not
 * at start: a failmail nobody asks anything of stays that much smaller.
 * Requests that come while it loads wait for it; if it cannot be built,
 * they are answered 500 and the reason is logged.
 */
import { Effect, Runtime, Scope } from "effect"
import type * as http from "node:http"
import { createServer } from "node:http"
import { formatHostPort, parseHostPort } from "../../domain/settings/Address.ts"
import * as LogContext from "../../domain/LogContext.ts"
import { ConfigError, StartError } from "../../domain/settings/Errors.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { Cluster } from "../cluster/Cluster.ts"
import type { requestHandler } from "./App.ts"
import { attach } from "../runtime/Listeners.ts"

/** How long open connections may finish when the server stops. */
const CLOSE_GRACE_MS = 2_000

/** What the HTTP app needs of the graph. */
type AppNeeds = Exclude<Effect.Effect.Context<ReturnType<typeof requestHandler>>, Scope.Scope>

/** The HTTP dashboard, API, metrics and probes. */
export class Http extends Effect.Service<Http>()("failmail/Http", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    if (config.bindHttp === "") return { port: 0 }
    const address = parseHostPort(config.bindHttp, 8025)
    if (typeof address === "string") return yield* new ConfigError({ message: `bind-http: ${address}` })

    const runtime = yield* Effect.runtime<AppNeeds>()
    const scope = yield* Effect.scope
    const app = yield* Effect.cached(
      Effect.promise(() => import("./App.ts")).pipe(
        Effect.flatMap((module) => module.requestHandler(address.host)),
        // Built into the server's scope: it lives as long as the server, not as the request that built it.
        Scope.extend(scope),
        Effect.tapErrorCause((cause) => Effect.logError("the HTTP app cannot be built, answering 500", cause))
      )
    )
    let handle: ((request: http.IncomingMessage, response: http.ServerResponse) => void) | undefined
    const nodeServer = createServer((request, response) => {
      if (handle !== undefined) return handle(request, response)
      Runtime.runPromiseExit(runtime)(app).then((built) => {
        if (built._tag === "Success") {
          handle = built.value
          return handle(request, response)
        }
        response.writeHead(500, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" })
        response.end("the HTTP app cannot be built; see failmail's log\n")
      })
    })

    // The listening socket comes from the process's Listeners, so a
    // reload that keeps --bind-http keeps the socket: requests made during the
    // reload wait for the new graph instead of being refused.
    const target = { _tag: "Address", ...address, label: `bind-http ${config.bindHttp}` } as const
    const listener = yield* attach("http", target).pipe(Effect.mapError((error) => new StartError({ message: error.message })))
    listener.route((socket) => nodeServer.emit("connection", socket))
    // Idle keep-alive connections go at once, busy ones get a short grace period.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const reloading = yield* listener.detach
        nodeServer.closeIdleConnections()
        setTimeout(() => nodeServer.closeAllConnections(), CLOSE_GRACE_MS).unref()
        yield* Effect.logInfo(reloading ? "handing the listener to the new configuration" : "server closing")
      })
    )
    const port = listener.address?.port ?? 0
    // What the other replicas forward to: the port bound (a --bind-http port 0 is known only now), on the host as set.
    yield* Effect.flatMap(Cluster, (cluster) => cluster.announceHttp(formatHostPort({ host: address.host, port })))
    yield* Effect.logInfo(`listening on ${address.host === "" ? "*" : address.host}:${port}`)
    return { port }
  }).pipe(LogContext.annotate({ component: "http" }))
}) {}
