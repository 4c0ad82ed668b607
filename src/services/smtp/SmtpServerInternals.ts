/**
 * The one place failmail reaches past smtp-server's public API:
 *
 * - GreetAtOnce replaces `SMTPConnection.prototype.init` (no 100 ms pause
 *   before the greeting);
 * - LineDeadline wraps `SMTPConnection.prototype._createParser`
 *   (`--line-timeout`);
 * - {@link Connections.isIdle} reads a connection's `_dataStream` and
 *   `_handlerPending`, so that stopping or reloading closes idle sessions
 *   at once;
 * - {@link Connections.setIdleTimeout} sets the idle timeout of a
 *   connection's `_socket`, so that under stress silent sessions are shed.
 *
 * Each relies on private details of the pinned smtp-server (3.21.6), listed
 * next to the code that relies on them. {@link install} checks all of them
 * together, once, before it patches anything: if an upgrade changed any of
 * them, failmail refuses to start (exit 1) with one line naming what changed,
 * instead of running code that no longer fits.
 */
import { Effect } from "effect"
import { createRequire } from "node:module"
import { SMTPServer } from "smtp-server"
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import { StartError } from "../../domain/settings/Errors.ts"
import * as GreetAtOnce from "./GreetAtOnce.ts"
import * as LineDeadline from "./LineDeadline.ts"

/** The class the patches apply to: smtp-server's `SMTPConnection`, or a stand-in in tests. */
export type ConnectionClass = Pick<typeof SMTPConnection, "prototype">

/** smtp-server as it made its classes, which is what a {@link Reliance} is checked against. */
export interface PinnedShape {
  /** A member of `SMTPConnection.prototype`; one failmail replaced reads as smtp-server's own. */
  readonly member: (name: string) => unknown
  /** The source of the `SMTPConnection` class (its constructor and methods). */
  readonly connectionSource: string
  /** The source of the `SMTPServer` class. */
  readonly serverSource: string
}

/** One private detail of smtp-server that failmail relies on. */
export interface Reliance {
  /** What changed when it no longer holds, for the error that stops the start. */
  readonly problem: string
  readonly holds: (pinned: PinnedShape) => boolean
}

/** The `SMTPConnection` methods failmail replaces. */
type PatchedMember = "init" | "_createParser"

/** A replacement for one method of `SMTPConnection`, made from smtp-server's own. */
export type Patch = {
  readonly [K in PatchedMember]: {
    readonly member: K
    readonly replace: (pinned: SMTPConnection[K]) => SMTPConnection[K]
  }
}[PatchedMember]

