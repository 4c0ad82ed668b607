/**
 * Stand-ins for an upgraded smtp-server, for the tests of
 * `SmtpServerInternals`: its `SMTPConnection` with some methods replaced, or
 * with the source of its class rewritten (a private member renamed, say).
 */
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import type { ConnectionClass } from "../../src/services/smtp/SmtpServerInternals.ts"

/** smtp-server's own methods that failmail replaces, taken before a test file installs the patches. */
export const pinned = {
  init: SMTPConnection.prototype.init,
  _createParser: SMTPConnection.prototype._createParser
} as const

/**
 * A class shaped as the pinned `SMTPConnection` but for `changes`: its
 * prototype `members` replaced (`undefined` removes one), and with `source`,
 * the source of its class as `source` rewrites it.
 */
export const changedConnection = (
  changes: { readonly members?: Record<string, unknown>; readonly source?: (pinnedSource: string) => string } = {}
): ConnectionClass => {
  const rewritten = changes.source?.(String(SMTPConnection))
  const constructor = rewritten === undefined ? SMTPConnection : Object.assign(function SMTPConnection() {}, { toString: () => rewritten })
  const prototype = Object.create(SMTPConnection.prototype, { constructor: { value: constructor } }) as Record<string, unknown>
  Object.assign(prototype, pinned, changes.members ?? {})
  return { prototype } as unknown as ConnectionClass
}
