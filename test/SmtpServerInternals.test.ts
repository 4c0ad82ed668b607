/**
 * The one guarded way into smtp-server (src/services/smtp/SmtpServerInternals.ts):
 * it checks the pinned shape once, installs both patches, and refuses —
 * failmail does not start, exit 1, one line naming what changed — an
 * smtp-server whose shape changed, including one whose connections lost a
 * private member that `isIdle` reads.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import { describe, expect, it } from "vitest"
import { install, shapeProblem } from "../src/services/smtp/SmtpServerInternals.ts"
import { changedConnection, pinned } from "./support/smtpServerShape.ts"
import { tempDir } from "./support/tempdir.ts"

const root = fileURLToPath(new URL("..", import.meta.url))

/** Runs dist/main.js with `upgrade` (module code given `SMTPConnection`) run before failmail loads, standing in for an upgraded smtp-server. */
const startWithUpgraded = (upgrade: string) => {
  const main = path.join(root, "dist", "main.js")
  expect(fs.existsSync(main), "run `npm run build` first").toBe(true)
  const connectionModule = pathToFileURL(
    fs.realpathSync(path.join(root, "node_modules", "smtp-server", "dist", "esm", "smtp-connection.js"))
  ).href
  const preload = `import { SMTPConnection } from ${JSON.stringify(connectionModule)}\n${upgrade}`
  const dir = tempDir("failmail-shape-")
  try {
    const args = ["--bind-addr", "127.0.0.1:0", "--bind-http", "", "--message-store", path.join(dir, "incoming"), "--fail-dir", path.join(dir, "failed")]
    return spawnSync(process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(preload)}`, main, ...args], {
      cwd: dir,
      encoding: "utf8",
      timeout: 10_000,
      killSignal: "SIGKILL"
    })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

describe("SmtpServerInternals", () => {
  it("accepts the pinned smtp-server and installs both patches once; installing again (a reload) is harmless", () => {
    expect(shapeProblem()).toBeUndefined()
    install()
    const patched = { init: SMTPConnection.prototype.init, _createParser: SMTPConnection.prototype._createParser }
    expect(patched.init).not.toBe(pinned.init)
    expect(patched._createParser).not.toBe(pinned._createParser)
    install()
    expect(SMTPConnection.prototype.init).toBe(patched.init)
    expect(SMTPConnection.prototype._createParser).toBe(patched._createParser)
    // Once patched, the check still reads smtp-server's own methods.
    expect(shapeProblem()).toBeUndefined()
  })

  it("accepts a lookalike of the pinned one (the check reads the source, not the identity)", () => {
    expect(shapeProblem(changedConnection())).toBeUndefined()
  })

  it("refuses an smtp-server whose connections no longer have _handlerPending, naming isIdle, and patches nothing", () => {
    const renamed = changedConnection({ source: (source) => source.replaceAll("_handlerPending", "_pendingHandler") })
    expect(() => install(renamed)).toThrow(
      /^smtp-server \S+ is not shaped as the pinned version isIdle in src\/services\/smtp\/SmtpServerInternals\.ts relies on: SMTPConnection no longer sets _handlerPending/
    )
    expect(renamed.prototype.init).toBe(pinned.init)
    expect(renamed.prototype._createParser).toBe(pinned._createParser)
  })

  it("refuses an smtp-server whose connections no longer hold the message under way in _dataStream", () => {
    const renamed = changedConnection({ source: (source) => source.replaceAll("_dataStream", "_messageStream") })
    expect(shapeProblem(renamed)).toMatch(/isIdle in src\/services\/smtp\/SmtpServerInternals\.ts relies on: SMTPConnection no longer holds the message under way in _dataStream$/)
  })

  it("refuses an smtp-server whose idle timeout no longer runs on _socket, or no longer follows its options, naming setIdleTimeout", () => {
    const otherSocket = changedConnection({ source: (source) => source.replaceAll("_armTimeout(socket = this._socket)", "_armTimeout(socket = this._stream)") })
    expect(shapeProblem(otherSocket)).toMatch(
      /setIdleTimeout in src\/services\/smtp\/SmtpServerInternals\.ts relies on: SMTPConnection no longer closes a connection on the idle timeout of its _socket$/
    )
    const fixedTimeout = changedConnection({ source: (source) => source.replace(/socketTimeout\)?\(this\._server\.options\)/g, "300000") })
    expect(shapeProblem(fixedTimeout)).toMatch(
      /setIdleTimeout in src\/services\/smtp\/SmtpServerInternals\.ts relies on: SMTPConnection no longer reads the idle timeout from its server's options each time it arms it$/
    )
  })

  it.each([
    {
      changed: "init",
      upgrade: "SMTPConnection.prototype.init = function () { this._setListeners(() => this.connectionReady()) }",
      named: /src\/services\/smtp\/GreetAtOnce\.ts relies on: SMTPConnection\.prototype\.init is not/
    },
    {
      changed: "a private member isIdle reads",
      upgrade: `const source = String(SMTPConnection).replaceAll("_handlerPending", "_pendingHandler")
SMTPConnection.prototype.constructor = Object.assign(function SMTPConnection() {}, { toString: () => source })`,
      named: /isIdle in src\/services\/smtp\/SmtpServerInternals\.ts relies on: SMTPConnection no longer sets _handlerPending/
    }
  ])("stops failmail at start (exit 1, one line saying why, no stack trace) when smtp-server's $changed changed", ({ upgrade, named }) => {
    const result = startWithUpgraded(upgrade)
    expect(result.status, result.stderr).toBe(1)
    const last = result.stderr.trim().split("\n").at(-1) ?? ""
    expect(last).toMatch(/^failmail: smtp-server \S+ is not shaped as the pinned version /)
    expect(last).toMatch(named)
    expect(result.stderr).not.toMatch(/^\s+at /m)
  })
})
