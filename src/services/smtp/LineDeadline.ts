/**
 * `--line-timeout`: a client must finish each line it sends (a command, or a
 * line of a message) within the limit of the line's first byte. smtp-server's
 * own idle timer restarts on every byte, so without this a client trickling
 * one byte every few minutes, never a newline, held its connection slot
 * forever; now it gets `421` and is closed once the limit passes.
 *
 * smtp-server has no hook for this, so this module wraps one method of its
 * `SMTPConnection`: `_createParser`, which makes the parser that reads every
 * (decrypted) byte a client sends, once per connection and again after
 * STARTTLS. The wrapper watches what is written to the parser; when a line is
 * overdue it destroys the parser with an error, which smtp-server answers
 * with `421 Error: <message>` and a close — the path it already takes for
 * an over-long command line. Only servers registered with {@link enforce} are
 * watched. Before wrapping, it checks that smtp-server is shaped as the
 * pinned one; if not, failmail does not start, naming what changed.
 */
import { Effect } from "effect"
import type { SMTPServer } from "smtp-server"
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import type { SMTPStream } from "smtp-server/lib/smtp-stream.js"
import { StartError } from "../../domain/settings/Errors.ts"
import { pendingLineSince } from "../../domain/smtp/SessionLimits.ts"
import { notShapedAsPinned } from "./SmtpServerShape.ts"

/** The class the patch applies to (smtp-server's `SMTPConnection`, or a stand-in in tests). */
export type ConnectionClass = Pick<typeof SMTPConnection, "prototype">

type CreateParser = (this: SMTPConnection) => SMTPStream

/** The line limit (milliseconds) of each registered server. */
const limits = new WeakMap<object, number>()

/** The original `_createParser` of each patched class. */
const originals = new WeakMap<object, CreateParser>()

/** The message of the 421 (smtp-server prefixes it with "Error: "). */
export const OVERDUE = "line not completed in time, closing connection"

/**
 * Watches one parser: tracks since when the client owes the rest of a line
 * and, once that is `limitMs` ago, destroys the parser. While the parser
 * still holds unread input the server is behind, not the client, so the
 * deadline waits.
 */
const watch = (parser: SMTPStream, limitMs: number): void => {
  let pendingSince: number | undefined
  let timer: NodeJS.Timeout | undefined
  const check = () => {
    timer = undefined
    if (pendingSince === undefined || parser.destroyed) return
    const left = pendingSince + limitMs - Date.now()
    if (left > 0 || parser.writableLength > 0) return arm(left > 0 ? left : limitMs)
    parser.destroy(new Error(OVERDUE))
  }
  const arm = (delay: number) => {
    timer = setTimeout(check, delay)
    timer.unref()
  }
  const write = parser.write.bind(parser) as (chunk: unknown, ...rest: Array<unknown>) => boolean
  parser.write = ((chunk: unknown, ...rest: Array<unknown>) => {
    if (chunk instanceof Uint8Array) {
      pendingSince = pendingLineSince(pendingSince, chunk, Date.now())
      if (pendingSince !== undefined && timer === undefined) arm(limitMs)
    }
    return write(chunk, ...rest)
  }) as typeof parser.write
  parser.once("close", () => clearTimeout(timer))
}

function createWatchedParser(this: SMTPConnection): SMTPStream {
  const original = originals.get(Object.getPrototypeOf(this) as object) as CreateParser
  const parser = original.call(this)
  const limitMs = limits.get(this._server)
  if (limitMs !== undefined) watch(parser, limitMs)
  return parser
}

/**
 * Why `connection` is not shaped as the patch expects, or `undefined` when
 * it is (or is already patched).
 */
export const shapeProblem = (connection: ConnectionClass): string | undefined => {
  const createParser: unknown = connection.prototype._createParser
  if (createParser === createWatchedParser) return undefined
  if (typeof createParser !== "function" || createParser.length !== 0) {
    return "it no longer has SMTPConnection.prototype._createParser()"
  }
  const source = String(createParser)
  if (!/new SMTPStream\(/.test(source)) return "SMTPConnection.prototype._createParser no longer makes an SMTPStream"
  if (!/\.on\(\s*'error'[^]*this\.send\(\s*421/.test(source)) {
    return "SMTPConnection.prototype._createParser no longer answers a parser error with 421"
  }
  if (!/this\._server = server;[^]*this\._createParser\(\)/.test(String(connection.prototype.constructor))) {
    return "the constructor no longer sets this._server before making the parser"
  }
  return undefined
}

/** Wraps `connection`'s `_createParser` (once; again is a no-op), or throws naming what changed and leaves it untouched. */
export const install = (connection: ConnectionClass = SMTPConnection): void => {
  const problem = shapeProblem(connection)
  if (problem !== undefined) throw notShapedAsPinned("src/services/smtp/LineDeadline.ts", problem)
  if (connection.prototype._createParser === createWatchedParser) return
  originals.set(connection.prototype, connection.prototype._createParser as CreateParser)
  connection.prototype._createParser = createWatchedParser
}

/**
 * Installs the patch (a changed smtp-server stops the start) and holds every
 * connection of `server` to `limitMs` per line.
 */
export const enforce = (server: SMTPServer, limitMs: number): Effect.Effect<void, StartError> =>
  Effect.try({
    try: () => {
      install()
      limits.set(server, limitMs)
    },
    catch: (error) => new StartError({ message: (error as Error).message })
  })
