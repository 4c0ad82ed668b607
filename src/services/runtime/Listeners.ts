/**
 * Listening sockets that outlive a configuration: a reload that keeps the
 * SMTP (or HTTP) address keeps the socket, so no connection is refused while
 * the service graph is rebuilt. Accepted connections go to the current
 * handler (the SMTP or HTTP server of the running graph); between two graphs
 * they wait in a short queue.
 */
import { Data, Effect } from "effect"
import * as net from "node:net"
import { Lifecycle } from "./Lifecycle.ts"

/** Where to listen: a host and port, or an inherited file descriptor. */
export type ListenTarget =
  | { readonly _tag: "Address"; readonly host: string; readonly port: number; readonly label: string }
  | { readonly _tag: "Inherited"; readonly fd: number; readonly label: string }

/** A listening socket could not be opened. */
export class ListenError extends Data.TaggedError("ListenError")<{ readonly label: string; readonly reason: string }> {
  override get message(): string {
    return `${this.label}: ${this.reason}`
  }
}

/** How many connections may wait for the next graph during a reload. */
const QUEUE_LIMIT = 1_000

const keyOf = (target: ListenTarget) =>
  target._tag === "Address" ? `${target.host}:${target.port}` : `fd:${target.fd}`

/** One listening socket. */
export interface Listener {
  readonly address: net.AddressInfo | undefined
  /** Routes accepted connections to `handler` (or queues them while it is `undefined`). */
  readonly route: (handler: ((socket: net.Socket) => void) | undefined) => void
  /** Stops listening at once; connections already accepted are their handler's to end. */
  readonly close: Effect.Effect<void>
  readonly listening: () => boolean
}

const open = (target: ListenTarget): Effect.Effect<Listener, ListenError> =>
  Effect.async<Listener, ListenError>((resume) => {
    let handler: ((socket: net.Socket) => void) | undefined
    const waiting: Array<net.Socket> = []
    const server = net.createServer({ pauseOnConnect: false }, (socket) => {
      if (handler !== undefined) return handler(socket)
      if (waiting.length >= QUEUE_LIMIT) return socket.destroy()
      socket.on("error", () => undefined)
      waiting.push(socket)
    })
    const onError = (error: Error) => {
      const code = (error as { code?: string }).code
      resume(Effect.fail(new ListenError({ label: target.label, reason: code === "EADDRINUSE" ? "address already in use" : error.message })))
    }
    server.once("error", onError)
    const onListening = () => {
      server.off("error", onError)
      server.on("error", () => undefined)
      resume(
        Effect.succeed({
          address: (server.address() ?? undefined) as net.AddressInfo | undefined,
          route: (next) => {
            handler = next
            if (next === undefined) return
            for (const socket of waiting.splice(0)) if (!socket.destroyed) next(socket)
          },
          // Not server.close's callback: it waits for every accepted connection to end,
          // and ending them (idle at once, busy after --shutdown-timeout) is SmtpListener's job.
          close: Effect.sync(() => {
            handler = undefined
            for (const socket of waiting.splice(0)) socket.destroy()
            if (server.listening) server.close()
          }),
          listening: () => server.listening
        })
      )
    }
    if (target._tag === "Inherited") server.listen({ fd: target.fd }, onListening)
    else server.listen(target.port, target.host === "" ? undefined : target.host, onListening)
  })

/** The process's listening sockets, kept across reloads while their address stays the same. */
export class Listeners extends Effect.Service<Listeners>()("failmail/Listeners", {
  scoped: Effect.gen(function* () {
    const open_ = new Map<string, Listener>()
    yield* Effect.addFinalizer(() => Effect.forEach([...open_.values()], (listener) => listener.close, { discard: true }))
    return {
      /** The listener for `target`, reusing the one already open; listeners for other targets of `kind` are closed. */
      acquire: (kind: string, target: ListenTarget): Effect.Effect<Listener, ListenError> =>
        Effect.gen(function* () {
          const key = `${kind} ${keyOf(target)}`
          const existing = open_.get(key)
          if (existing !== undefined && existing.listening()) return existing
          for (const [otherKey, other] of open_) {
            if (otherKey.startsWith(`${kind} `)) {
              yield* other.close
              open_.delete(otherKey)
            }
          }
          const listener = yield* open(target)
          open_.set(key, listener)
          return listener
        }),
      /** Closes the listener of `kind` (on stop, so new connections are refused at once). */
      release: (kind: string): Effect.Effect<void> =>
        Effect.forEach(
          [...open_.entries()].filter(([key]) => key.startsWith(`${kind} `)),
          ([key, listener]) => Effect.zipRight(listener.close, Effect.sync(() => open_.delete(key))),
          { discard: true }
        )
    } as const
  })
}) {}

/** A listener as one service graph uses it. */
export interface AttachedListener extends Listener {
  /**
   * Stops routing new connections to this graph. On a reload the socket stays
   * open for the next graph (connections wait in its queue); otherwise it is
   * closed. Yields whether the process is reloading.
   */
  readonly detach: Effect.Effect<boolean>
}

/** The process's listener of `kind` for this graph, kept across reloads. */
export const attach = (
  kind: string,
  target: ListenTarget
): Effect.Effect<AttachedListener, ListenError, Listeners | Lifecycle> =>
  Effect.gen(function* () {
    const listeners = yield* Listeners
    const lifecycle = yield* Lifecycle
    const listener = yield* listeners.acquire(kind, target)
    const detach = Effect.gen(function* () {
      listener.route(undefined)
      const reloading = yield* lifecycle.isReloading
      if (!reloading) yield* listeners.release(kind)
      return reloading
    })
    return { ...listener, detach }
  })
