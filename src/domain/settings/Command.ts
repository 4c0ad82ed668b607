/**
 * Which command a run of failmail is: the daemon (flags only, as always),
 * or a subcommand named by the first argument (`failmail preview …`,
 * `failmail sendmail …`, `failmail spool …`, `failmail silence …`, `failmail expect …`). Invoked through a link named `sendmail` (as
 * `/usr/sbin/sendmail`), failmail is the sendmail command whatever its
 * arguments. Pure and import-free, so choosing costs nothing at startup.
 */

/** The subcommands, with the one-line summary `--help` shows. */
export const subcommands = {
  preview: "print the summaries --batch-expr/--group-expr would make over a maildir or a spool",
  sendmail: "submit a message on stdin to a failmail over SMTP (sendmail-compatible)",
  spool: "list (and --export as a maildir) what --message-store holds, also while failmail is stopped",
  silence: "add, list and expire a running failmail's silences over its HTTP API (see failmail silence --help)",
  expect: "add, list and delete a running failmail's expectations over its HTTP API (see failmail expect --help)"
} as const

/** A subcommand's name. */
export type Subcommand = keyof typeof subcommands

/** What to run and the arguments it gets. */
export type Command =
  | { readonly _tag: "Daemon"; readonly args: ReadonlyArray<string> }
  | { readonly _tag: "Subcommand"; readonly name: Subcommand; readonly args: ReadonlyArray<string> }

const isSubcommand = (word: string | undefined): word is Subcommand =>
  word !== undefined && Object.prototype.hasOwnProperty.call(subcommands, word)

/** The last part of a path (`/usr/sbin/sendmail` → `sendmail`). */
const basename = (file: string): string => file.slice(file.replace(/\\/g, "/").lastIndexOf("/") + 1)

/**
 * The command for a program path (`process.argv[1]`) and its arguments.
 * A first argument that is not a subcommand leaves everything to the
 * daemon's flag parsing (which refuses stray words as it always did).
 */
export const commandOf = (program: string, args: ReadonlyArray<string>): Command => {
  if (basename(program) === "sendmail") return { _tag: "Subcommand", name: "sendmail", args }
  const [first, ...rest] = args
  return isSubcommand(first) ? { _tag: "Subcommand", name: first, args: rest } : { _tag: "Daemon", args }
}
