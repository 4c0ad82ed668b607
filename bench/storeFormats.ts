/**
 * Which format the embedded message store should have, measured on this
 * machine's disk: each candidate, reduced to the disk work a durable `put`
 * of a 2 KB message does before its 250, driven by 1, 5 and 20 concurrent
 * writers (each waits for its put before the next, as an SMTP client waits
 * for its 250). Beside them, the disk's own ceiling: sequential
 * write + fdatasync (one writer) on a preallocated file.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/storeFormats.js [DIR] [SECONDS]
 *
 * Prints a markdown table: puts per second, latency p50/p99, CPU per put of
 * the whole process (`process.cpuUsage`: main thread, libuv pool and the
 * kernel work they cause) and of the main thread alone (event-loop active
 * time), and fsync-class calls per put.
 *
 * Candidates:
 * - file: one file per message as failmail stored it until now — a
 *   temporary file written with O_DSYNC, renamed into msg/, the directory
 *   synced once for every put waiting at that moment.
 * - file-tuned: the same without the temporary file (created in place with
 *   O_DSYNC; a torn file would be found by its length at recovery): one
 *   rename fewer.
 * - log: a segment file appended to with group commit — every put waiting
 *   at that moment goes into one writev and one fdatasync; while a sync is
 *   in flight, new puts queue for the next one (the first put after idle
 *   syncs at once).
 * - log-dsync: the same, the segment opened with O_DSYNC so the writev is the
 *   sync (one thread-pool round trip per commit instead of two).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import * as zlib from "node:zlib"
import { fixed, int, percentile } from "./util.ts"

const open = promisify(fs.open)
const close = promisify(fs.close)
const writev = promisify(fs.writev)
const write = promisify(fs.write)
const rename = promisify(fs.rename)
const fsync = promisify(fs.fsync)
const fdatasync = promisify(fs.fdatasync)

const MESSAGE = Buffer.alloc(2048, 0x61)
const C = fs.constants

/** A durable put of one message; resolves once it is on disk. */
type Put = (id: string, meta: Buffer, raw: Buffer) => Promise<void>

interface Candidate {
  readonly name: string
  /** Syncs issued so far (fsync, fdatasync or O_DSYNC writes). */
  readonly syncs: () => number
  readonly put: Put
  readonly close: () => Promise<void>
}

/** Runs `run` once at a time; callers arriving while it runs share the next run. */
const groupCommit = (run: () => Promise<void>) => {
  let requested = 0
  let completed = 0
  let running: Promise<void> | undefined
  const once = async () => {
    const upTo = requested
    await run()
    completed = Math.max(completed, upTo)
  }
  return async () => {
    const ticket = ++requested
    while (completed < ticket) {
      running ??= once().finally(() => (running = undefined))
      await running
    }
  }
}

const fileCandidate = async (dir: string, tuned: boolean): Promise<Candidate> => {
  const msg = path.join(dir, "msg")
  const tmp = path.join(dir, "tmp")
  fs.mkdirSync(msg, { recursive: true })
  fs.mkdirSync(tmp, { recursive: true })
  const dirFd = await open(msg, "r")
  let syncs = 0
  const syncDir = groupCommit(async () => {
    syncs++
    await fsync(dirFd)
  })
  const flags = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_DSYNC
  return {
    name: tuned ? "file-tuned" : "file",
    syncs: () => syncs,
    put: async (id, meta, raw) => {
      const final = path.join(msg, `${id}.eml`)
      const first = tuned ? final : path.join(tmp, `${id}.eml`)
      const fd = await open(first, flags, 0o600)
      await writev(fd, [meta, raw])
      syncs++
      if (tuned) {
        await Promise.all([close(fd), syncDir()])
      } else {
        await Promise.all([close(fd), rename(first, final)])
        await syncDir()
      }
    },
    close: () => close(dirFd)
  }
}

const logCandidate = async (dir: string, dsync: boolean): Promise<Candidate> => {
  fs.mkdirSync(dir, { recursive: true })
  const fd = await open(path.join(dir, "000001.seg"), C.O_WRONLY | C.O_CREAT | C.O_APPEND | (dsync ? C.O_DSYNC : 0), 0o600)
  let queued: Array<Buffer> = []
  let syncs = 0
  const commit = groupCommit(async () => {
    const chunks = queued
    queued = []
    // writev takes at most IOV_MAX (1024) buffers; a group is far smaller here.
    await writev(fd, chunks)
    if (!dsync) await fdatasync(fd)
    syncs++
  })
  return {
    name: dsync ? "log-dsync" : "log",
    syncs: () => syncs,
    put: (_id, meta, raw) => {
      const header = Buffer.allocUnsafe(12)
      header.writeUInt32LE(meta.length + raw.length, 0)
      header.writeUInt32LE(meta.length, 4)
      header.writeUInt32LE(zlib.crc32(raw, zlib.crc32(meta)), 8)
      queued.push(header, meta, raw)
      return commit()
    },
    close: () => close(fd)
  }
}

