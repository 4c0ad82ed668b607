/**
 * The command lines of `failmail silence add|list|expire` and `failmail
 * expect add|list|delete`, which manage a running failmail's silences and
 * expectations over its HTTP API, as `amtool silence` does Alertmanager's.
 * Pure: what to ask the API, or which argument is wrong (exit 2). Matchers
 * are only split here (`field=~regex`); which fields exist and whether a
 * regular expression compiles is the daemon's to say (its 400).
 */
import * as Either from "effect/Either"
import * as GoDuration from "../settings/GoDuration.ts"
import { parseRfc3339 } from "../Rfc3339.ts"

/** The two commands. */
export type Noun = "silence" | "expect"

/** `-o`: a table for people, or the API's JSON for scripts. */
export type Output = "table" | "json"

/** Where the failmail is and how to reach it. */
export interface Connection {
  /** The dashboard's base URL (`--url`, else `$FAILMAIL_URL`, else the default `--bind-http`). */
  readonly url: string
  /** `--credentials-file`: a file holding `user:password` (read by the command); else `$FAILMAIL_CREDENTIALS`. */
  readonly credentialsFile: string | undefined
  /** Bound on one request (`--timeout`), in milliseconds. */
  readonly timeoutMs: number
  readonly output: Output
}

/** What to do: one API request (or several, for several ids). */
export type Action =
  | { readonly _tag: "Help"; readonly noun: Noun }
  | { readonly _tag: "List"; readonly noun: Noun }
  | { readonly _tag: "Remove"; readonly noun: Noun; readonly ids: ReadonlyArray<string> }
  | { readonly _tag: "AddSilence"; readonly body: SilenceBody }
  | { readonly _tag: "AddExpectation"; readonly body: ExpectationBody }

/** `POST /api/silences`'s body. */
export interface SilenceBody {
  readonly match: Readonly<Record<string, string>>
  readonly for?: string
  readonly until?: string
  readonly comment: string
  readonly author: string
}

/** `POST /api/expectations`'s body. */
export interface ExpectationBody {
  readonly name: string
  readonly match: Readonly<Record<string, string>>
  readonly every: string
  readonly to: ReadonlyArray<string>
}

/** A parsed command line. */
export interface Invocation {
  readonly connection: Connection
  readonly action: Action
}

/** Where a failmail's dashboard is by default: the default `--bind-http`. */
export const DEFAULT_URL = "http://localhost:8025"

/** How one run talks to the failmail unless told otherwise. */
const DEFAULTS: Connection = { url: DEFAULT_URL, credentialsFile: undefined, timeoutMs: 10_000, output: "table" }

/** The verbs of each command: add, list, and what removing is called. */
const VERBS: Readonly<Record<Noun, readonly [string, string, string]>> = {
  silence: ["add", "list", "expire"],
  expect: ["add", "list", "delete"]
}

const COMMON_OPTIONS = `Options:
  --url URL                  the failmail's dashboard (default: $FAILMAIL_URL, else ${DEFAULT_URL})
  --credentials-file FILE    a file holding user:password for --credentials (default: $FAILMAIL_CREDENTIALS)
  -o, --output table|json    a table (default) or the API's JSON
  --timeout DURATION         bound on each request (default ${DEFAULTS.timeoutMs / 1000}s)

Matchers are field=~regex (JavaScript syntax), on batch, group, subject, from
or to, for instance 'subject=~^disk full' 'to=~ops@'; all must match.
Exit status: 0 done; 1 the failmail could not be reached or refused (its answer
is printed); 2 a bad argument (named).`

/** The usage text of each command. */
export const usage: Readonly<Record<Noun, string>> = {
  silence: `Usage: failmail silence add (--for DURATION | --until TIME) [--comment TEXT] [--author NAME] MATCHER...
       failmail silence list
       failmail silence expire ID...

Silences hold back the messages their matchers select (stored, not
summarized) until they end; what they held is then summarized.
  add      prints the new silence's id; --for is a Go duration (2h, 30m),
           --until an RFC 3339 time; --author defaults to your login name
  list     those in force and those ended in the last 24 hours
  expire   ends silences now

${COMMON_OPTIONS}
`,
  expect: `Usage: failmail expect add --name NAME --every DURATION --to ADDRESS [--to ADDRESS...] MATCHER...
       failmail expect list
       failmail expect delete ID...

An expectation is mail that should come at least every DURATION (a backup's
report, a cron job's output); a matching message is routine and not
summarized, and when none came in time the --to addresses get a
"[failmail] missing: NAME" notice.
  add      prints the new expectation's id
  list     every expectation, with when it was last met
  delete   deletes expectations

${COMMON_OPTIONS}
`
}

