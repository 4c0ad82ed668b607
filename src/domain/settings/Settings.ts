/**
 * The one definition of every failmail setting: name, type, default and help.
 *
 * CLI flags, `FAILMAIL_*` environment variables, config-file keys, `--help`
 * and `--write-config` are all derived from {@link settings}; no setting is
 * spelled anywhere else.
 */
import bytes from "bytes"
import { Data, Duration, Either, ParseResult, Redacted, Schema } from "effect"
import { isIP } from "node:net"
import { DEFAULT_BIND_ADDR } from "./Address.ts"
import * as GoDuration from "./GoDuration.ts"
import * as RelayBudget from "../delivery/RelayBudget.ts"

/** Facts about the host that some defaults depend on (injected, so the domain does no I/O). */
export interface HostFacts {
  readonly hostname: string
}

/** A setting's codec: decodes the text of a flag, variable or config line; encodes back for `--write-config`. */
export type Codec<A> = Schema.Schema<A, string>

const failWith = (ast: Schema.Schema.AnyNoContext["ast"], actual: string, message: string) =>
  ParseResult.fail(new ParseResult.Type(ast, actual, message))

/** Free text on one line (a config file line could not hold more). */
export const Text: Codec<string> = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: (text, _, ast) =>
    /[\r\n]/.test(text) ? failWith(ast, text, "must be a single line") : ParseResult.succeed(text),
  encode: ParseResult.succeed
})

/**
 * A secret on one line, held as `Redacted` from the moment it is read: it
 * prints as `<redacted>` in logs, errors and JSON, and only the code that
 * uses it (`Redacted.value`) sees the text. Encoding gives the real text
 * back, for `--write-config`.
 */
export const SecretText: Codec<Redacted.Redacted<string>> = Schema.compose(Text, Schema.Redacted(Schema.String))

/** Booleans the way Go's `strconv.ParseBool` spells them. */
export const Bool: Codec<boolean> = Schema.transformOrFail(Schema.String, Schema.Boolean, {
  strict: true,
  decode: (text, _, ast) => {
    if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return ParseResult.succeed(true)
    if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return ParseResult.succeed(false)
    return failWith(ast, text, `invalid boolean "${text}" (use true or false)`)
  },
  encode: (value) => ParseResult.succeed(value ? "true" : "false")
})

/**
 * An absolute `http://` or `https://` URL with a host and no user name or
 * password, or empty (not set). Kept as written, so `--write-config` gives it
 * back unchanged.
 */
export const HttpUrl: Codec<string> = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: (text, _, ast) => {
    if (text === "") return ParseResult.succeed(text)
    const problem = `invalid URL "${text}" (use an absolute http:// or https:// URL, such as https://failmail.example.com/)`
    if (!URL.canParse(text)) return failWith(ast, text, problem)
    const url = new URL(text)
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") return failWith(ast, text, problem)
    if (url.username !== "" || url.password !== "") return failWith(ast, text, `URL "${text}" must not hold a user name or password`)
    return ParseResult.succeed(text)
  },
  encode: ParseResult.succeed
})

/**
 * Where failmail keeps what must last: empty for the embedded store, or a
 * `postgres://` (or `postgresql://`) URL. Held as `Redacted` from the moment
 * it is read, as the URL may carry a password; its problems never quote it.
 */
export const StoreUrl: Codec<Redacted.Redacted<string>> = Schema.compose(
  Text,
  Schema.transformOrFail(Schema.String, Schema.String, {
    strict: true,
    decode: (text, _, ast) => {
      if (text === "") return ParseResult.succeed(text)
      const usage = "use empty for the embedded store, or postgres://user:password@host:port/database"
      if (!URL.canParse(text)) return failWith(ast, "", `not a URL (${usage})`)
      const protocol = new URL(text).protocol
      return protocol === "postgres:" || protocol === "postgresql:"
        ? ParseResult.succeed(text)
        : failWith(ast, "", `unsupported scheme "${protocol.slice(0, 20)}" (${usage})`)
    },
    encode: ParseResult.succeed
  })
).pipe(Schema.compose(Schema.Redacted(Schema.String)))

/** A whole number, zero or more. */
export const Count: Codec<number> = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (text, _, ast) =>
    /^\d+$/.test(text) && Number.isSafeInteger(Number(text))
      ? ParseResult.succeed(Number(text))
      : failWith(ast, text, `invalid number "${text}" (use a whole number, 0 or more)`),
  encode: (value) => ParseResult.succeed(String(value))
})

