/**
 * A short run of `npm run soak` (a few seconds instead of minutes): the
 * harness starts the built failmail, drives every kind of client, reloads
 * and stops it, and accounts for every acknowledged message. The figures of
 * so short a run say little about memory; what is asserted is that the run
 * happened and that nothing acknowledged was lost.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { buildBench, runBench } from "./support/bench.ts"
import { tempDir } from "./support/tempdir.ts"

interface Figures {
  readonly acknowledged: number
  readonly large: number
  readonly summaries: number
  readonly lost: number
  readonly duplicated: number
  readonly garbage: Record<string, number>
  readonly hups: number
  readonly exit: number | string
  readonly rssKb: ReadonlyArray<number>
  readonly ok: boolean
}

describe("npm run soak -- --duration 4s", () => {
  it("drives every kind of client through reloads and a stop, and loses nothing acknowledged", { timeout: 150_000 }, async () => {
    buildBench()
    const dir = tempDir("failmail-soak-smoke-")
    try {
      const json = path.join(dir, "figures.json")
      const args = ["--duration", "4s", "--rate", "40", "--hup-every", "1s", "--json", json]
      const result = await runBench("soak", args, 120_000)
      expect(result.code === 0 || result.code === 1, `the soak did not finish:\n${result.stderr.slice(-4000)}`).toBe(true)
      expect(result.stdout).toMatch(/^acknowledged \(250\) +\d/m)
      expect(result.stdout).toMatch(/^RSS MB, every second +\d+ \d+ \d+/m)

      const figures = JSON.parse(fs.readFileSync(json, "utf8")) as Figures
      expect(figures.ok, result.stdout).toBe(result.code === 0)
      expect(figures.acknowledged).toBeGreaterThan(0)
      expect(figures.large).toBeGreaterThan(0)
      expect(figures.summaries).toBeGreaterThan(0)
      expect(figures.hups).toBeGreaterThanOrEqual(2)
      expect(Object.values(figures.garbage).reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0)
      expect(figures.exit).toBe(0)
      expect(figures.rssKb.length).toBeGreaterThanOrEqual(3)
      expect(figures.lost, result.stdout).toBe(0)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
