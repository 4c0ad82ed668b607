/**
 * The built failmail (`node dist/main.js`) as a child process, the way an
 * operator runs it: build once per test file, launch with arguments, wait
 * for "failmail ready", read the SMTP port it logged. Every child still
 * running when its test finishes is killed (SIGKILL).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { onTestFinished } from "vitest"
import { eventually } from "./failmail.ts"

const root = path.resolve(import.meta.dirname, "..", "..")

/** The built entry point. */
export const main = path.join(root, "dist", "main.js")

/** Builds `dist` from `src` as `npm run build` does (call it from `beforeAll`, with a generous timeout). */
export const buildDaemon = (): void => {
  execFileSync(process.execPath, [path.join(root, "scripts", "build.js")], { cwd: root, stdio: "inherit" })
}

/** How a command run to its end ended. */
export interface Result {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** The caller's environment without FAILMAIL_* variables, plus `extra`. */
export const environment = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("FAILMAIL_"))),
  ...extra
})

/**
 * Runs a program to its end with `input` on stdin and {@link environment}
 * (`env` added), killed after 15 s; asynchronous, so in-process peers keep answering.
 */
export const runToEnd = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly input?: string | Buffer; readonly env?: Record<string, string> }
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: options.cwd, env: environment(options.env), stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000)
    child.on("error", reject)
    child.on("close", (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
    child.stdin.on("error", () => undefined)
    child.stdin.end(options.input ?? "")
  })

/** A failmail child process. */
export interface Child {
  readonly process: ChildProcess
  /** stdout and stderr so far, interleaved. */
  readonly output: () => string
  readonly exited: Promise<number | null>
}

/**
 * Starts `command prefix... args...` (by default `node dist/main.js args...`)
 * in `cwd`; killed when the current test finishes if it still runs.
 */
export const launch = (
  args: ReadonlyArray<string>,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
  command = "node",
  prefix: ReadonlyArray<string> = [main]
): Child => {
  const child = spawn(command, [...prefix, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    await exited
  })
  return { process: child, output: () => output, exited }
}

/** Resolves once the child logged "failmail ready". */
export const ready = (child: Child) => eventually("failmail ready", () => child.output().includes("failmail ready"), 10_000)

/**
 * The ports failmail logged for its `component` listener ("smtp" or "http"),
 * oldest first (a reload with port 0 binds a new one), from its log lines in
 * either `--log-format`.
 */
export const listeningPortsOf = (child: Child, component: "smtp" | "http"): ReadonlyArray<number> => {
  const ofComponent = new RegExp(`component=${component}(\\s|$)|"component":"${component}"`)
  return child
    .output()
    .split("\n")
    .filter((line) => ofComponent.test(line))
    .flatMap((line) => {
      const port = /listening on [^\s"]*:(\d+)"/.exec(line)?.[1]
      return port === undefined ? [] : [Number(port)]
    })
}

const lastPortOf = (child: Child, component: "smtp" | "http"): number => {
  const port = listeningPortsOf(child, component).at(-1)
  if (port === undefined) throw new Error(`no ${component} port in output: ${child.output()}`)
  return port
}

/** The SMTP port failmail logged last (a reload with port 0 binds a new one). */
export const smtpPortOf = (child: Child): number => lastPortOf(child, "smtp")

/** The HTTP port failmail logged last. */
export const httpPortOf = (child: Child): number => lastPortOf(child, "http")

/** The resident set size of a running process, in bytes (Linux `/proc/<pid>/status`). */
export const residentBytes = (pid: number): number => {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  if (match === null) throw new Error(`no VmRSS for process ${pid}`)
  return Number(match[1]) * 1024
}
