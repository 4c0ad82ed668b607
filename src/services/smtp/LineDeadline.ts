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
 * watched. What the wrapper relies on is {@link RELIES_ON}, checked with the
 * rest by `SmtpServerInternals`, which installs it.
 */
import { Effect } from "effect"
import type { SMTPServer } from "smtp-server"
import type { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import type { SMTPStream } from "smtp-server/lib/smtp-stream.js"
import { pendingLineSince } from "../../domain/smtp/SessionLimits.ts"
import type { Patch, Reliance } from "./SmtpServerInternals.ts"

/** The line limit of each registered server, and how to look again at each line under way when the limit changes. */
interface Limit {
  ms: number
  readonly recheck: Set<() => void>
}

/** The line limit of each registered server. */
const limits = new WeakMap<object, Limit>()

/** The message of the 421 (smtp-server prefixes it with "Error: "). */
export const OVERDUE = "line not completed in time, closing connection"

/**
 * Watches one parser: tracks since when the client owes the rest of a line
 * and, once that is the limit ago, destroys the parser. While the parser
 * still holds unread input the server is behind, not the client, so the
 * deadline waits.
 */
const watch = (parser: SMTPStream, limit: Limit): void => {
  let pendingSince: number | undefined
  let timer: NodeJS.Timeout | undefined
  const check = () => {
    clearTimeout(timer)
    timer = undefined
    if (pendingSince === undefined || parser.destroyed) return
    const left = pendingSince + limit.ms - Date.now()
    if (left > 0 || parser.writableLength > 0) return arm(left > 0 ? left : limit.ms)
    parser.destroy(new Error(OVERDUE))
  }
  limit.recheck.add(check)
  const arm = (delay: number) => {
    timer = setTimeout(check, delay)
    timer.unref()
  }
  const write = parser.write.bind(parser) as (chunk: unknown, ...rest: Array<unknown>) => boolean
  parser.write = ((chunk: unknown, ...rest: Array<unknown>) => {
    if (chunk instanceof Uint8Array) {
      pendingSince = pendingLineSince(pendingSince, chunk, Date.now())
      if (pendingSince !== undefined && timer === undefined) arm(limit.ms)
    }
    return write(chunk, ...rest)
  }) as typeof parser.write
  parser.once("close", () => {
    clearTimeout(timer)
    limit.recheck.delete(check)
  })
}

/** What the wrapper relies on, as the source of the pinned smtp-server spells it. */
export const RELIES_ON: ReadonlyArray<Reliance> = [
  {
    problem: "it no longer has SMTPConnection.prototype._createParser()",
    holds: ({ member }) => {
      const createParser = member("_createParser")
      return typeof createParser === "function" && createParser.length === 0
    }
  },
  {
    problem: "SMTPConnection.prototype._createParser no longer makes an SMTPStream",
    holds: ({ member }) => /new SMTPStream\(/.test(String(member("_createParser")))
  },
  {
    problem: "SMTPConnection.prototype._createParser no longer answers a parser error with 421",
    holds: ({ member }) => /\.on\(\s*'error'[^]*this\.send\(\s*421/.test(String(member("_createParser")))
  },
  {
    problem: "its constructor no longer sets this._server before making the parser",
    holds: ({ connectionSource }) => /this\._server = server;[^]*this\._createParser\(\)/.test(connectionSource)
  }
]

/** The wrapper of smtp-server's `_createParser`: its parser, watched when the connection's server is registered. */
export const patch: Patch = {
  member: "_createParser",
  replace: (pinned) =>
    function createWatchedParser(this: SMTPConnection): SMTPStream {
      const parser = pinned.call(this)
      const limit = limits.get(this._server)
      if (limit !== undefined) watch(parser, limit)
      return parser
    }
}

/** Holds every connection of `server` to `limitMs` per line (the wrapper is installed by `SmtpServerInternals.ready`). */
export const enforce = (server: SMTPServer, limitMs: number): Effect.Effect<void> =>
  Effect.sync(() => void limits.set(server, { ms: limitMs, recheck: new Set() }))

/** Changes `server`'s line limit, for the lines under way too (a line older than the new limit is overdue now). */
export const setLimit = (server: SMTPServer, limitMs: number): void => {
  const limit = limits.get(server)
  if (limit === undefined) return
  limit.ms = limitMs
  for (const recheck of limit.recheck) recheck()
}
