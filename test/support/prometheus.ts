/**
 * A real Prometheus (Debian's `prometheus`) for the tests of
 * `monitoring/`: started on 127.0.0.1 (port 0, found through `/proc`) with a
 * temporary data folder and a one-second scrape interval, queried through
 * its HTTP API; and the metric names a PromQL expression reads.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { eventually, listeningPortOf } from "./failmail.ts"

/** A running Prometheus. */
export interface Prometheus {
  readonly url: string
  /** Everything it logged so far. */
  readonly output: () => string
  /** `GET /api/v1/<endpoint>?<params>`'s `data`; throws with Prometheus's error when it answers one. */
  readonly api: <A>(endpoint: string, params?: Record<string, string>) => Promise<A>
  /** Stops it (SIGTERM, then SIGKILL after 5 s). */
  readonly stop: () => Promise<void>
}

/** The scrape and evaluation interval, short so that a test sees its first samples within seconds. */
export const SCRAPE_INTERVAL = "1s"

/**
 * Starts `prometheus` with its data in `dir`, scraping `targets` (host:port)
 * as job `job` and evaluating `ruleFiles`; resolves once it answers on its port.
 */
export const startPrometheus = async (options: {
  readonly dir: string
  readonly job: string
  readonly targets: ReadonlyArray<string>
  readonly ruleFiles: ReadonlyArray<string>
}): Promise<Prometheus> => {
  const config = path.join(options.dir, "prometheus.yml")
  // JSON is YAML: no YAML writer needed.
  fs.writeFileSync(
    config,
    JSON.stringify({
      global: { scrape_interval: SCRAPE_INTERVAL, evaluation_interval: SCRAPE_INTERVAL },
      rule_files: options.ruleFiles,
      scrape_configs: [{ job_name: options.job, static_configs: [{ targets: options.targets }] }]
    })
  )
  const child: ChildProcess = spawn(
    "prometheus",
    [`--config.file=${config}`, `--storage.tsdb.path=${path.join(options.dir, "data")}`, "--web.listen-address=127.0.0.1:0", "--log.level=warn"],
    { cwd: options.dir, stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill("SIGTERM")
    const killer = setTimeout(() => child.kill("SIGKILL"), 5_000)
    await exited
    clearTimeout(killer)
  }
  try {
    const pid = child.pid
    if (pid === undefined) throw new Error("prometheus did not start")
    const port = await listeningPortOf(pid)
    const url = `http://127.0.0.1:${port}`
    await eventually("prometheus to be ready", async () => (await fetch(`${url}/-/ready`)).ok, 20_000, 100)
    const api = async <A>(endpoint: string, params: Record<string, string> = {}): Promise<A> => {
      const response = await fetch(`${url}/api/v1/${endpoint}?${new URLSearchParams(params).toString()}`)
      const body = (await response.json()) as { status: string; data: A; error?: string }
      if (body.status !== "success") throw new Error(`prometheus ${endpoint} ${JSON.stringify(params)}: ${body.error ?? response.status}`)
      return body.data
    }
    return { url, output: () => output, api, stop }
  } catch (error) {
    await stop()
    throw new Error(`${String(error)}\n${output}`)
  }
}

/** Words of PromQL that are not metric names. */
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"])

/**
 * The metric names an expression reads: what is left once strings, label
 * matchers, ranges, grouping clauses and function names are taken out.
 * Enough for the expressions of `monitoring/` (not a PromQL parser).
 */
export const metricNamesIn = (expr: string): ReadonlyArray<string> => {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, "")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
  const names = new Set<string>()
  for (const match of bare.matchAll(/(?<![\w.:$])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()/g)) {
    if (!KEYWORDS.has(match[0].toLowerCase())) names.add(match[0])
  }
  return [...names]
}