/** A whole number, 1 or more. */
export const PositiveCount: Codec<number> = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (text, _, ast) =>
    /^\d+$/.test(text) && Number(text) > 0 && Number.isSafeInteger(Number(text))
      ? ParseResult.succeed(Number(text))
      : failWith(ast, text, `invalid number "${text}" (use a whole number, 1 or more)`),
  encode: (value) => ParseResult.succeed(String(value))
})

const makeDuration = (allowZero: boolean): Codec<Duration.Duration> =>
  Schema.transformOrFail(Schema.String, Schema.DurationFromSelf, {
    strict: true,
    decode: (text, _, ast) =>
      Either.match(GoDuration.parse(text), {
        onLeft: (message) => failWith(ast, text, message),
        onRight: (duration) =>
          !allowZero && Duration.isZero(duration)
            ? failWith(ast, text, `duration must be greater than zero, got "${text}"`)
            : ParseResult.succeed(duration)
      }),
    encode: (duration) => ParseResult.succeed(GoDuration.format(duration))
  })

/** A Go-syntax duration greater than zero. */
export const PositiveDuration: Codec<Duration.Duration> = makeDuration(false)

/** A Go-syntax duration, zero allowed (zero means "off" where the help says so). */
export const DurationOrZero: Codec<Duration.Duration> = makeDuration(true)

/** A size in bytes: `10MB`, `512KB` or a plain number of bytes (units are powers of 1024). */
export const Size: Codec<number> = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (text, _, ast) => {
    // `bytes.parse` falls back to `parseInt`, which would take `12abc` as 12: only hand it number+unit.
    const value = /^\d+$/.test(text) ? Number(text) : /^\d+(?:\.\d+)? *[KMGTP]B$/i.test(text) ? bytes.parse(text) : null
    return value !== null && Number.isSafeInteger(value) && value > 0
      ? ParseResult.succeed(value)
      : failWith(ast, text, `invalid size "${text}" (use e.g. 10MB, 512KB or a number of bytes)`)
  },
  encode: (value) => {
    const unit = [["GB", 1024 ** 3], ["MB", 1024 ** 2], ["KB", 1024]].find(([, size]) => value % (size as number) === 0)
    return ParseResult.succeed(unit === undefined ? String(value) : `${value / (unit[1] as number)}${unit[0]}`)
  }
})

/**
 * The peers trusted to send a PROXY protocol header (the load balancers in
 * front): IP addresses separated by commas, `*` for every peer, or empty
 * (none: no header is expected). Kept as the list of addresses.
 */
export const ProxyPeers: Codec<ReadonlyArray<string>> = Schema.transformOrFail(
  Schema.String,
  Schema.declare((value: unknown): value is ReadonlyArray<string> => Array.isArray(value) && value.every((peer) => typeof peer === "string")),
  {
    strict: true,
    decode: (text, _, ast) => {
      const peers = text.split(",").map((peer) => peer.trim()).filter((peer) => peer !== "")
      const invalid = peers.find((peer) => peer !== "*" && isIP(peer) === 0)
      return invalid === undefined
        ? ParseResult.succeed(Data.array(peers))
        : failWith(ast, text, `invalid address "${invalid}" (use IP addresses separated by commas, or * for every peer)`)
    },
    encode: (peers) => ParseResult.succeed(peers.join(","))
  }
)

/** A share of a whole: a fixed count, or a percentage of the whole. */
export type Share = { readonly _tag: "Count"; readonly count: number } | { readonly _tag: "Percent"; readonly percent: number }

/** A share of `count` (0 or more). */
export const shareCount = (count: number): Share => Data.struct({ _tag: "Count" as const, count })

/** A share of `percent` % (1 to 100) of the whole. */
export const sharePercent = (percent: number): Share => Data.struct({ _tag: "Percent" as const, percent })