interface Result {
  readonly name: string
  readonly writers: number
  readonly rate: number
  readonly p50: number
  readonly p99: number
  readonly cpuUs: number
  readonly mainUs: number
  readonly syncsPerPut: number
}

let counter = 0

const drive = async (candidate: Candidate, writers: number, seconds: number): Promise<Result> => {
  const latencies: Array<number> = []
  const cpu = process.cpuUsage()
  const elu = performance.eventLoopUtilization()
  const syncsBefore = candidate.syncs()
  const started = performance.now()
  const end = started + seconds * 1000
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() < end) {
        const id = `${Date.now()}-${process.pid}-${++counter}`
        const begun = performance.now()
        const meta = Buffer.from(`${JSON.stringify({ id, receivedAt: Date.now(), envelope: { mailFrom: "a@b", rcptTo: ["c@d"] } })}\n`)
        await candidate.put(id, meta, MESSAGE)
        latencies.push(performance.now() - begun)
      }
    })
  )
  const elapsed = performance.now() - started
  const used = process.cpuUsage(cpu)
  const active = performance.eventLoopUtilization(elu)
  const puts = latencies.length
  return {
    name: candidate.name,
    writers,
    rate: (puts / elapsed) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpuUs: (used.user + used.system) / puts,
    mainUs: (active.active * 1000) / puts,
    syncsPerPut: (candidate.syncs() - syncsBefore) / puts
  }
}

/** Sequential write + fdatasync of one 2 KB record in a preallocated file: what one writer can get at best. */
const fdatasyncRate = async (dir: string, seconds: number): Promise<number> => {
  const file = path.join(dir, "ceiling.dat")
  fs.writeFileSync(file, Buffer.alloc(16 * 1024 * 1024))
  const fd = await open(file, "r+")
  await fsync(fd)
  let done = 0
  const end = performance.now() + seconds * 1000
  const started = performance.now()
  while (performance.now() < end) {
    await write(fd, MESSAGE, 0, MESSAGE.length, (done * MESSAGE.length) % (16 * 1024 * 1024))
    await fdatasync(fd)
    done++
  }
  const rate = (done / (performance.now() - started)) * 1000
  await close(fd)
  return rate
}

const main = async () => {
  const [base = path.join(process.cwd(), ".bench-store-formats"), secondsArg = "3"] = process.argv.slice(2)
  const seconds = Number(secondsArg)
  fs.rmSync(base, { recursive: true, force: true })
  fs.mkdirSync(base, { recursive: true })
  const log = (message: string) => process.stderr.write(`storeFormats: ${message}\n`)
  log(`${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}, ${base}`)
  const ceiling = await fdatasyncRate(base, seconds)
  log(`disk ceiling: ${int(ceiling)} write+fdatasync/s`)
  const makers: Array<(dir: string) => Promise<Candidate>> = [
    (dir) => fileCandidate(dir, false),
    (dir) => fileCandidate(dir, true),
    (dir) => logCandidate(dir, false),
    (dir) => logCandidate(dir, true)
  ]
  const results: Array<Result> = []
  for (const writers of [1, 5, 20]) {
    for (const [index, make] of makers.entries()) {
      const dir = path.join(base, `${writers}-${index}`)
      const candidate = await make(dir)
      const result = await drive(candidate, writers, seconds)
      await candidate.close()
      fs.rmSync(dir, { recursive: true, force: true })
      results.push(result)
      log(`${result.name} × ${writers}: ${int(result.rate)}/s`)
    }
  }
  fs.rmSync(base, { recursive: true, force: true })
  const lines = [
    `disk ceiling (one writer, write + fdatasync, preallocated): ${int(ceiling)}/s`,
    "",
    "| format | writers | puts/s | p50 ms | p99 ms | CPU µs/put (process) | main thread µs/put | syncs/put |",
    "|---|---|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.writers} | ${int(r.rate)} | ${fixed(r.p50, 2)} | ${fixed(r.p99, 2)} | ${int(r.cpuUs)} | ${int(r.mainUs)} | ${fixed(r.syncsPerPut, 2)} |`
    )
  ]
  process.stdout.write(`${lines.join("\n")}\n`)
}

void main()
