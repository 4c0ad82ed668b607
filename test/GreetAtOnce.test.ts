/**
 * The greeting patch of smtp-server (src/services/smtp/GreetAtOnce.ts): it greets
 * without the 100 ms pause, keeps the connection limit, and refuses to run —
 * failmail does not start — when smtp-server is not shaped as the pinned one.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import { describe, expect, it } from "vitest"
import { type ConnectionClass, install, shapeProblem } from "../src/services/smtp/GreetAtOnce.ts"

const root = fileURLToPath(new URL("..", import.meta.url))

/** smtp-server's own `init`, captured before anything in this file installs the patch. */
const pinnedInit = SMTPConnection.prototype.init

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

/** A class shaped like SMTPConnection, with its prototype members overridden. */
const lookalike = (members: Record<string, unknown>): ConnectionClass => {
  class Lookalike {}
  Object.assign(Lookalike.prototype, members)
  return Lookalike as unknown as ConnectionClass
}

describe("GreetAtOnce", () => {
  it("accepts the pinned smtp-server, and installing twice (a reload) is harmless", () => {
    expect(shapeProblem(SMTPConnection)).toBeUndefined()
    install()
    install()
    expect(SMTPConnection.prototype.init).not.toBe(pinnedInit)
    expect(shapeProblem(SMTPConnection)).toBeUndefined()
  })

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
    const changed = lookalike({ init: changedInit, _setListeners: pinnedInit })
    expect(() => install(changed)).toThrow(
      /^smtp-server \S+ is not shaped as the pinned version src\/services\/GreetAtOnce\.ts patches: SMTPConnection\.prototype\.init is not/
    )
    expect(changed.prototype.init).toBe(changedInit)
  })

  it("refuses an smtp-server that lost a private member the patch uses", () => {
    const noListeners = lookalike({ init: pinnedInit, connectionReady: () => undefined, send: () => undefined })
    expect(() => install(noListeners)).toThrow(/it no longer has SMTPConnection\.prototype\._setListeners/)
    expect(noListeners.prototype.init).toBe(pinnedInit)
  })

  it("stops failmail at start (exit 1, saying why, no stack trace) when the installed smtp-server changed", () => {
    const main = path.join(root, "dist", "main.js")
    expect(fs.existsSync(main), "run `npm run build` first").toBe(true)
    // Stands in for an upgraded smtp-server: its init is replaced before failmail loads.
    const connectionModule = pathToFileURL(
      fs.realpathSync(path.join(root, "node_modules", "smtp-server", "dist", "esm", "smtp-connection.js"))
    ).href
    const upgrade = `import { SMTPConnection } from ${JSON.stringify(connectionModule)}
SMTPConnection.prototype.init = function () { this._setListeners(() => this.connectionReady()) }`
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "failmail-greet-"))
    try {
      const result = spawnSync(
        process.execPath,
        [
          "--import",
          `data:text/javascript,${encodeURIComponent(upgrade)}`,
          main,
          "--bind-addr",
          "127.0.0.1:0",
          "--bind-http",
          "",
          "--message-store",
          path.join(dir, "incoming"),
          "--fail-dir",
          path.join(dir, "failed")
        ],
        { cwd: dir, encoding: "utf8", timeout: 10_000, killSignal: "SIGKILL" }
      )
      expect(result.status, result.stderr).toBe(1)
      const lines = result.stderr.trim().split("\n")
      expect(lines.at(-1)).toMatch(
        /^failmail: smtp-server \S+ is not shaped as the pinned version src\/services\/GreetAtOnce\.ts patches: /
      )
      expect(result.stderr).not.toMatch(/^\s+at /m)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