type Problem = string

/** Options that take a value, per command and verb (the common ones for every verb). */
const COMMON = ["url", "credentials-file", "output", "timeout"]
const VALUED: Readonly<Record<string, ReadonlyArray<string>>> = {
  "silence add": ["for", "until", "comment", "author"],
  "expect add": ["name", "every", "to"]
}

/** A matcher `field=~regex`, split; the regular expression may hold anything, `=~` included. */
export const parseMatcher = (text: string): Either.Either<readonly [string, string], Problem> => {
  const at = text.indexOf("=~")
  const field = at === -1 ? "" : text.slice(0, at).trim()
  if (at === -1 || !/^[A-Za-z][\w-]*$/.test(field)) {
    return Either.left(`matcher ${JSON.stringify(text)}: write field=~regex (for instance 'subject=~^disk full')`)
  }
  return Either.right([field, text.slice(at + 2)])
}

/** Matchers as the API takes them; a field given twice is refused (only one regex per field is kept). */
const matchersOf = (texts: ReadonlyArray<string>): Either.Either<Record<string, string>, Problem> => {
  const match: Record<string, string> = {}
  for (const text of texts) {
    const parsed = parseMatcher(text)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    const [field, regex] = parsed.right
    if (Object.prototype.hasOwnProperty.call(match, field)) return Either.left(`matcher ${JSON.stringify(text)}: ${field} given twice`)
    match[field] = regex
  }
  if (Object.keys(match).length === 0) return Either.left("at least one matcher is needed (field=~regex)")
  return Either.right(match)
}

/** A positive Go duration, or a problem naming `--option value`. */
const positiveDuration = (option: string, text: string): Either.Either<number, Problem> => {
  const parsed = GoDuration.parseNanos(text)
  if (Either.isLeft(parsed)) return Either.left(`--${option} ${text}: ${parsed.left}`)
  if (parsed.right <= 0n) return Either.left(`--${option} ${text}: must be greater than zero`)
  return Either.right(Number(parsed.right / 1_000_000n))
}

/** The options and operands of a command line: `--name value`, `--name=value`, `-o value`, `--` ends the options. */
const split = (
  args: ReadonlyArray<string>,
  valued: ReadonlyArray<string>
): Either.Either<{ readonly options: Map<string, Array<string>>; readonly operands: Array<string>; readonly help: boolean }, Problem> => {
  const options = new Map<string, Array<string>>()
  const operands: Array<string> = []
  let help = false
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? ""
    if (arg === "--") {
      operands.push(...args.slice(index + 1))
      break
    }
    if (arg === "--help" || arg === "-h") {
      help = true
      continue
    }
    if (arg === "--credentials" || arg.startsWith("--credentials=")) {
      return Either.left("--credentials is not taken on the command line, where ps shows it: set FAILMAIL_CREDENTIALS or --credentials-file")
    }
    const long = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg)
    const name = long !== null ? (long[1] ?? "") : arg.startsWith("-o") ? "output" : undefined
    if (name === undefined) {
      operands.push(arg)
      continue
    }
    if (!valued.includes(name)) return Either.left(`unknown option --${name}`)
    let value = long !== null ? long[2] : arg.length > 2 ? arg.slice(2) : undefined
    if (value === undefined) {
      value = args[index + 1]
      if (value === undefined) return Either.left(`option --${name} needs a value`)
      index++
    }
    options.set(name, [...(options.get(name) ?? []), value])
  }
  return Either.right({ options, operands, help })
}

/**
 * Parses the arguments after `failmail silence` or `failmail expect`.
 * `env` gives `$FAILMAIL_URL`; `login` is the default `--author`.
 */
