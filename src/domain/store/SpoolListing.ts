/**
 * `failmail spool`: its own flag (`--export MAILDIR`, beside the daemon's
 * settings) and its output, one line per held message. Pure.
 */
import { Either } from "effect"
import { rfc3339 } from "../Status.ts"

/** The flag `failmail spool` takes besides the daemon's settings. */
export const EXPORT_FLAG = "export"

/** The command line without `--export`, and the maildir it names (if given). */
export interface ExportSplit {
  readonly exportDir: string | undefined
  readonly rest: ReadonlyArray<string>
}

/**
 * Takes `-export DIR`, `--export DIR`, `-export=DIR` or `--export=DIR` out
 * of a command line (before `--`); the rest is the daemon's flags. A
 * missing or empty directory, or the flag given twice, is a one-line
 * problem naming the flag.
 */
export const takeExport = (argv: ReadonlyArray<string>): Either.Either<ExportSplit, string> => {
  const rest: Array<string> = []
  let exportDir: string | undefined
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? ""
    if (arg === "--") {
      rest.push(...argv.slice(index))
      break
    }
    const match = /^--?export(?:=(.*))?$/s.exec(arg)
    if (match === null) {
      rest.push(arg)
      continue
    }
    const value = match[1] ?? argv[++index]
    if (value === undefined || value === "") return Either.left(`flag -${EXPORT_FLAG} needs a maildir directory`)
    if (exportDir !== undefined) return Either.left(`flag -${EXPORT_FLAG} given twice`)
    exportDir = value
  }
  return Either.right({ exportDir, rest })
}

/** What a listing line shows of a held message. */
export interface ListedMessage {
  readonly receivedAt: number
  readonly batchKey: string
  readonly subject: string
  readonly recipients: ReadonlyArray<string>
}

/**
 * One line per message, tab-separated: arrival time (RFC 3339, UTC), batch
 * key and subject as JSON strings (so an empty key shows as `""` and no
 * tab, line break or control character from an e-mail reaches the
 * terminal), and the envelope recipients joined by commas.
 */
export const listingLine = (message: ListedMessage): string =>
  [
    rfc3339(message.receivedAt),
    JSON.stringify(message.batchKey),
    JSON.stringify(message.subject),
    message.recipients.map((recipient) => JSON.stringify(recipient).slice(1, -1)).join(",")
  ].join("\t")

/** Oldest first; equal times in id order. */
export const oldestFirst = <A extends { readonly receivedAt: number; readonly id: string }>(messages: ReadonlyArray<A>): Array<A> =>
  [...messages].sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
