/**
 * What `failmail silence` and `failmail expect` print: the API's lists as
 * aligned tables, and a failmail's refusal as one line (its status and the
 * `error` and `field` of its JSON answer).
 */
import type { ExpectationOut } from "../api/Expectations.ts"
import type { SilenceOut } from "../api/Silences.ts"

/** Rows under a header, each column as wide as its widest cell, two spaces apart. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd()
  return [line(header), ...rows.map(line)].join("\n") + "\n"
}

/** Matchers as written on the command line: `field=~regex`, space-separated. */
export const matchersText = (match: Readonly<Record<string, string>>): string =>
  Object.entries(match)
    .map(([field, regex]) => `${field}=~${regex}`)
    .join(" ")

/** A silences list as a table: in force first as the API orders them (newest first). */
export const silencesTable = (silences: ReadonlyArray<SilenceOut>): string =>
  table(
    ["ID", "STATE", "MATCHERS", "ENDS", "HELD", "AUTHOR", "COMMENT"],
    silences.map((silence) => [
      silence.id,
      silence.active ? "active" : "ended",
      matchersText(silence.match),
      silence.endsAt,
      String(silence.heldMessages),
      silence.author,
      silence.comment
    ])
  )

/** An expectations list as a table. */
export const expectationsTable = (expectations: ReadonlyArray<ExpectationOut>): string =>
  table(
    ["ID", "NAME", "STATE", "EVERY", "LAST MET", "DUE", "TO", "MATCHERS"],
    expectations.map((expectation) => [
      expectation.id,
      expectation.name,
      expectation.missing ? "missing" : "met",
      expectation.every,
      expectation.lastMetAt === "" ? "never" : expectation.lastMetAt,
      expectation.dueAt,
      expectation.to.join(","),
      matchersText(expectation.match)
    ])
  )

const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim()

/**
 * A failmail's answer that is not a success, as one line: `400 Bad Request:
 * match.subject: Invalid regular expression…`. The API's errors are JSON
 * with `error` (and `field`); anything else (a proxy's page) is shown as text, shortened.
 */
export const describeAnswer = (status: number, statusText: string, body: string): string => {
  let detail = oneLine(body)
  try {
    const json: unknown = JSON.parse(body)
    if (typeof json === "object" && json !== null) {
      const { error, field, message } = json as { error?: unknown; field?: unknown; message?: unknown }
      const text = typeof error === "string" ? error : typeof message === "string" ? message : undefined
      if (text !== undefined) detail = typeof field === "string" && field !== "" ? `${field}: ${oneLine(text)}` : oneLine(text)
    }
  } catch {
    // Not JSON: the text itself.
  }
  if (detail.length > 300) detail = `${detail.slice(0, 300)}…`
  const head = `${status}${statusText === "" ? "" : ` ${statusText}`}`
  return detail === "" ? head : `${head}: ${detail}`
}
