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
 */
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js"

SMTPConnection.prototype.init = function init(this: SMTPConnection): void {
  this._setListeners(() => {
    const { maxClients } = this._server.options
    if (maxClients && this._server.connections.size > maxClients) {
      return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false)
    }
    this.connectionReady()
  })
}