/** A share: a whole number (`10`, 0 or more) or a percentage (`50%`, 1 to 100). */
export const ShareText: Codec<Share> = Schema.transformOrFail(
  Schema.String,
  Schema.declare((value): value is Share => typeof value === "object" && value !== null && "_tag" in value),
  {
    strict: true,
    decode: (text, _, ast) => {
      if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text))) return ParseResult.succeed(shareCount(Number(text)))
      const percent = /^(\d{1,3})%$/.exec(text)?.[1]
      return percent !== undefined && Number(percent) >= 1 && Number(percent) <= 100
        ? ParseResult.succeed(sharePercent(Number(percent)))
        : failWith(ast, text, `invalid share "${text}" (use a whole number, 0 or more, or a percentage from 1% to 100%)`)
    },
    encode: (share) => ParseResult.succeed(share._tag === "Count" ? String(share.count) : `${share.percent}%`)
  }
)

/** A relay rate: `N/s`, `N/m`, `N/h`, or `0` for no limit. */
export const Rate: Codec<RelayBudget.RelayRate> = Schema.transformOrFail(
  Schema.String,
  Schema.declare(
    (value: unknown): value is RelayBudget.RelayRate =>
      typeof value === "object" && value !== null && "count" in value && "periodMs" in value
  ),
  {
    strict: true,
    decode: (text, _, ast) =>
      Either.match(RelayBudget.parseRate(text), {
        onLeft: (message) => failWith(ast, text, message),
        onRight: (rate) => ParseResult.succeed(rate)
      }),
    encode: (rate) => ParseResult.succeed(RelayBudget.formatRate(rate))
  }
)

/** One of a fixed set of words. */
const oneOf = <const Words extends ReadonlyArray<string>>(...words: Words): Codec<Words[number]> =>
  Schema.transformOrFail(Schema.String, Schema.Literal(...words), {
    strict: true,
    decode: (text, _, ast) =>
      words.includes(text)
        ? ParseResult.succeed(text as Words[number])
        : failWith(ast, text, `invalid value "${text}" (use one of: ${words.join(", ")})`),
    encode: (value) => ParseResult.succeed(value)
  })

/** Log levels, least to most severe. */
export const LogLevelWord = oneOf("debug", "info", "warn", "error")

/** Log line formats. */
export const LogFormatWord = oneOf("text", "json")

/**
 * What a setting is for:
 * - `setting`: a real setting, from flags, environment, config file; written by `--write-config`;
 * - `action`: command-line only (`--help`, `--version`, `--config`, `--write-config`);
 * - `deprecated`: accepted from flags and config files with a warning and no effect.
 */
export type Role = "setting" | "action" | "deprecated"

/** The definition of one setting. */
export interface Setting<A, R extends Role = Role> {
  /** Flag name (`bind-addr`); config keys and environment names derive from it. */
  readonly name: string
  readonly codec: Codec<A>
  readonly defaultValue: (host: HostFacts) => A
  readonly help: string
  readonly role: R
  /** Printed as `<redacted>` in logs, `--help` and the dashboard. */
  readonly secret: boolean
  /** Shown in `--help` as the value placeholder. */
  readonly placeholder: string
}

const define =
  <A>(codec: Codec<A>, placeholder: string) =>
  <R extends Role = "setting">(
    name: string,
    defaultValue: A | ((host: HostFacts) => A),
    help: string,
    options: { readonly role?: R; readonly secret?: boolean } = {}
  ): Setting<A, R> => ({
    name,
    codec,
    defaultValue: typeof defaultValue === "function" ? (defaultValue as (host: HostFacts) => A) : () => defaultValue,
    help,
    role: (options.role ?? "setting") as R,
    secret: options.secret ?? false,
    placeholder
  })

const text = define(Text, "string")
const secret = define(SecretText, "string")
const bool = define(Bool, "")
const count = define(Count, "n")
const positiveCount = define(PositiveCount, "n")
const positiveDuration = define(PositiveDuration, "duration")
const durationOrZero = define(DurationOrZero, "duration")

/**
 * Every setting, in definition order (the order of `--help` and `--write-config`).
 * An empty text value means "not set" for the optional ones.
 */