export const parse = (
  noun: Noun,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>,
  login: string
): Either.Either<Invocation, Problem> => {
  const [verb, ...rest] = args
  const [add, list, remove] = VERBS[noun]
  const help = (): Either.Either<Invocation, Problem> =>
    Either.right({ connection: DEFAULTS, action: { _tag: "Help", noun } })
  if (verb === undefined || verb === "--help" || verb === "-h" || verb === "help") return help()
  if (verb !== add && verb !== list && verb !== remove) {
    return Either.left(`unknown command ${JSON.stringify(verb)}: use ${add}, ${list} or ${remove} (see failmail ${noun} --help)`)
  }
  return Either.flatMap(split(rest, [...COMMON, ...(VALUED[`${noun} ${verb}`] ?? [])]), ({ options, operands, help: wantsHelp }) => {
    if (wantsHelp) return help()
    for (const [name, values] of options) {
      if (values.length > 1 && name !== "to") return Either.left(`--${name} given more than once`)
    }
    const one = (name: string): string | undefined => options.get(name)?.[0]
    const output = one("output") ?? DEFAULTS.output
    if (output !== "table" && output !== "json") return Either.left(`--output ${output}: use table or json`)
    const given = one("url")
    const url = given ?? env["FAILMAIL_URL"] ?? DEFAULTS.url
    const base = baseUrl(url)
    if (base === undefined) return Either.left(`${given === undefined ? "FAILMAIL_URL=" : "--url "}${url}: not an http:// or https:// URL`)
    const timeoutText = one("timeout")
    const timeout = timeoutText === undefined ? Either.right(DEFAULTS.timeoutMs) : positiveDuration("timeout", timeoutText)
    if (Either.isLeft(timeout)) return Either.left(timeout.left)
    const connection: Connection = { url: base, credentialsFile: one("credentials-file"), timeoutMs: timeout.right, output }
    const action = actionOf(noun, verb, options, operands, login)
    return Either.map(action, (action) => ({ connection, action }))
  })
}

/** `url` without a trailing slash, when it is an http(s) URL; `host:port` alone is `http://host:port`, as `--bind-http` is written. */
const baseUrl = (url: string): string | undefined => {
  const full = url.includes("://") ? url : `http://${url}`
  try {
    const parsed = new URL(full)
    return (parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.hostname !== "" ? full.replace(/\/+$/, "") : undefined
  } catch {
    return undefined
  }
}

const actionOf = (
  noun: Noun,
  verb: string,
  options: ReadonlyMap<string, ReadonlyArray<string>>,
  operands: ReadonlyArray<string>,
  login: string
): Either.Either<Action, Problem> => {
  const [add, list] = VERBS[noun]
  const one = (name: string): string | undefined => options.get(name)?.[0]
  if (verb === list) {
    return operands.length > 0 ? Either.left(`${noun} ${list} takes no arguments, got ${JSON.stringify(operands[0])}`) : Either.right({ _tag: "List", noun })
  }
  if (verb !== add) {
    return operands.length === 0 ? Either.left(`${noun} ${verb} needs the id of what to ${verb}`) : Either.right({ _tag: "Remove", noun, ids: operands })
  }
  return Either.flatMap(matchersOf(operands), (match): Either.Either<Action, Problem> => {
    if (noun === "silence") return silenceOf(match, one, login)
    const name = one("name")
    if (name === undefined || name.trim() === "") return Either.left("expect add needs --name")
    const every = one("every")
    if (every === undefined) return Either.left("expect add needs --every (a Go duration such as 24h)")
    const everyMs = positiveDuration("every", every)
    if (Either.isLeft(everyMs)) return Either.left(everyMs.left)
    const to = options.get("to") ?? []
    if (to.length === 0) return Either.left("expect add needs --to (who gets the missing notice; repeat it for several)")
    return Either.right({ _tag: "AddExpectation", body: { name, match, every, to } })
  })
}

const silenceOf = (
  match: Record<string, string>,
  one: (name: string) => string | undefined,
  login: string
): Either.Either<Action, Problem> => {
  const forText = one("for")
  const until = one("until")
  const comment = one("comment") ?? ""
  const author = one("author") ?? login
  if (forText !== undefined && until !== undefined) return Either.left("give --for or --until, not both")
  if (forText !== undefined) {
    const duration = positiveDuration("for", forText)
    return Either.map(duration, () => ({ _tag: "AddSilence", body: { match, for: forText, comment, author } }) as const)
  }
  if (until !== undefined) {
    if (parseRfc3339(until) === undefined) return Either.left(`--until ${until}: not an RFC 3339 time (for instance 2026-01-31T18:00:00Z)`)
    return Either.right({ _tag: "AddSilence", body: { match, until, comment, author } })
  }
  return Either.left("silence add needs --for (a duration such as 2h) or --until (an RFC 3339 time)")
}