/** What {@link Connections.isIdle} relies on. */
const IDLE_RELIES_ON: ReadonlyArray<Reliance> = [
  {
    problem: "SMTPConnection no longer sets _handlerPending while a command's handler runs",
    holds: ({ connectionSource }) =>
      /this\._handlerPending = true;/.test(connectionSource) && /this\._handlerPending = false;/.test(connectionSource)
  },
  {
    problem: "SMTPConnection no longer holds the message under way in _dataStream",
    holds: ({ connectionSource }) =>
      /this\._dataStream = parser\.startDataMode\(/.test(connectionSource) && /this\._dataStream = false;/.test(connectionSource)
  }
]

/** What {@link Connections.setIdleTimeout} relies on. */
const IDLE_TIMEOUT_RELIES_ON: ReadonlyArray<Reliance> = [
  {
    problem: "SMTPConnection no longer closes a connection on the idle timeout of its _socket",
    holds: ({ connectionSource }) => /_armTimeout\(socket = this\._socket\)\s*\{\s*socket\.setTimeout\(/.test(connectionSource)
  },
  {
    problem: "SMTPConnection no longer reads the idle timeout from its server's options each time it arms it",
    holds: ({ connectionSource }) => /socket\.setTimeout\((?:\(0, exports\.)?socketTimeout\)?\(this\._server\.options\)/.test(connectionSource)
  }
]

/** Everything failmail relies on, each with the module that relies on it. */
const RELIED_ON: ReadonlyArray<{ readonly by: string; readonly parts: ReadonlyArray<Reliance> }> = [
  { by: "src/services/smtp/GreetAtOnce.ts", parts: GreetAtOnce.RELIES_ON },
  { by: "src/services/smtp/LineDeadline.ts", parts: LineDeadline.RELIES_ON },
  { by: "isIdle in src/services/smtp/SmtpServerInternals.ts", parts: IDLE_RELIES_ON },
  { by: "setIdleTimeout in src/services/smtp/SmtpServerInternals.ts", parts: IDLE_TIMEOUT_RELIES_ON }
]

const PATCHES: ReadonlyArray<Patch> = [GreetAtOnce.patch, LineDeadline.patch]

/** smtp-server's own methods that a patch replaced, by prototype. */
const replaced = new WeakMap<object, Map<string, unknown>>()

/** The installed smtp-server's version. */
const installedVersion = (): string => {
  try {
    return (createRequire(import.meta.url)("smtp-server/package.json") as { version: string }).version
  } catch {
    return "(unknown version)"
  }
}

const pinnedShapeOf = (connection: ConnectionClass): PinnedShape => {
  const prototype = connection.prototype as unknown as Record<string, unknown>
  const own = replaced.get(prototype)
  return {
    member: (name) => (own?.has(name) ? own.get(name) : prototype[name]),
    connectionSource: String(prototype["constructor"]),
    serverSource: String(SMTPServer)
  }
}

/**
 * Why `connection` is not shaped as the pinned smtp-server failmail relies
 * on (a line naming the module and what changed), or `undefined` when it is.
 */
export const shapeProblem = (connection: ConnectionClass = SMTPConnection): string | undefined => {
  const pinned = pinnedShapeOf(connection)
  for (const { by, parts } of RELIED_ON) {
    const broken = parts.find((part) => !part.holds(pinned))
    if (broken !== undefined) {
      return `smtp-server ${installedVersion()} is not shaped as the pinned version ${by} relies on: ${broken.problem}`
    }
  }
  return undefined
}

/**
 * Checks `connection`'s shape and installs GreetAtOnce and LineDeadline on
 * it, once (again, as on reload, is a no-op); throws {@link shapeProblem}'s
 * line and leaves it untouched when it is not shaped as the pinned one.
 */
export const install = (connection: ConnectionClass = SMTPConnection): void => {
  const prototype = connection.prototype as unknown as Record<string, unknown>
  if (replaced.has(prototype)) return
  const problem = shapeProblem(connection)
  if (problem !== undefined) throw new Error(problem)
  const own = new Map<string, unknown>()
  for (const patch of PATCHES) {
    own.set(patch.member, prototype[patch.member])
    prototype[patch.member] = patch.replace(prototype[patch.member] as never)
  }
  replaced.set(prototype, own)
}

/** What failmail reads of smtp-server's connections, given once their shape is checked. */
export interface Connections {
  /**
   * Whether a session has no transaction under way: before MAIL FROM or
   * after its last message was answered, and not waiting for a handler.
   * Stopping or reloading closes it at once (421) instead of waiting for
   * it: an idle client, such as a connection pool, has nothing to finish.
   */
  readonly isIdle: (connection: SMTPConnection) => boolean
  /**
   * Closes `connection` (421, as smtp-server's idle timeout does) after
   * `ms` without a byte in or out, counted from now; its later idle waits
   * follow the server's `options.socketTimeout`.
   */
  readonly setIdleTimeout: (connection: SMTPConnection, ms: number) => void
}

const connections: Connections = {
  isIdle: (connection) =>
    connection.session?.envelope?.mailFrom === false && !connection._dataStream && !connection._handlerPending,
  setIdleTimeout: (connection, ms) => void connection._socket.setTimeout(ms)
}

/** {@link install} at start, then what reads connections; a changed smtp-server stops the start (exit 1). */
export const ready: Effect.Effect<Connections, StartError> = Effect.try({
  try: () => {
    install()
    return connections
  },
  catch: (error) => new StartError({ message: (error as Error).message })
})
