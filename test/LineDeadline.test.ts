/**
 * The line-deadline patch of smtp-server (src/services/smtp/LineDeadline.ts): it
 * installs on the pinned smtp-server, and refuses — so failmail does not
 * start — one whose parser wiring changed. What it does to a trickling
 * client is in ingress.e2e.test.ts.
 */
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import { describe, expect, it } from "vitest"
import { type ConnectionClass, install, shapeProblem } from "../src/services/smtp/LineDeadline.ts"

/** smtp-server's own `_createParser`, captured before anything in this file installs the patch. */
const pinnedCreateParser = SMTPConnection.prototype._createParser

/** A class shaped like SMTPConnection (same constructor source), with `_createParser` replaced. */
const lookalike = (createParser: unknown): ConnectionClass => {
  const Lookalike = function () {} as unknown as ConnectionClass
  Object.defineProperty(Lookalike, "prototype", {
    value: { constructor: SMTPConnection, _createParser: createParser }
  })
  return Lookalike
}

describe("LineDeadline", () => {
  it("accepts the pinned smtp-server, and installing twice (a reload) is harmless", () => {
    expect(shapeProblem(SMTPConnection)).toBeUndefined()
    install()
    install()
    expect(SMTPConnection.prototype._createParser).not.toBe(pinnedCreateParser)
    expect(shapeProblem(SMTPConnection)).toBeUndefined()
  })

  it("refuses an smtp-server whose _createParser changed, naming the patch, and leaves it alone", () => {
    const changed = function (this: SMTPConnection) {
      return pinnedCreateParser.call(this).removeAllListeners("error")
    }
    const connection = lookalike(changed)
    expect(() => install(connection)).toThrow(
      /^smtp-server \S+ is not shaped as the pinned version src\/services\/LineDeadline\.ts patches: SMTPConnection\.prototype\._createParser no longer/
    )
    expect(connection.prototype._createParser).toBe(changed)
  })

  it("refuses an smtp-server without _createParser", () => {
    expect(() => install(lookalike(undefined))).toThrow(/no longer has SMTPConnection\.prototype\._createParser/)
  })

  it("accepts a lookalike of the pinned one (the check reads the source, not the identity)", () => {
    expect(shapeProblem(lookalike(pinnedCreateParser))).toBeUndefined()
  })
})
