/**
 * `failmail spool [--message-store DIR] [--export MAILDIR]`: lists what a
 * failmail's `--message-store` holds, one line per message (arrival time,
 * batch key, subject, recipients), oldest first: its spool, and a Go
 * failmail store not yet taken in; with `--store postgres://…`, what that
 * database holds instead. With `--export`, also writes each
 * message as received into a maildir, its file dated at its arrival. Reads the store only, so it works
 * while failmail is stopped and, harmlessly, while it runs. Settings are
 * read as the daemon reads them (the batch key is the one the daemon would
 * compute); a bad one exits 2 naming it.
 */
import { Console, Effect, Either } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { ConfigError, StartError } from "../domain/settings/Errors.ts"
import * as Secrets from "../domain/settings/Secrets.ts"
import * as SpoolListing from "../domain/store/SpoolListing.ts"
import { plural } from "../domain/delivery/SummaryText.ts"
import * as Invocation from "./Invocation.ts"
import * as MailSource from "../services/store/MailSource.ts"
import { Maildir } from "../services/delivery/Maildir.ts"
import * as Previewer from "./Previewer.ts"
import * as Logging from "../layers/Logging.ts"

/** The text of `failmail spool --help`. */
export const usage = `Usage: failmail spool [--message-store DIR] [--export MAILDIR] [flags]

Lists the messages a failmail holds in --message-store (default: incoming), one
line per message, oldest first, tab-separated: arrival time (RFC 3339, UTC),
batch key and subject (as JSON strings), envelope recipients. Messages still in
the Go failmail's store there (cur/ and .meta/) are listed too: failmail takes
them in at its next start. With --store postgres://…, the messages that
database holds are listed instead. Nothing is changed, so it can run while
failmail runs.

  --export MAILDIR   also write each message, as received, into this maildir
                     (created if needed; readable by mutt, Python's mailbox)

Other flags are the daemon's (see failmail --help), read the same way; those
that matter here: --message-store, --batch-expr, --config.
`

/** Messages read at once. */
const CONCURRENCY = 4

/** Runs `failmail spool` with these arguments (after `spool`) and environment. */
export const spool = (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>) =>
  Effect.gen(function* () {
    const split = yield* Either.match(SpoolListing.takeExport(args), {
      onLeft: (message) => Effect.fail(new ConfigError({ message })),
      onRight: Effect.succeed
    })
    const parsed = yield* Invocation.parseSubcommandArgs(split.rest)
    if (parsed.values.help === true) return yield* Effect.sync(() => process.stdout.write(usage))
    const [extra] = parsed.operands
    if (extra !== undefined) {
      return yield* new ConfigError({ message: `spool: unexpected argument "${extra}" (name the directory with --message-store)` })
    }
    const { config, warnings } = yield* Invocation.resolveFlags(parsed, env, Invocation.hostFacts())
    yield* Effect.forEach(warnings, (warning) => Console.error(`failmail: warning: ${warning}`), { discard: true })
    const dir = config.messageStore
    const exportDir = split.exportDir
    if (exportDir !== undefined && path.resolve(exportDir) === path.resolve(dir)) {
      return yield* new ConfigError({ message: `export ${exportDir}: that is the message store; give another directory` })
    }

    const fromDatabase = Secrets.isSet(config.store)
    const { held, results, where } = yield* Effect.gen(function* () {
      const { held, where } = fromDatabase
        ? yield* Effect.map(MailSource.inDatabase(config.store), ({ where, candidates }) => ({ held: { spool: candidates, goStore: [] }, where }))
        : { held: yield* MailSource.held(dir), where: dir }
      const keyed = yield* Previewer.keyer
      const maildir = yield* Maildir
      // The file's time is the arrival time, as maildir readers take it (Python's mailbox: get_date()).
      const exportTo = (target: string, stored: MailSource.StoredMessage) =>
        maildir.deliver(target, stored.raw).pipe(
          Effect.flatMap((file) => Effect.tryPromise(() => fs.utimes(file, stored.receivedAt / 1000, stored.receivedAt / 1000))),
          Effect.mapError((error) => (error instanceof Error ? error.message : String(error)))
        )
      const results = yield* Effect.forEach(
        [...held.spool, ...held.goStore],
        (candidate) =>
          candidate.load.pipe(
            Effect.flatMap((stored) =>
              stored === undefined
                ? Effect.succeed(undefined)
                : Effect.gen(function* () {
                    const message = yield* keyed(candidate.id, stored)
                    if (exportDir !== undefined) yield* exportTo(exportDir, stored)
                    return message
                  })
            ),
            Effect.mapError((error) => ({ id: candidate.id, error })),
            Effect.either
          ),
        { concurrency: CONCURRENCY }
      )
      return { held, results, where }
    }).pipe(
      Effect.scoped,
      Effect.provide(Previewer.layerFor(config)),
      Effect.provide(Maildir.Default),
      // A failed expression gives the key "" here as in the daemon; the warning would only be noise.
      Effect.provide(Logging.layer({ logFormat: config.logFormat, logLevel: "error" }))
    )

    const messages = SpoolListing.oldestFirst(results.flatMap((result) => (Either.isRight(result) && result.right !== undefined ? [result.right] : [])))
    const failed = results.flatMap((result) => (Either.isLeft(result) ? [result.left] : []))
    const lines = messages.map((message) => SpoolListing.listingLine({ ...message, recipients: message.envelope.rcptTo }))
    yield* Effect.sync(() => process.stdout.write(lines.map((line) => `${line}\n`).join("")))
    yield* Effect.forEach(failed, ({ id, error }) => Console.error(`failmail: spool: ${id}: ${error}`), { discard: true })
    const fromGo = held.goStore.length
    yield* Console.error(
      `failmail: ${plural(messages.length, "message", "messages")} held in ${where}` +
        (fromGo > 0 ? ` (${fromGo} in the Go failmail's store, taken in at the next start)` : "") +
        (exportDir !== undefined ? `; ${messages.length} exported to ${exportDir}` : "")
    )
    if (failed.length > 0) {
      return yield* new StartError({
        message: `spool: ${plural(failed.length, "message", "messages")} could not be ${exportDir === undefined ? "read" : "read or exported"}`
      })
    }
  }).pipe(Effect.tapError((error) => Console.error(`failmail: ${error.message}`)))
