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
 * private members (`_setListeners`, `_server`): what it relies on is
 * {@link RELIES_ON}, checked with the rest by `SmtpServerInternals`, which
 * installs the patch.
 */
import type { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import type { Patch, Reliance } from "./SmtpServerInternals.ts"

/** The `init` of the pinned smtp-server (3.21.6), comments and whitespace removed: what {@link greetAtOnceInit} replaces. */
const PINNED_INIT =
  "init(){this._setListeners(()=>{if(this._server.options.maxClients&&this._server.connections.size>this._server.options.maxClients){return this.send(421,this.name+' Too many connected clients, try again in a moment',false);}let readyTimer=setTimeout(()=>this.connectionReady(),100);readyTimer.unref();});}"

const withoutComments = (source: string): string => source.replace(/\/\/[^\n]*/g, "").replace(/\s+/g, "")

/** What the replacement relies on, as the source of the pinned smtp-server spells it. */
export const RELIES_ON: ReadonlyArray<Reliance> = [
  {
    problem: "SMTPConnection.prototype.init is not the one the patch replaces",
    holds: ({ member }) => {
      const init = member("init")
      return typeof init === "function" && withoutComments(String(init)) === withoutComments(PINNED_INIT)
    }
  },
  {
    problem: "it no longer has SMTPConnection.prototype._setListeners(callback)",
    holds: ({ member }) => {
      const setListeners = member("_setListeners")
      return typeof setListeners === "function" && setListeners.length === 1
    }
  },
  { problem: "it no longer has SMTPConnection.prototype.connectionReady", holds: ({ member }) => typeof member("connectionReady") === "function" },
  { problem: "it no longer has SMTPConnection.prototype.send", holds: ({ member }) => typeof member("send") === "function" },
  {
    problem: "its constructor no longer sets this._server and this.name",
    holds: ({ connectionSource }) => /this\._server = server;[^]*this\.name = /.test(connectionSource)
  },
  { problem: "SMTPServer.connections is no longer a Set", holds: ({ serverSource }) => /this\.connections = new Set\(\)/.test(serverSource) }
]

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

/** The replacement of smtp-server's `init`. */
export const patch: Patch = { member: "init", replace: () => greetAtOnceInit }
