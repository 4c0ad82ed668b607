/**
 * A private PostgreSQL server for tests, from the Debian packages
 * (`scripts/install-test-deps`): `initdb` in a temporary directory, then
 * `pg_ctl start` on 127.0.0.1 on a free port, its unix socket in the same
 * directory. PostgreSQL refuses to run as root, so under root its programs
 * run as the `postgres` user (who then owns the directory).
 *
 * fsync stays on: the tests check durability. Start it once per test file
 * (`initdb` is the slow part) and give each test its own database
 * ({@link Postgres.createDatabase}, cheap). The superuser `postgres` is
 * trusted on 127.0.0.1; failmail connects as `failmail` with a password
 * (checked, scram-sha-256), so its URL carries a secret as an operator's
 * does. `stop({ mode: "immediate" })` and `start()` make outages.
 *
 * Only one such server runs on the machine at a time: a test file that
 * starts one while another test file's runs waits for it (give `beforeAll`
 * a generous timeout).
 */
import { execFile, execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { tempDir } from "./tempdir.ts"

const run = promisify(execFile)

/** How a server is stopped: `immediate` is a crash (no checkpoint, recovery at the next start). */
export type StopMode = "smart" | "fast" | "immediate"

/** A running private PostgreSQL. */
export interface Postgres {
  readonly port: number
  /** The password of the `failmail` user (to check that it never shows). */
  readonly password: string
  /** `postgres://failmail:<password>@127.0.0.1:<port>/<database>`. */
  readonly url: (database: string) => string
  /** A new, empty database owned by `failmail`; resolves to its URL. */
  readonly createDatabase: () => Promise<string>
  /** Runs SQL as the superuser in `database`; resolves to the rows, one string per row, columns `|`-separated. */
  readonly query: (database: string, sql: string) => Promise<ReadonlyArray<string>>
  /** Stops the server (default `fast`); its data stays. */
  readonly stop: (options?: { readonly mode?: StopMode }) => Promise<void>
  /** Starts it again on the same port, after {@link Postgres.stop}. */
  readonly start: () => Promise<void>
  /** Freezes the server and its processes (SIGSTOP): connections stay open but nothing answers, as across a network cut. */
  readonly freeze: () => void
  /** Lets a frozen server go on (SIGCONT). */
  readonly thaw: () => void
  /** Stops it (immediately) and removes its directory. */
  readonly close: () => Promise<void>
}

/** The directory of PostgreSQL's programs: the newest `/usr/lib/postgresql/N/bin`, else the PATH's. */
const binDir = (): string => {
  const root = "/usr/lib/postgresql"
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((name) => fs.existsSync(path.join(root, name, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : []
  if (versions[0] !== undefined) return path.join(root, versions[0], "bin")
  const onPath = (process.env["PATH"] ?? "").split(":").find((dir) => fs.existsSync(path.join(dir, "initdb")))
  if (onPath === undefined) throw new Error("no PostgreSQL found (initdb); run scripts/install-test-deps")
  return onPath
}

const asRoot = process.getuid?.() === 0

/** Runs one of PostgreSQL's server programs, as `postgres` under root. */
const runServerProgram = (bin: string, program: string, args: ReadonlyArray<string>) =>
  asRoot
    ? run("runuser", ["-u", "postgres", "--", path.join(bin, program), ...args])
    : run(path.join(bin, program), [...args])

/** A port that was free a moment ago on 127.0.0.1 (bound with port 0, then released). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const SERVER_SETTINGS = [
  "listen_addresses = '127.0.0.1'",
  "fsync = on",
  "synchronous_commit = on",
  "max_connections = 60",
  "shared_buffers = 16MB",
  "log_min_messages = warning",
  "log_connections = off"
]

const HBA = [
  "local all all trust",
  "host all postgres 127.0.0.1/32 trust",
  "host all all 127.0.0.1/32 scram-sha-256"
]

/**
 * One test server at a time on this machine (they are heavy for a shared
 * one): a lock directory holding the pid of the process whose server runs.
 * A lock whose process is gone is taken over.
 */
const LOCK = path.join(os.tmpdir(), "failmail-postgres.lock")

/** How long {@link startPostgres} waits for another test file's server to go. */
const LOCK_WAIT_MS = 10 * 60_000

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The pid in the lock, or 0 while there is none (being taken or released). */
const holderOfLock = (): number => {
  try {
    return Number(fs.readFileSync(path.join(LOCK, "pid"), "utf8"))
  } catch {
    return 0
  }
}

const acquireLock = async (): Promise<void> => {
  const deadline = Date.now() + LOCK_WAIT_MS
  while (true) {
    try {
      fs.mkdirSync(LOCK)
      fs.writeFileSync(path.join(LOCK, "pid"), String(process.pid))
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
    const holder = holderOfLock()
    if (holder > 0 && !alive(holder)) fs.rmSync(LOCK, { recursive: true, force: true })
    else if (Date.now() > deadline) throw new Error(`another test's PostgreSQL still runs (${LOCK}, pid ${holder})`)
    else await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

const releaseLock = (): void => fs.rmSync(LOCK, { recursive: true, force: true })

/** Servers of this process still running, stopped when the process exits (a test run that is cut short). */
const running = new Set<() => void>()
process.once("exit", () => {
  for (const stop of running) stop()
  if (running.size > 0) releaseLock()
})

/** Starts a private PostgreSQL (see the module's comment). */
export const startPostgres = async (): Promise<Postgres> => {
  const bin = binDir()
  await acquireLock()
  const dir = tempDir("failmail-pg-")
  const data = path.join(dir, "data")
  const log = path.join(dir, "log")
  if (asRoot) execFileSync("chown", ["postgres:", dir])
  const password = crypto.randomBytes(12).toString("base64url")
  let port = 0

  const pgCtl = (args: ReadonlyArray<string>) => runServerProgram(bin, "pg_ctl", ["-D", data, ...args])
  const startOn = (candidate: number) =>
    pgCtl(["-l", log, "-w", "-t", "60", "-o", `-p ${candidate} -k ${dir}`, "start"])
  const stopNow = () => {
    try {
      execFileSync(asRoot ? "runuser" : path.join(bin, "pg_ctl"), [
        ...(asRoot ? ["-u", "postgres", "--", path.join(bin, "pg_ctl")] : []),
        "-D",
        data,
        "-m",
        "immediate",
        "stop"
      ], { stdio: "ignore" })
    } catch {
      // not running
    }
  }
  const query = async (database: string, sql: string): Promise<ReadonlyArray<string>> => {
    const { stdout } = await run(path.join(bin, "psql"), [
      "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
      "-h", dir, "-p", String(port), "-U", "postgres", "-d", database, "-c", sql
    ])
    return stdout.split("\n").filter((line) => line !== "")
  }

  try {
    await runServerProgram(bin, "initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "--no-instructions", "-E", "UTF8"])
    fs.appendFileSync(path.join(data, "postgresql.conf"), SERVER_SETTINGS.join("\n") + "\n")
    fs.writeFileSync(path.join(data, "pg_hba.conf"), HBA.join("\n") + "\n")
    // Another process may take the free port before the server binds it: try another.
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      try {
        await startOn(port)
        break
      } catch (error) {
        if (attempt >= 5) throw error
      }
    }
    running.add(stopNow)
    await query("postgres", `CREATE ROLE failmail LOGIN PASSWORD '${password}'`)
  } catch (error) {
    stopNow()
    running.delete(stopNow)
    releaseLock()
    const serverLog = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : ""
    fs.rmSync(dir, { recursive: true, force: true })
    throw new Error(`PostgreSQL did not start: ${String(error)}\n${serverLog}`)
  }

  /** The postmaster and every process under it. */
  const serverProcesses = (): ReadonlyArray<number> => {
    const postmaster = Number(fs.readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0])
    const parents = new Map<number, number>()
    for (const entry of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
      try {
        // The parent pid is the second field after the command name, which is in parentheses.
        const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
        parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]))
      } catch {
        // gone meanwhile
      }
    }
    const tree = [postmaster]
    for (const [pid, parent] of parents) if (parent === postmaster) tree.push(pid)
    return tree
  }
  const signal = (name: "SIGSTOP" | "SIGCONT") => {
    for (const pid of serverProcesses()) process.kill(pid, name)
  }

  let databases = 0
  const url = (database: string) => `postgres://failmail:${password}@127.0.0.1:${port}/${database}`
  return {
    port,
    password,
    url,
    createDatabase: async () => {
      const name = `test${++databases}`
      await query("postgres", `CREATE DATABASE ${name} OWNER failmail`)
      return url(name)
    },
    query,
    stop: async (options = {}) => {
      await pgCtl(["-m", options.mode ?? "fast", "-w", "stop"])
    },
    start: async () => {
      await startOn(port)
    },
    freeze: () => signal("SIGSTOP"),
    thaw: () => signal("SIGCONT"),
    close: async () => {
      stopNow()
      running.delete(stopNow)
      fs.rmSync(dir, { recursive: true, force: true })
      releaseLock()
    }
  }
}
