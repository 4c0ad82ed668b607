/**
 * `failmail preview [flags] SOURCE`: prints the summaries the configured
 * (or given) `--batch-expr` and `--group-expr` would make over a maildir or
 * a spool (or, without SOURCE, over what `--store postgres://…` holds),
 * without changing anything. Settings are read exactly as the
 * daemon reads them (flags, `FAILMAIL_*`, `--config`, defaults); a bad one
 * exits 2 naming it.
 */
import { Console, Effect } from "effect"
import * as Preview from "../domain/batching/Preview.ts"
import { ConfigError } from "../domain/settings/Errors.ts"
import * as Secrets from "../domain/settings/Secrets.ts"
import * as Invocation from "./Invocation.ts"
import * as MailSource from "../services/store/MailSource.ts"
import * as Previewer from "./Previewer.ts"
import * as Logging from "../layers/Logging.ts"

/** The text of `failmail preview --help`. */
export const usage = `Usage: failmail preview [flags] SOURCE
       failmail preview --store postgres://… [flags]

Prints the summaries failmail would make of the messages in SOURCE: one line per
summary (its subject as it would be sent), its recipients, the groups under it
with their counts, then the messages on which an expression failed. SOURCE is a
maildir (cur/ and new/, such as the --all-dir archive), a failmail spool
directory (--message-store, also while failmail runs) or the Go failmail's store.
Without SOURCE, with --store set, the messages that PostgreSQL store holds.
Nothing is changed.

Flags are the daemon's (see failmail --help), read the same way; those that
matter here: --batch-expr, --group-expr, --subject-prefix, --wait-period,
--max-wait, --rewrite-src, --rewrite-dest, --config.
`

/** Runs `failmail preview` with these arguments (after `preview`) and environment. */
export const preview = (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>) =>
  Effect.gen(function* () {
    const parsed = yield* Invocation.parseSubcommandArgs(args)
    if (parsed.values.help === true) return yield* Effect.sync(() => process.stdout.write(usage))
    const [source, ...extra] = parsed.operands
    const { config, warnings } = yield* Invocation.resolveFlags(parsed, env, Invocation.hostFacts())
    const fromDatabase = source === undefined && Secrets.isSet(config.store)
    if ((source === undefined && !fromDatabase) || extra.length > 0) {
      return yield* new ConfigError({
        message: `preview: give one SOURCE (a maildir or a failmail spool directory), got ${parsed.operands.length}`
      })
    }
    yield* Effect.forEach(warnings, (warning) => Console.error(`failmail: warning: ${warning}`), { discard: true })
    // The expressions compile (a bad one exits 2) before the source is read.
    const { kind, where, result } = yield* Effect.gen(function* () {
      const { kind, where, candidates } =
        source === undefined
          ? yield* Effect.map(MailSource.inDatabase(config.store), (read) => ({ kind: "PostgreSQL store" as const, ...read }))
          : { ...(yield* MailSource.open(source)), where: source }
      return { kind, where, result: yield* Previewer.preview(candidates) }
    }).pipe(
      Effect.scoped,
      Effect.provide(Previewer.layerFor(config)),
      // Failed expressions are reported in the output, not as log lines.
      Effect.provide(Logging.layer({ logFormat: config.logFormat, logLevel: "error" }))
    )
    yield* Effect.sync(() => process.stdout.write(Preview.formatText(result, `${where} (${kind})`)))
  }).pipe(Effect.tapError((error) => Console.error(`failmail: ${error.message}`)))
