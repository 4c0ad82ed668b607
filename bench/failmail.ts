/**
 * Runs the BUILT failmail (`node <its flags> dist/main.js ...`) as a child
 * process, as its bin runs it (with the Node flags of its `#!` line), with
 * its own spool and fail-dir, HTTP off, and reads its log
 * lines on stderr: `listening on 127.0.0.1:<port>` with `component=smtp` gives the port,
 * `failmail ready` says it is serving.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import { logDirOf, readLog } from "../src/services/store/embedded/MessageLog.ts"
import type { SpoolRecord } from "../src/services/store/Store.ts"
import { tempDir } from "../test/support/tempdir.ts"
import { memoryOf, now, pollUntil, removeDir, track, waitExit } from "./util.ts"

/** How failmail is run, for the report: `[NAME=VALUE...] node <flags> dist/main.js`, as its `#!` line runs it. */
export const commandLabel = (root: string, nodeOptions: ReadonlyArray<string>): string =>
  [
    ...Object.entries(shebangEnv(path.join(root, "dist", "main.js"))).map(([name, value]) => `${name}=${value}`),
    "node",
    ...shebangFlags(path.join(root, "dist", "main.js")),
    ...nodeOptions,
    "dist/main.js"
  ].join(" ")

export interface FailmailOptions {
  readonly root: string
  readonly label: string
  readonly relayAddr: string
  readonly waitPeriod: string
  readonly maxWait: string
  /**
   * Run with failmail's default configuration apart from its directories and
   * ports (HTTP on, on any free port): every other option here is ignored.
   */
  readonly defaults?: boolean
  /** Reuse this directory (spool in `<dir>/incoming`) instead of a fresh one: a restart. */
  readonly dir?: string
  /** Listen on this port (default 0: any free port, read from the log). */
  readonly port?: number
  readonly logLevel?: "debug" | "info" | "warn" | "error"
  readonly extraArgs?: ReadonlyArray<string>
  /** Node flags, e.g. `--cpu-prof`. */
  readonly nodeArgs?: ReadonlyArray<string>
  readonly readyTimeoutMs?: number
}

export interface LogLine {
  /** Monotonic ms when the line was read. */
  readonly at: number
  readonly text: string
}

const MAX_LINES = 20_000

/** The words of `main`'s `#!/usr/bin/env -S NAME=VALUE... node FLAGS...` line after `env -S`, and where `node` is among them. */
const shebangWords = (main: string): { words: ReadonlyArray<string>; node: number } => {
  const first = fs.readFileSync(main, "utf8").split("\n", 1)[0] ?? ""
  const words = first.replace(/^#!\S*\s*/, "").split(/\s+/).filter((word) => word !== "")
  return { words, node: words.findIndex((word) => word === "node" || word.endsWith("/node")) }
}

/** The Node flags of `main`'s `#!` line, which the bin runs with. */
export const shebangFlags = (main: string): ReadonlyArray<string> => {
  const { words, node } = shebangWords(main)
  return node === -1 ? [] : words.slice(node + 1)
}

/** The environment variables `main`'s `#!` line sets (`NAME=VALUE` before `node`), which the bin runs with. */
export const shebangEnv = (main: string): Readonly<Record<string, string>> => {
  const { words, node } = shebangWords(main)
  const assignments = words.slice(0, Math.max(node, 0)).filter((word) => /^[A-Za-z_]\w*=/.test(word))
  return Object.fromEntries(assignments.map((word) => [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)]))
}