export const settings = {
  config: text("config", "", "read settings from this config file (key = value lines)", { role: "action" }),
  writeConfig: text("write-config", "", "write the effective configuration to this path and exit", { role: "action" }),
  version: bool("version", false, "print the version and exit", { role: "action" }),
  help: bool("help", false, "print this help and exit", { role: "action" }),

  bindAddr: text("bind-addr", DEFAULT_BIND_ADDR, "SMTP listen address (host:port)"),
  socketFd: count("socket-fd", 0, "listen on this inherited file descriptor instead of binding (0: off)"),
  proxyProtocol: define(ProxyPeers, "addresses")(
    "proxy-protocol",
    Data.array([]),
    "load balancers (IP addresses, comma-separated; * for any) whose SMTP connections start with a PROXY protocol header giving the client's address (empty: off)"
  ),
  credentials: secret("credentials", Redacted.make(""), "username:password clients must AUTH with", { secret: true }),
  tlsCert: text("tls-cert", "", "PEM certificate file; with --tls-key, STARTTLS is offered"),
  tlsKey: text("tls-key", "", "PEM private key file for --tls-cert"),
  ssl: bool("ssl", false, "implicit TLS on the SMTP listener (needs --tls-cert and --tls-key)"),
  shutdownTimeout: positiveDuration("shutdown-timeout", Duration.seconds(5), "on shutdown or reload, how long open SMTP sessions may finish"),
  debugReceiver: bool("debug-receiver", false, "log the SMTP conversation of every client"),
  rewriteSrc: text("rewrite-src", "", "regexp matched against envelope recipients to rewrite them"),
  rewriteDest: text("rewrite-dest", "", "replacement for recipients matching --rewrite-src ($1 expands)"),
  allowUnencryptedAuth: bool("allow-unencrypted-auth", false, "allow AUTH on connections without TLS"),
  messageStore: text("message-store", "incoming", "spool directory for received, not yet summarized messages"),
  store: define(StoreUrl, "url")(
    "store",
    Redacted.make(""),
    "where received messages and state are kept: empty for the embedded store under --message-store, or a postgres:// URL",
    { secret: true }
  ),
  from: text("from", (host: HostFacts) => `failmail@${host.hostname}`, "From (header and envelope) of summaries"),
  subjectPrefix: text("subject-prefix", "[failmail]", "prefix of summary subjects"),
  waitPeriod: positiveDuration("wait-period", Duration.seconds(30), "a batch is sent once no message joined it for this long"),
  maxWait: positiveDuration("max-wait", Duration.minutes(5), "longest a batch is held after its first message"),
  repeatInterval: durationOrZero("repeat-interval", Duration.zero, "a due batch of groups all reported less than this long ago, and nothing new, waits (0: off)"),
  forgetAfter: positiveDuration("forget-after", Duration.hours(24), "a group quiet this long is marked new again"),
  backAfter: positiveDuration("back-after", Duration.hours(1), "a known group quiet longer than this that returns is marked back (\"back after 2h\"; X-Failmail-Back)"),
  batchExpr: text("batch-expr", `{{.Header.Get "X-Failmail-Split"}}`, "expression: which summary email a message goes into"),
  groupExpr: text("group-expr", `{{.Header.Get "Subject"}}`, "expression: how messages group inside a summary"),
  template: text("template", "", "Handlebars template file for the text part of summaries"),
  relayAddr: text("relay-addr", "localhost:25", "upstream SMTP server (host:port); debug prints summaries to stdout"),
  relayUser: text("relay-user", "", "user for AUTH to the relay"),
  relayPassword: secret("relay-password", Redacted.make(""), "password for AUTH to the relay", { secret: true }),
  relayAll: bool("relay-all", false, "also relay every received message upstream unchanged, at once"),
  relayTimeout: positiveDuration("relay-timeout", Duration.seconds(30), "bound on one relay attempt"),
  relayRetryFor: durationOrZero("relay-retry-for", Duration.minutes(10), "how long transient relay failures are retried before the fail-dir (0: no retry)"),
  relayRate: define(Rate, "rate")("relay-rate", RelayBudget.rateOf(60, 60_000), "most summaries sent upstream per period: N/s, N/m or N/h (0: no limit); beyond it they are held and merged"),
  stormThreshold: count(
    "storm-threshold",
    20,
    "this many summaries or more for one recipient set due within one --wait-period are a storm: they go as one storm digest, then one per --max-wait while it lasts (0: off)"
  ),
  failDir: text("fail-dir", "failed", "maildir for summaries that could not be relayed"),
  allDir: text("all-dir", "", "archive every message received, as received, in this maildir"),
  bindHttp: text("bind-http", "localhost:8025", "HTTP dashboard/API listen address (empty: off)"),
  externalUrl: define(HttpUrl, "url")(
    "external-url",
    "",
    "the dashboard's public URL (behind a proxy); its host is accepted in HTTP Host headers, and HTML summaries link to it to silence a group"
  ),
  pidfile: text("pidfile", "", "write the process id to this file"),
  maxMessageSize: define(Size, "size")("max-message-size", 10 * 1024 * 1024, "larger messages are refused with 552"),
  maxConnections: positiveCount("max-connections", 100, "concurrent SMTP clients; beyond this a new client waits up to 15 s for a slot, then 421"),
  maxConnectionsPerIp: define(ShareText, "n|n%")(
    "max-connections-per-ip",
    sharePercent(50),
    "connections one client address may hold: a number (0: no limit) or a share of --max-connections; beyond it, 421"
  ),
  lineTimeout: positiveDuration("line-timeout", Duration.minutes(1), "longest a client may take to send one line, from its first byte; then 421"),
  dataTimeout: positiveDuration("data-timeout", Duration.minutes(10), "longest a client may take to send a message, from DATA to the final dot; then 421"),
  maxRecipients: positiveCount("max-recipients", 100, "recipients per message; each RCPT TO beyond this gets 452"),
  logLevel: define(LogLevelWord, "level")("log-level", "info" as const, "debug, info, warn or error"),
  logFormat: define(LogFormatWord, "format")("log-format", "text" as const, "text, or json (one object per line)"),

  poll: positiveDuration("poll", Duration.seconds(5), "deprecated, no effect (batches use exact timers)", { role: "deprecated" }),
  receiver: bool("receiver", false, "deprecated, no effect (failmail always receives)", { role: "deprecated" }),
  sender: bool("sender", false, "deprecated, no effect (failmail always sends)", { role: "deprecated" }),
  memoryStore: bool("memory-store", false, "deprecated, no effect (the spool is always on disk)", { role: "deprecated" })
} as const

