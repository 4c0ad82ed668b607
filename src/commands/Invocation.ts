/**
 * Turns the command line, the environment and the config file into what
 * this run of failmail should do: print help, print the version, write the
 * configuration, or run with a validated configuration.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Data, Effect, Either } from "effect"
import * as os from "node:os"
import * as Argv from "../domain/settings/Argv.ts"
import * as ConfigFile from "../domain/settings/ConfigFile.ts"
import * as Configuration from "../domain/settings/Configuration.ts"
import { ConfigError } from "../domain/settings/Errors.ts"
import type * as Settings from "../domain/settings/Settings.ts"
import type { RunningConfig } from "../services/runtime/AppConfig.ts"

/** What this run should do. */
export type Invocation = Data.TaggedEnum<{
  Help: { readonly text: string }
  Version: {}
  WriteConfig: {
    readonly path: string
    readonly text: string
    readonly warnings: ReadonlyArray<string>
    /** The text holds a secret (credentials, relay password): the file must be private. */
    readonly holdsSecret: boolean
  }
  Run: Resolved & {
    /** Reads the config file again with the same flags and environment (SIGHUP). */
    readonly reread: Effect.Effect<Resolved, ConfigError, FileSystem.FileSystem>
  }
}>

/** A validated configuration and the warnings met while reading it. */
export interface Resolved {
  readonly config: RunningConfig
  readonly warnings: ReadonlyArray<string>
}

/** Constructors for {@link Invocation}. */
export const Invocation = Data.taggedEnum<Invocation>()

/** The facts about this host that defaults use. */
export const hostFacts = (): Settings.HostFacts => ({ hostname: os.hostname() || "localhost" })

const fromEither = <A>(either: Either.Either<A, string>) =>
  Either.match(either, {
    onLeft: (message) => Effect.fail(new ConfigError({ message })),
    onRight: Effect.succeed
  })

const readFileSettings = (path: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs
      .readFileString(path)
      .pipe(
        Effect.mapError(
          (error) => new ConfigError({ message: `config ${path}: cannot read: ${error.message.replace(/^.*?: /, "")}` })
        )
      )
    return yield* Either.match(ConfigFile.parse(path, text), {
      onLeft: (problem) => Effect.fail(new ConfigError({ message: ConfigFile.describeProblem(problem) })),
      onRight: Effect.succeed
    })
  })

/**
 * Builds the running configuration from already-parsed flags and environment,
 * (re-)reading the config file. SIGHUP reload calls this again with the same
 * flags, so the command line keeps winning.
 */
export const resolveConfig = (
  flags: Argv.FlagSettings,
  env: Configuration.EnvSettings,
  host: Settings.HostFacts
): Effect.Effect<Resolved, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const configFile = Configuration.configPath(flags, env)
    const file = configFile === "" ? undefined : yield* readFileSettings(configFile)
    const values = yield* fromEither(Configuration.validate(Configuration.merge({ flags, env, file, host })))
    const config: RunningConfig = { ...values, configFile }
    return { config, warnings: [...flags.warnings, ...(file?.warnings ?? [])] }
  })

/**
 * The running configuration for parsed flags, read the way the daemon reads
 * it (flag, `FAILMAIL_*`, config file, default); subcommands use it too.
 */
export const resolveFlags = (
  flags: Argv.FlagSettings,
  environment: Readonly<Record<string, string | undefined>>,
  host: Settings.HostFacts
): Effect.Effect<Resolved, ConfigError, FileSystem.FileSystem> =>
  Effect.flatMap(fromEither(Configuration.fromEnv(environment)), (env) => resolveConfig(flags, env, host))

/** Parses a subcommand's flags and operands (a bad flag is a {@link ConfigError} naming it). */
export const parseSubcommandArgs = (argv: ReadonlyArray<string>): Effect.Effect<Argv.FlagsAndOperands, ConfigError> =>
  fromEither(Argv.parseWithOperands(argv))

/** Decides what to do from `argv` (without the program name) and the environment. */
export const fromArgs = (argv: ReadonlyArray<string>, environment: Readonly<Record<string, string | undefined>>) =>
  Effect.gen(function* () {
    const host = hostFacts()
    const flags = yield* fromEither(Argv.parse(argv))
    if (flags.values.help === true) return Invocation.Help({ text: Configuration.usage(host) })
    if (flags.values.version === true) return Invocation.Version()
    const env = yield* fromEither(Configuration.fromEnv(environment))
    const { config, warnings } = yield* resolveConfig(flags, env, host)
    const writePath = flags.values.writeConfig as string | undefined
    if (writePath !== undefined && writePath !== "") {
      return Invocation.WriteConfig({
        path: writePath,
        text: ConfigFile.format(config, host),
        warnings,
        holdsSecret: Configuration.holdsSecret(config)
      })
    }
    return Invocation.Run({ config, warnings, reread: resolveConfig(flags, env, host) })
  })
