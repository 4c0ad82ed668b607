/**
 * Command-line parsing with the Go `flag` package's grammar, which existing
 * failmail users' unit files and scripts rely on: `-name` and `--name` are the
 * same flag, values come as `-name=value` or `-name value`, booleans are
 * `-name` or `-name=false`, and `--` ends the flags.
 */
import { Either } from "effect"
import * as Settings from "./Settings.ts"

/** What the command line sets: decoded values by setting, plus deprecation warnings. */
export interface FlagSettings {
  readonly values: Partial<Record<Settings.SettingKey, unknown>>
  readonly warnings: ReadonlyArray<string>
}

/** What a subcommand's command line sets: flags, and the words that are not flags (`failmail preview … SOURCE`). */
export interface FlagsAndOperands extends FlagSettings {
  readonly operands: ReadonlyArray<string>
}

/** A command-line problem as one line naming the flag. */
export type FlagProblem = string

const isBoolean = (key: Settings.SettingKey): boolean => Settings.settings[key].codec === Settings.Bool

/** Parses the daemon's arguments (after the program name): flags only. */
export const parse = (argv: ReadonlyArray<string>): Either.Either<FlagSettings, FlagProblem> =>
  Either.flatMap(parseWithOperands(argv, false), ({ values, warnings }) => Either.right({ values, warnings }))

/**
 * Parses a command line of flags and operands; operands may stand between
 * flags, and everything after `--` is an operand. With `allowOperands`
 * false, the first operand is an error (the daemon takes none).
 */
export const parseWithOperands = (
  argv: ReadonlyArray<string>,
  allowOperands = true
): Either.Either<FlagsAndOperands, FlagProblem> => {
  const values: Partial<Record<Settings.SettingKey, unknown>> = {}
  const warnings: Array<string> = []
  const operands: Array<string> = []
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? ""
    if (arg === "--") {
      const rest = argv.slice(index + 1)
      if (rest.length > 0 && !allowOperands) {
        return Either.left(`unexpected argument "${rest[0]}" (failmail takes no arguments)`)
      }
      return Either.right({ values, warnings, operands: [...operands, ...rest] })
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (!allowOperands) {
        return Either.left(`unexpected argument "${arg}" (failmail takes no arguments; flags start with -)`)
      }
      operands.push(arg)
      continue
    }
    const body = arg.replace(/^--?/, "")
    const equals = body.indexOf("=")
    const name = equals === -1 ? body : body.slice(0, equals)
    const key = name === "h" ? "help" : Settings.lookup(name)
    if (key === undefined || (name !== "h" && name !== Settings.settings[key].name)) {
      return Either.left(`unknown flag -${name} (see failmail --help)`)
    }
    let text: string
    if (equals !== -1) {
      text = body.slice(equals + 1)
    } else if (isBoolean(key)) {
      text = "true"
    } else {
      const next = argv[index + 1]
      if (next === undefined) return Either.left(`flag -${name} needs a value`)
      text = next
      index++
    }
    const decoded = Settings.decodeValue(key, text)
    if (Either.isLeft(decoded)) return Either.left(`-${name}: ${decoded.left}`)
    if (Settings.settings[key].role === "deprecated") {
      warnings.push(`flag -${name} is deprecated and has no effect`)
      continue
    }
    values[key] = decoded.right
  }
  return Either.right({ values, warnings, operands })
}
