/**
 * How the effective configuration is decided: flag, then `FAILMAIL_*`
 * variable, then config file, then default — and the rules that tie settings
 * together, checked before anything is bound.
 */
import { Duration, Either, Redacted } from "effect"
import { subcommands } from "./Command.ts"
import type { FileSettings } from "./ConfigFile.ts"
import type { FlagSettings } from "./Argv.ts"
import * as Secrets from "./Secrets.ts"
import * as Settings from "./Settings.ts"

/** What the `FAILMAIL_*` environment variables set. */
export interface EnvSettings {
  readonly values: Partial<Record<Settings.SettingKey, unknown>>
}

/** Reads the `FAILMAIL_*` variables of the real settings (and `FAILMAIL_CONFIG`). */
export const fromEnv = (env: Readonly<Record<string, string | undefined>>): Either.Either<EnvSettings, string> => {
  const values: Partial<Record<Settings.SettingKey, unknown>> = {}
  for (const key of Settings.settingKeys) {
    if (Settings.settings[key].role !== "setting" && key !== "config") continue
    const name = Settings.envName(key)
    const text = env[name]
    if (text === undefined || text === "") continue
    const decoded = Settings.decodeValue(key, text)
    if (Either.isLeft(decoded)) return Either.left(`${name}: ${decoded.left}`)
    values[key] = decoded.right
  }
  return Either.right({ values })
}

/** The sources of a configuration, most important first. */
export interface Sources {
  readonly flags: FlagSettings
  readonly env: EnvSettings
  readonly file: FileSettings | undefined
  readonly host: Settings.HostFacts
}

/** Merges the sources (flag > environment > file > default) into the effective configuration. */
export const merge = (sources: Sources): Settings.Values => {
  const merged: Record<string, unknown> = { ...Settings.defaults(sources.host) }
  for (const layer of [sources.file?.values ?? {}, sources.env.values, sources.flags.values]) {
    for (const key of Settings.configKeys) {
      if (key in layer) merged[key] = layer[key]
    }
  }
  return merged as unknown as Settings.Values
}

/** The config file named by `--config` or `FAILMAIL_CONFIG`, if any. */
export const configPath = (flags: FlagSettings, env: EnvSettings): string =>
  (flags.values.config as string | undefined) ?? (env.values.config as string | undefined) ?? ""

const problem = (key: Settings.SettingKey, message: string) => Either.left(`${Settings.settings[key].name}: ${message}`)

const compiles = (pattern: string): boolean => {
  try {
    new RegExp(pattern)
    return true
  } catch {
    return false
  }
}

/**
 * Checks the rules that span settings. File-system checks (readable TLS and
 * template files) happen where the files are opened.
 */
export const validate = (values: Settings.Values): Either.Either<Settings.Values, string> => {
  if (Secrets.isSet(values.credentials) && !Redacted.value(values.credentials).includes(":")) {
    return problem("credentials", "must be username:password")
  }
  if ((values.tlsCert === "") !== (values.tlsKey === "")) {
    return problem(values.tlsCert === "" ? "tlsCert" : "tlsKey", "--tls-cert and --tls-key must be given together")
  }
  if (values.ssl && values.tlsCert === "") return problem("ssl", "needs --tls-cert and --tls-key")
  if ((values.rewriteSrc === "") !== (values.rewriteDest === "")) {
    return problem(values.rewriteSrc === "" ? "rewriteDest" : "rewriteSrc", "--rewrite-src and --rewrite-dest must be given together")
  }
  if (values.rewriteSrc !== "" && !compiles(values.rewriteSrc)) {
    return problem("rewriteSrc", `invalid regular expression "${values.rewriteSrc}"`)
  }
  if (Duration.lessThan(values.maxWait, values.waitPeriod)) {
    return problem("maxWait", "must not be shorter than --wait-period")
  }
  if (values.messageStore === "") return problem("messageStore", "must not be empty")
  if (values.failDir === "") return problem("failDir", "must not be empty")
  if (values.relayAddr === "") return problem("relayAddr", "must not be empty (use debug to print summaries)")
  if (values.bindAddr === "" && values.socketFd === 0) return problem("bindAddr", "must not be empty")
  return Either.right(values)
}

/** A copy of the configuration safe to log or show: secrets replaced. */
export const redacted = (values: Settings.Values): Record<string, string> =>
  Object.fromEntries(
    Settings.configKeys.map((key) => {
      const text = Settings.encodeValue(key, values[key])
      return [Settings.settings[key].name, Settings.settings[key].secret && text !== "" ? "<redacted>" : text]
    })
  )

/** Whether any setting marked `secret` has a value (so a file holding the configuration must be private). */
export const holdsSecret = (values: Settings.Values): boolean =>
  Settings.configKeys.some((key) => Settings.settings[key].secret && Settings.encodeValue(key, values[key]) !== "")

/** The `--help` text: every setting with its default and help line. */
export const usage = (host: Settings.HostFacts): string => {
  const rows = Settings.settingKeys.map((key) => {
    const setting = Settings.settings[key]
    const flag = `--${setting.name}${setting.placeholder === "" ? "" : ` ${setting.placeholder}`}`
    const defaultText =
      setting.role === "setting" ? Settings.encodeValue(key as Settings.ConfigKey, setting.defaultValue(host) as never) : ""
    const suffix = defaultText === "" || setting.codec === Settings.Bool ? "" : ` (default ${defaultText})`
    return `  ${flag.padEnd(32)} ${setting.help}${suffix}`
  })
  return [
    "failmail: an SMTP proxy that rolls alert e-mails into summaries",
    "",
    "Usage: failmail [flags]",
    "       failmail COMMAND [arguments]   (failmail COMMAND --help for its own)",
    "",
    "Commands:",
    ...Object.entries(subcommands).map(([name, help]) => `  ${name.padEnd(32)} ${help}`),
    "",
    "Flags (-name and --name are the same; -name=value or -name value; booleans -name or -name=false).",
    "Every setting can also come from FAILMAIL_<NAME> or a --config file line name = value.",
    "",
    ...rows,
    ""
  ].join("\n")
}
