/**
 * The README's table of settings, rendered from {@link Settings.settings} so
 * the documentation cannot drift from the code (a test compares the two).
 */
import * as Settings from "./Settings.ts"

/** Markdown table cells must not contain a bare `|`. */
const cell = (text: string): string => text.replace(/\|/g, "\\|")

/** `text` as inline code, or `none` for an empty value. */
const code = (text: string): string => (text === "" ? "none" : `\`${cell(text)}\``)

const defaultText = (key: Settings.ConfigKey, host: Settings.HostFacts): string =>
  Settings.encodeValue(key, Settings.settings[key].defaultValue(host) as never)

/**
 * Renders every real setting (`| flag | default | meaning |`, in definition
 * order), then a small table of the deprecated ones.
 */
export const settingsTableMarkdown = (host: Settings.HostFacts): string => {
  const rows = Settings.configKeys.map((key) => {
    const setting = Settings.settings[key]
    return `| \`--${setting.name}\` | ${code(defaultText(key, host))} | ${cell(setting.help)} |`
  })
  const deprecated = Settings.settingKeys
    .filter((key) => Settings.settings[key].role === "deprecated")
    .map((key) => {
      const setting = Settings.settings[key]
      return `| \`--${setting.name}\` / \`${Settings.fileKey(key)}\` | ${cell(setting.help)} |`
    })
  return [
    "| flag | default | meaning |",
    "|---|---|---|",
    ...rows,
    "",
    "Deprecated: accepted on the command line and in config files with a warning, and no effect.",
    "",
    "| flag / key | meaning |",
    "|---|---|",
    ...deprecated,
    ""
  ].join("\n")
}
