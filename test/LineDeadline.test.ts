/**
 * The line-deadline patch of smtp-server (src/services/smtp/LineDeadline.ts):
 * it is refused — so failmail does not start — on an smtp-server whose
 * parser wiring changed. What it does to a trickling client is in
 * ingress.e2e.test.ts; installing it on the pinned smtp-server is in
 * SmtpServerInternals.test.ts.
 */
import type { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import { describe, expect, it } from "vitest"
import { install, shapeProblem } from "../src/services/smtp/SmtpServerInternals.ts"
import { changedConnection, pinned } from "./support/smtpServerShape.ts"

describe("LineDeadline", () => {
  it("refuses an smtp-server whose _createParser changed, naming the patch, and leaves it alone", () => {
    const changed = function (this: SMTPConnection) {
      return pinned._createParser.call(this).removeAllListeners("error")
    }
    const connection = changedConnection({ members: { _createParser: changed } })
    expect(() => install(connection)).toThrow(
      /^smtp-server \S+ is not shaped as the pinned version src\/services\/smtp\/LineDeadline\.ts relies on: SMTPConnection\.prototype\._createParser no longer/
    )
    expect(connection.prototype._createParser).toBe(changed)
  })

  it("refuses an smtp-server without _createParser", () => {
    expect(() => install(changedConnection({ members: { _createParser: undefined } }))).toThrow(/no longer has SMTPConnection\.prototype\._createParser/)
  })

  it("refuses an smtp-server whose constructor no longer makes its parser with _createParser", () => {
    const reordered = changedConnection({ source: (source) => source.replaceAll("this._createParser()", "this._makeParser()") })
    expect(shapeProblem(reordered)).toMatch(/LineDeadline\.ts relies on: its constructor no longer sets this\._server before making the parser$/)
  })
})
