/** The results table. */
import { int } from "./util.ts"

/** One scenario's outcome. */
export interface Row {
  readonly id: number
  readonly scenario: string
  /** What was measured, human-readable (contains the numbers). */
  readonly figure: string
  readonly target: string
  /** undefined: no target judged (an error, or informative only). */
  readonly pass: boolean | undefined
  /** The raw numbers, for --json and the smoke test. */
  readonly values: Readonly<Record<string, number>>
  /** Explanations printed under the table. */
  readonly notes: ReadonlyArray<string>
  readonly error?: string
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ")

/** A markdown table: scenario, figure, target, result. */
export const table = (rows: ReadonlyArray<Row>, quick: boolean): string => {
  const header = ["#", "scenario", "figure", "target", quick ? "result (quick run: not a measurement)" : "result"]
  const body = rows.map((row) => [
    String(row.id),
    row.scenario,
    row.error === undefined ? row.figure : `error: ${row.error}`,
    row.target,
    row.pass === undefined ? "—" : row.pass ? "pass" : "FAIL"
  ])
  const lines = [header, header.map(() => "---"), ...body].map((cols) => `| ${cols.map(cell).join(" | ")} |`)
  return lines.join("\n")
}

export const mb = (kb: number) => `${int(kb / 1024)} MB`
