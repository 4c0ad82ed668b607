/**
 * A smoke run of the benchmark harness (`npm run bench -- --quick`): it
 * compiles, starts the built failmail, drives every scenario with tiny
 * counts and prints its table. The figures of a quick run mean nothing and
 * the targets are not judged here; only that each scenario produced a row
 * with numbers. Scenarios 8 and 9 start a private PostgreSQL
 * (support/postgres.ts), so this is one of the PostgreSQL test files.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { buildBench, runBench } from "./support/bench.ts"
import { tempDir } from "./support/tempdir.ts"

interface BenchRow {
  readonly id: number
  readonly figure: string
  readonly error?: string
  readonly values: Record<string, number>
}

/** The figures each scenario must have measured (finite numbers), by scenario; those that must be positive. */
const keyFigures: Record<number, ReadonlyArray<string>> = {
  1: ["failmailRate", "sinkRate", "ratio", "bareRate", "diskRate"],
  2: ["failmailRate", "sinkRate", "ratio", "bareRate", "diskRate"],
  3: ["p50", "p99"],
  4: ["hwmKb", "rssEndKb"],
  // Summary latency is measured across two processes' clocks at millisecond resolution: near 0, its sign is not asserted.
  5: ["p50", "p99"],
  6: ["readyMs", "smtpMs", "summaryMs", "emptyMs"],
  7: ["rssKb"],
  8: ["sinkRate", "embeddedRate", "oneReplicaRate", "twoReplicasRate", "oneReplicaRatio", "twoReplicasRatio"],
  9: ["medianMs", "worstMs"]
}
const positive = new Set([
  "failmailRate", "sinkRate", "ratio", "bareRate", "diskRate", "hwmKb", "rssEndKb", "readyMs", "smtpMs", "summaryMs", "emptyMs", "rssKb",
  "embeddedRate", "oneReplicaRate", "twoReplicasRate", "oneReplicaRatio", "twoReplicasRatio", "medianMs", "worstMs"
])

describe("npm run bench -- --quick", () => {
  it("prints a table with a row of numbers for every scenario", { timeout: 300_000 }, async () => {
    buildBench()
    const dir = tempDir("failmail-bench-smoke-")
    try {
      const json = path.join(dir, "results.json")
      // Scenarios 8 and 9 start a private PostgreSQL (and wait for another test's to go) and fail a replica over (up to 13 s).
      const result = await runBench("main", ["--quick", "--json", json], 270_000)
      expect(result.code, `the harness failed:\n${result.stderr.slice(-4000)}`).toBe(0)

      const lines = result.stdout.split("\n")
      const header = lines.findIndex((line) => /^\| # \| scenario \| figure \| target \| result/.test(line))
      expect(header, result.stdout).toBeGreaterThanOrEqual(0)
      for (const id of [1, 2, 3, 4, 5, 6, 7, 8, 9]) {
        const row = lines.find((line) => line.startsWith(`| ${id} | `))
        expect(row, `no row for scenario ${id} in:\n${result.stdout}`).toBeDefined()
        const figure = row!.split(" | ")[2] ?? ""
        expect(figure, `scenario ${id}`).not.toMatch(/error|n\/a|NaN/)
        expect(figure, `scenario ${id}`).toMatch(/\d/)
      }

      const rows = (JSON.parse(fs.readFileSync(json, "utf8")) as { rows: ReadonlyArray<BenchRow> }).rows
      expect(rows.map((row) => row.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
      for (const row of rows) {
        expect(row.error, `scenario ${row.id}`).toBeUndefined()
        for (const name of keyFigures[row.id] ?? []) {
          expect(Number.isFinite(row.values[name]), `scenario ${row.id}: ${name} = ${row.values[name]}`).toBe(true)
          if (positive.has(name) || row.id === 3) expect(row.values[name], `scenario ${row.id}: ${name}`).toBeGreaterThan(0)
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