export class Failmail {
  readonly lines: Array<LogLine> = []
  private listeners: Array<() => void> = []
  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    /** Monotonic ms when the process was spawned. */
    readonly spawnedAt: number
  ) {}

  port = 0
  /** Monotonic ms of the `failmail ready` line. */
  readyAt = 0

  get pid(): number {
    return this.child.pid ?? -1
  }
  get spoolDir(): string {
    return path.join(this.dir, "incoming")
  }

  static async start(options: FailmailOptions): Promise<Failmail> {
    // On disk, under the system temp folder: the spool must really fsync.
    const dir = options.dir ?? tempDir(`failmail-bench-${options.label}-`)
    const main = path.join(options.root, "dist", "main.js")
    if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build first`)
    const places = [
      `--bind-addr=127.0.0.1:${options.port ?? 0}`,
      `--message-store=${path.join(dir, "incoming")}`,
      `--fail-dir=${path.join(dir, "failed")}`
    ]
    const args = [
      ...shebangFlags(main),
      ...(options.nodeArgs ?? []),
      main,
      ...places,
      ...(options.defaults === true
        ? ["--bind-http=127.0.0.1:0"]
        : [
            "--bind-http=",
            `--relay-addr=${options.relayAddr}`,
            `--wait-period=${options.waitPeriod}`,
            `--max-wait=${options.maxWait}`,
            `--log-level=${options.logLevel ?? "info"}`,
            "--relay-retry-for=0",
            ...(options.extraArgs ?? [])
          ])
    ]
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("FAILMAIL_"))),
      ...shebangEnv(main)
    }
    const spawnedAt = now()
    const child = track(spawn(process.execPath, args, { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] }))
    const failmail = new Failmail(child, dir, spawnedAt)
    const reader = readline.createInterface({ input: child.stderr! })
    // BENCH_FAILMAIL_LOG=FILE: also append failmail's log lines there (for debugging the harness).
    const tee = process.env["BENCH_FAILMAIL_LOG"]
    reader.on("line", (text) => {
      if (tee !== undefined && tee !== "") fs.appendFileSync(tee, `${options.label} ${text}\n`)
      if (failmail.lines.length < MAX_LINES) failmail.lines.push({ at: now(), text })
      for (const listener of failmail.listeners.splice(0)) listener()
    })
    child.once("exit", () => {
      for (const listener of failmail.listeners.splice(0)) listener()
    })
    try {
      const listening = await failmail.waitForLine(/listening on 127\.0\.0\.1:(\d+).* component=smtp\b/, options.readyTimeoutMs ?? 60_000)
      failmail.port = Number(/127\.0\.0\.1:(\d+)/.exec(listening.text)?.[1])
      failmail.readyAt = (await failmail.waitForLine(/failmail ready/, options.readyTimeoutMs ?? 60_000)).at
    } catch (error) {
      child.kill("SIGKILL")
      throw error
    }
    return failmail
  }

  /** The first log line (from `from` on) matching `pattern`; waits for it at most `timeoutMs`. */
  async waitForLine(pattern: RegExp, timeoutMs: number, from = 0): Promise<LogLine> {
    const end = now() + timeoutMs
    for (let round = 0; round < 1_000_000; round++) {
      const found = this.lines.slice(from).find((line) => pattern.test(line.text))
      if (found !== undefined) return found
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`failmail exited (${this.child.exitCode ?? this.child.signalCode}) before logging ${pattern}:\n${this.tail()}`)
      }
      const left = end - now()
      if (left <= 0) throw new Error(`failmail did not log ${pattern} within ${timeoutMs} ms:\n${this.tail()}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000))
        this.listeners.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    throw new Error("unreachable")
  }

  /** The last log lines, for error messages. */
  tail(count = 15): string {
    return this.lines
      .slice(-count)
      .map((line) => `  ${line.text}`)
      .join("\n")
  }

  /** Lines at warning level or above (failmail logs `level=WARN` / `level=ERROR`). */
  problems(): ReadonlyArray<string> {
    return this.lines.filter((line) => /level=(WARN|ERROR|FATAL)/.test(line.text)).map((line) => line.text)
  }

  memory() {
    return memoryOf(this.pid)
  }

  /** What its spool holds now, read from its message log as `failmail spool` reads it (nothing when there is none yet). */
  async held(): Promise<ReadonlyArray<SpoolRecord>> {
    try {
      return (await readLog(logDirOf(this.spoolDir))).messages.map((message) => message.record)
    } catch {
      return []
    }
  }

  /** How many messages its spool holds. */
  async spooled(): Promise<number> {
    return (await this.held()).length
  }

  /** Waits until `count` messages are spooled (they are, before their 250; this is a cross-check). */
  async expectSpooled(count: number, timeoutMs = 10_000): Promise<void> {
    let seen = -1
    await pollUntil(
      `spool holds ${count} messages (has ${seen})`,
      async () => ((seen = await this.spooled()) >= count ? true : undefined),
      timeoutMs,
      50
    ).catch(() => {
      throw new Error(`the spool holds ${seen} messages, expected ${count}`)
    })
  }

  /**
   * Stops it: `kill` is SIGKILL (a crash: the spool stays as it is, nothing
   * is summarized); `term` is SIGTERM (pending batches are summarized; a
   * CPU profile is written), SIGKILL after `timeoutMs`.
   */
  async stop(how: "kill" | "term", timeoutMs = 30_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill(how === "kill" ? "SIGKILL" : "SIGTERM")
    await waitExit(this.child, timeoutMs)
  }

  /** Stops it and deletes its directory. */
  async dispose(how: "kill" | "term" = "kill"): Promise<void> {
    await this.stop(how)
    removeDir(this.dir)
  }
}
