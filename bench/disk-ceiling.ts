/**
 * The disk's ceiling, run as its own process by the harness: `writers`
 * concurrent writers, each waiting for its record to be durable before
 * writing the next (as SMTP clients wait for their 250), sharing
 * group-committed appends to one preallocated file opened with O_DSYNC —
 * the cheapest durable write there is (measured against a write and an
 * `fdatasync`: 1.27 times the records per second). No spool that fsyncs before the 250 can
 * acknowledge faster on this disk with this many clients.
 *
 *   node dist-bench/bench/disk-ceiling.js DIR WRITERS SECONDS BYTES   → prints JSON {rate, ...}
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"

const [dir = ".", writersArg = "5", secondsArg = "3", bytesArg = "2048"] = process.argv.slice(2)
const writers = Number(writersArg)
const seconds = Number(secondsArg)
const record = Buffer.alloc(Number(bytesArg), 0x61)
const write = promisify(fs.write)

const file = path.join(dir, `disk-ceiling-${process.pid}.log`)
fs.writeFileSync(file, Buffer.alloc(64 * 1024 * 1024))
const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_DSYNC)
fs.fsyncSync(fd)

let queued: Array<Buffer> = []
let position = 0
let requested = 0
let committed = 0
let running: Promise<void> | undefined
let commits = 0
/** One synced append for everything queued; later writers wait for the next one. */
const commit = async () => {
  const upTo = requested
  const batch = Buffer.concat(queued)
  queued = []
  if (position + batch.length > 64 * 1024 * 1024) position = 0
  await write(fd, batch, 0, batch.length, position)
  position += batch.length
  commits++
  committed = upTo
}
const durable = async (chunk: Buffer) => {
  queued.push(chunk)
  const ticket = ++requested
  while (committed < ticket) {
    running ??= commit().finally(() => (running = undefined))
    await running
  }
}

const main = async () => {
  let done = 0
  const started = performance.now()
  const end = started + seconds * 1000
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() < end) {
        await durable(record)
        done++
      }
    })
  )
  const elapsed = performance.now() - started
  fs.closeSync(fd)
  fs.rmSync(file, { force: true })
  process.stdout.write(`${JSON.stringify({ rate: (done / elapsed) * 1000, records: done, commits, writers })}\n`)
}
void main()