/** Identifier of a setting (`bindAddr`). */
export type SettingKey = keyof typeof settings

type ValueOf<S> = S extends Setting<infer A, Role> ? A : never

/** Keys of the settings that make up the running configuration. */
export type ConfigKey = {
  [K in SettingKey]: (typeof settings)[K]["role"] extends "setting" ? K : never
}[SettingKey]

/** The effective configuration: one value per `setting`-role entry. */
export type Values = { readonly [K in ConfigKey]: ValueOf<(typeof settings)[K]> }

/** All setting keys, in definition order. */
export const settingKeys = Object.keys(settings) as ReadonlyArray<SettingKey>

/** Keys of real settings, in definition order. */
export const configKeys = settingKeys.filter((key) => settings[key].role === "setting") as unknown as ReadonlyArray<ConfigKey>

/** Folds a name so `max_wait`, `max-wait`, `MaxWait` and `MAX_WAIT` compare equal. */
export const foldName = (name: string): string => name.toLowerCase().replace(/[-_]/g, "")

const byFoldedName = new Map(settingKeys.map((key) => [foldName(settings[key].name), key] as const))

/** Finds a setting by any spelling of its name. */
export const lookup = (name: string): SettingKey | undefined => byFoldedName.get(foldName(name))

/** The config-file key of a setting (`bind_addr`). */
export const fileKey = (key: SettingKey): string => settings[key].name.replace(/-/g, "_")

/** The environment variable of a setting (`FAILMAIL_BIND_ADDR`). */
export const envName = (key: SettingKey): string => `FAILMAIL_${settings[key].name.replace(/-/g, "_").toUpperCase()}`

/** Decodes the text of one setting, or returns a one-line problem. */
export const decodeValue = <K extends SettingKey>(key: K, text: string): Either.Either<ValueOf<(typeof settings)[K]>, string> => {
  const codec = (settings[key] as Setting<unknown>).codec as unknown as Codec<ValueOf<(typeof settings)[K]>>
  return Either.mapLeft(Schema.decodeEither(codec)(text), (error) => {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
    return issues[0]?.message ?? `invalid value "${text}"`
  })
}

/** Encodes a value of one setting back to its text form. */
export const encodeValue = <K extends ConfigKey>(key: K, value: Values[K]): string => {
  const codec = settings[key].codec as unknown as Codec<Values[K]>
  return Schema.encodeSync(codec)(value)
}

/** The default configuration on a given host. */
export const defaults = (host: HostFacts): Values =>
  Object.fromEntries(configKeys.map((key) => [key, settings[key].defaultValue(host)])) as unknown as Values
