/**
 * The greeting patch of smtp-server (src/services/smtp/GreetAtOnce.ts): it greets
 * without the 100 ms pause, keeps the connection limit, and is refused —
 * failmail does not start — when smtp-server's `init` or what it uses changed.
 */
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import { describe, expect, it } from "vitest"
import { install } from "../src/services/smtp/SmtpServerInternals.ts"
import { changedConnection, pinned } from "./support/smtpServerShape.ts"

/** A stand-in for the `this` of `init`: records what the connection did. */
const stubConnection = (options: { maxClients?: number; connections?: number } = {}) => {
  const did: Array<string> = []
  const connection = {
    name: "failmail.test",
    _server: {
      options: options.maxClients === undefined ? {} : { maxClients: options.maxClients },
      connections: new Set(Array.from({ length: options.connections ?? 1 }, (_, i) => i))
    },
    _setListeners: (callback: () => void) => {
      did.push("listening")
      callback()
    },
    connectionReady: () => void did.push("greeted"),
    send: (code: number, text: string) => void did.push(`${code} ${text}`)
  }
  return { connection, did }
}

describe("GreetAtOnce", () => {
  it("greets as soon as the listeners are set, with no timer in between", () => {
    install()
    const { connection, did } = stubConnection()
    SMTPConnection.prototype.init.call(connection as unknown as SMTPConnection)
    expect(did).toEqual(["listening", "greeted"])
  })

  it("still refuses a connection beyond maxClients with 421", () => {
    install()
    const { connection, did } = stubConnection({ maxClients: 2, connections: 3 })
    SMTPConnection.prototype.init.call(connection as unknown as SMTPConnection)
    expect(did).toEqual(["listening", "421 failmail.test Too many connected clients, try again in a moment"])
  })

  it("refuses an smtp-server whose init changed, naming the patch, and leaves it alone", () => {
    const changedInit = function (this: SMTPConnection) {
      this._setListeners(() => this.connectionReady())
    }
    const changed = changedConnection({ members: { init: changedInit } })
    expect(() => install(changed)).toThrow(
      /^smtp-server \S+ is not shaped as the pinned version src\/services\/smtp\/GreetAtOnce\.ts relies on: SMTPConnection\.prototype\.init is not/
    )
    expect(changed.prototype.init).toBe(changedInit)
  })

  it("refuses an smtp-server that lost a private member the patch uses", () => {
    const noListeners = changedConnection({ members: { _setListeners: undefined } })
    expect(() => install(noListeners)).toThrow(/it no longer has SMTPConnection\.prototype\._setListeners/)
    expect(noListeners.prototype.init).toBe(pinned.init)
  })
})
