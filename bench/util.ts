/**
 * Small helpers shared by the benchmark: timing, statistics, child-process
 * bookkeeping (every child is killed when the harness exits), free ports
 * and formatting.
 */
import { type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { Conversation } from "../test/support/smtpClient.ts"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Milliseconds on a monotonic clock. */
export const now = () => performance.now()


/** Rejects after `ms` with `what timed out`, unless the promise settles first. */
export const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms)} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Polls `check` every `everyMs` until it returns a value other than undefined, at most `timeoutMs`. */
export const pollUntil = async <A>(
  what: string,
  check: () => A | undefined | Promise<A | undefined>,
  timeoutMs: number,
  everyMs = 10
): Promise<A> => {
  const end = now() + timeoutMs
  const maxRounds = Math.ceil(timeoutMs / Math.max(1, everyMs)) + 10
  for (let round = 0; round < maxRounds && now() <= end; round++) {
    const value = await check()
    if (value !== undefined) return value
    await sleep(everyMs)
  }
  throw new Error(`${what}: not reached within ${Math.round(timeoutMs)} ms`)
}

/** The p-th percentile (0–100), nearest rank, of unsorted values. */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1] as number
}

export const median = (values: ReadonlyArray<number>): number => percentile(values, 50)

/** `12,345` */
export const int = (value: number): string =>
  Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "n/a"

/** Fixed decimals, or n/a. */
export const fixed = (value: number, digits: number): string => (Number.isFinite(value) ? value.toFixed(digits) : "n/a")

// ---- child processes --------------------------------------------------------

const children = new Set<ChildProcess>()

/** Registers a child so it is killed if the harness exits or is interrupted. */
export const track = (child: ChildProcess): ChildProcess => {
  children.add(child)
  child.once("exit", () => children.delete(child))
  return child
}

export const killAll = () => {
  for (const child of children) {
    try {
      child.kill("SIGKILL")
    } catch {
      // already gone
    }
  }
  children.clear()
}

/**
 * Runs a bench program's `run` and exits with its code, killing every child
 * first; a failure is printed as `name: message` and exits 2.
 */
export const runMain = (name: string, run: () => Promise<number>): void => {
  run().then(
    (code) => {
      killAll()
      process.exit(code)
    },
    (error: unknown) => {
      process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`)
      killAll()
      process.exit(2)
    }
  )
}

process.once("exit", killAll)
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll()
    process.exit(130)
  })
}

/** Resolves with the exit code (or signal) of a child, at most `timeoutMs`; kills it on timeout. */
export const waitExit = (child: ChildProcess, timeoutMs: number): Promise<number | string> =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode)
    if (child.signalCode !== null) return resolve(child.signalCode)
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
    }, timeoutMs)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      resolve(code ?? signal ?? "unknown")
    })
  })

// ---- network ------------------------------------------------------------------

/** A port on 127.0.0.1 that was free a moment ago (for programs that cannot bind port 0 and tell). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

/** Whether something on 127.0.0.1:port answers with an SMTP greeting, within `timeoutMs`. */
export const greets = (port: number, timeoutMs = 1000): Promise<boolean> =>
  Conversation.greeted(port, { timeoutMs }).then(
    (conversation) => {
      void conversation.quit()
      return true
    },
    () => false
  )

// ---- files ------------------------------------------------------------------

export const removeDir = (dir: string) => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })

/** Number of entries in a directory (0 if it does not exist). */
export const countEntries = async (dir: string): Promise<number> => {
  try {
    return (await fs.promises.readdir(dir)).length
  } catch {
    return 0
  }
}

/** Resident memory of a process from /proc/<pid>/status, in kB. */
export const memoryOf = (pid: number): { rssKb: number; hwmKb: number } | undefined => {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN)
    return { rssKb: field("VmRSS"), hwmKb: field("VmHWM") }
  } catch {
    return undefined
  }
}

/** The project root: the nearest directory upwards from the working directory with failmail's package.json. */
export const projectRoot = (): string => {
  let dir = process.cwd()
  for (let depth = 0; depth < 20; depth++) {
    const manifest = path.join(dir, "package.json")
    if (fs.existsSync(manifest)) {
      const name = (JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: string }).name
      if (name === "failmail") return dir
    }
    const parent = path.dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  throw new Error("run the benchmark from inside the failmail project (no package.json named failmail found upwards)")
}

/** Whether an executable is on PATH (or in /usr/sbin, where Debian puts postfix's tools). */
export const which = (name: string): string | undefined => {
  const dirs = [...(process.env["PATH"] ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"]
  for (const dir of dirs) {
    if (dir === "") continue
    const candidate = path.join(dir, name)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}
