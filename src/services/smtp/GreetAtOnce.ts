/**
 * Removes smtp-server's fixed 100 ms pause before the greeting of every new
 * connection (its early-talker detection). Alert senders such as Python's
 * `SMTPHandler` open one connection per message from the application's own
 * thread, so that pause blocked applications and capped ingest near 50
 * messages/s with 5 clients.
 *
 * Early talkers stay handled: the greeting is now written before any client
 * input is read (input arrives on a later event-loop turn), and smtp-server
 * processes what a client sent early, in order, after the greeting — exactly
 * as PIPELINING clients expect. The connection limit check is kept as it was.
 *
 * This replaces a method of smtp-server's `SMTPConnection` and uses its
 * private members (`_setListeners`, `_server`), so it first checks that the
 * installed smtp-server is shaped exactly as the pinned one: if an upgrade
 * changed any of it, failmail refuses to start (exit 1) saying so, instead
 * of running a patch that no longer fits.
 */
import { Effect } from "effect"
import { SMTPServer } from "smtp-server"
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import { StartError } from "../../domain/settings/Errors.ts"
import { notShapedAsPinned } from "./SmtpServerShape.ts"

/** The `init` of the pinned smtp-server (3.21.6), comments and whitespace removed: what {@link greetAtOnceInit} replaces. */
const PINNED_INIT =
  "init(){this._setListeners(()=>{if(this._server.options.maxClients&&this._server.connections.size>this._server.options.maxClients){return this.send(421,this.name+' Too many connected clients, try again in a moment',false);}let readyTimer=setTimeout(()=>this.connectionReady(),100);readyTimer.unref();});}"

/** What the replacement relies on, as the source of the pinned smtp-server spells it. */
const RELIED_ON: ReadonlyArray<{ readonly what: string; readonly holds: (connection: ConnectionClass) => boolean }> = [
  {
    what: "SMTPConnection.prototype._setListeners(callback)",
    holds: (c) => typeof c.prototype._setListeners === "function" && c.prototype._setListeners.length === 1
  },
  { what: "SMTPConnection.prototype.connectionReady", holds: (c) => typeof c.prototype.connectionReady === "function" },
  { what: "SMTPConnection.prototype.send", holds: (c) => typeof c.prototype.send === "function" },
  { what: "the constructor setting this._server and this.name", holds: (c) => /this\._server = server;[^]*this\.name = /.test(String(c)) },
  { what: "SMTPServer.connections, a Set", holds: () => /this\.connections = new Set\(\)/.test(String(SMTPServer)) }
]

/** The class the patch applies to (smtp-server's `SMTPConnection`, or a stand-in in tests). */
export type ConnectionClass = Pick<typeof SMTPConnection, "prototype">

const withoutComments = (source: string): string => source.replace(/\/\/[^\n]*/g, "").replace(/\s+/g, "")

/** `init`: the pinned one, minus the 100 ms pause. */
function greetAtOnceInit(this: SMTPConnection): void {
  this._setListeners(() => {
    const { maxClients } = this._server.options
    if (maxClients && this._server.connections.size > maxClients) {
      return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false)
    }
    this.connectionReady()
  })
}

/**
 * Why `connection` is not shaped as the patch expects, or `undefined` when
 * it is (or is already patched).
 */
export const shapeProblem = (connection: ConnectionClass): string | undefined => {
  const init: unknown = connection.prototype.init
  if (init === greetAtOnceInit) return undefined
  if (typeof init !== "function" || withoutComments(String(init)) !== withoutComments(PINNED_INIT)) {
    return "SMTPConnection.prototype.init is not the one the patch replaces"
  }
  const missing = RELIED_ON.find((part) => !part.holds(connection))
  return missing === undefined ? undefined : `it no longer has ${missing.what}`
}

/**
 * Replaces `connection`'s `init` (once; again is a no-op, as on reload), or
 * throws naming what changed and leaves it untouched.
 */
export const install = (connection: ConnectionClass = SMTPConnection): void => {
  const problem = shapeProblem(connection)
  if (problem !== undefined) {
    throw notShapedAsPinned("src/services/smtp/GreetAtOnce.ts", problem)
  }
  connection.prototype.init = greetAtOnceInit
}

/** Installs the patch at start; a changed smtp-server stops the start (exit 1). */
export const greetAtOnce: Effect.Effect<void, StartError> = Effect.try({
  try: () => install(),
  catch: (error) => new StartError({ message: (error as Error).message })
})
