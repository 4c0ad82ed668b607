/**
 * The config file format of the original failmail: `key = value` lines,
 * `#` comment lines and blank lines. Unlike the original, nothing is dropped
 * silently: every line is a setting, a comment or blank, or an error.
 */
import { Either } from "effect"
import * as Settings from "./Settings.ts"

/** A problem in a config file, located by line. */
export interface FileProblem {
  readonly path: string
  readonly line: number
  readonly key: string
  readonly message: string
}

/** One-line rendering of a {@link FileProblem}: `<file>:<line>: <key>: <problem>`. */
export const describeProblem = (problem: FileProblem): string =>
  `${problem.path}:${problem.line}: ${problem.key}: ${problem.message}`

/** What a config file sets: decoded values by setting, plus deprecation warnings. */
export interface FileSettings {
  readonly values: Partial<Record<Settings.SettingKey, unknown>>
  readonly warnings: ReadonlyArray<string>
}

const SETTING_LINE = /^\s*([A-Za-z0-9_-]+)\s*=(.*)$/

const unquote = (value: string): string =>
  value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value

/**
 * Parses the text of a config file. An empty value means "not set"; `""`
 * (quoted) sets a setting to the empty string.
 */
export const parse = (path: string, text: string): Either.Either<FileSettings, FileProblem> => {
  const values: Partial<Record<Settings.SettingKey, unknown>> = {}
  const warnings: Array<string> = []
  const lines = text.split(/\r?\n/)
  for (const [index, rawLine] of lines.entries()) {
    const line = index + 1
    const trimmed = rawLine.trim()
    if (trimmed === "" || trimmed.startsWith("#")) continue
    const match = SETTING_LINE.exec(rawLine)
    if (match === null) {
      return Either.left({ path, line, key: trimmed.slice(0, 40), message: "not a setting (expected key = value)" })
    }
    const [, name = "", rawValue = ""] = match
    const key = Settings.lookup(name)
    if (key === undefined) return Either.left({ path, line, key: name, message: "unknown setting" })
    const setting = Settings.settings[key]
    if (setting.role === "action" && key !== "version") {
      return Either.left({ path, line, key: name, message: "can only be given on the command line" })
    }
    if (setting.role !== "setting") {
      warnings.push(`${path}:${line}: ${name}: deprecated, ignored`)
      continue
    }
    const value = rawValue.trim()
    if (value === "") continue
    const decoded = Settings.decodeValue(key, unquote(value))
    if (Either.isLeft(decoded)) return Either.left({ path, line, key: name, message: decoded.left })
    values[key] = decoded.right
  }
  return Either.right({ values, warnings })
}

const needsQuotes = (text: string, defaultText: string): boolean =>
  (text === "" && defaultText !== "") || text !== text.trim() || (text.startsWith('"') && text.endsWith('"'))

/**
 * Writes every real setting in definition order, in the format {@link parse}
 * reads back to the same configuration.
 */
export const format = (values: Settings.Values, host: Settings.HostFacts): string =>
  Settings.configKeys
    .map((key) => {
      const text = Settings.encodeValue(key, values[key])
      const defaultText = Settings.encodeValue(key, Settings.settings[key].defaultValue(host) as never)
      return `${Settings.fileKey(key)} = ${needsQuotes(text, defaultText) ? `"${text}"` : text}\n`
    })
    .join("")
