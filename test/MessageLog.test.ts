/**
 * What only the embedded store's log format has: torn tails cut at
 * recovery, removals that survive a reopen, segments deleted and compacted,
 * a full disk failing puts until it is freed, and a large log recovered
 * whole. (The store's contract is in Store.contract.test.ts.)
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { SpoolRecord } from "../src/services/store/Store.ts"
import { openLog, readLog, type MessageLog } from "../src/services/store/embedded/MessageLog.ts"
import { fillDisk, freeDisk } from "./support/diskFull.ts"
import { tempDir } from "./support/tempdir.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const logDir = () => {
  const dir = tempDir("failmail-log-")
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, "log")
}

/** Opens a log, collecting what it reports; closed after the test. */
const open = async (dir: string, segmentBytes?: number) => {
  const reports: Array<string> = []
  const log = await openLog(dir, { segmentBytes, report: (message) => reports.push(message) })
  cleanups.push(() => log.close())
  return { log, reports }
}

let serial = 0
const recordOf = (subject: string, raw: Buffer): SpoolRecord => ({
  id: `00000000001000-1-${(++serial).toString().padStart(8, "0")}`,
  receivedAt: 1_000 + serial,
  envelope: { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] },
  keys: { fingerprint: "f", batchKey: "", groupKey: subject },
  subject,
  sender: "app@example.com",
  size: raw.byteLength
})
const rawOf = (subject: string, bytes = 200) => Buffer.from(`Subject: ${subject}\r\n\r\n${"x".repeat(bytes)}\r\n`)

const put = async (log: MessageLog, subject: string, bytes?: number) => {
  const raw = rawOf(subject, bytes)
  const record = recordOf(subject, raw)
  await log.append(record, raw)
  return record
}

const segmentsOn = (dir: string) => fs.readdirSync(dir).filter((name) => name.endsWith(".seg")).sort()

describe("message log", () => {
  it("keeps what was put and not removed across a reopen, removals included", async () => {
    const dir = logDir()
    const first = await open(dir)
    const a = await put(first.log, "a")
    const b = await put(first.log, "b")
    const c = await put(first.log, "c")
    await first.log.remove([b.id, "not-held"])
    await first.log.close()

    const second = await open(dir)
    expect(await second.log.records()).toEqual([a, c])
    expect((await second.log.readRaw(c.id)).equals(rawOf("c"))).toBe(true)
    await expect(second.log.readRaw(b.id)).rejects.toMatchObject({ code: "ENOENT" })
    expect(second.reports).toEqual([])
  })

  it("a record of an id already held replaces it, across a reopen too", async () => {
    const dir = logDir()
    const first = await open(dir)
    const record = await put(first.log, "once")
    await first.log.append({ ...record, subject: "again" }, rawOf("again"))
    expect((await first.log.records()).map((r) => r.subject)).toEqual(["again"])
    await first.log.close()
    const second = await open(dir)
    expect((await second.log.records()).map((r) => r.subject)).toEqual(["again"])
    expect((await second.log.readRaw(record.id)).equals(rawOf("again"))).toBe(true)
  })

  it("a crash anywhere in a write loses no record written whole before it, and never takes a part for a message", async () => {
    const dir = logDir()
    const first = await open(dir)
    const kept = [await put(first.log, "one"), await put(first.log, "two")]
    // A group commit of three records, cut by a crash at every point of it.
    const group = ["three", "four", "five"].map((subject) => {
      const raw = rawOf(subject)
      return { record: recordOf(subject, raw), raw }
    })
    await Promise.all(group.map(({ record, raw }) => first.log.append(record, raw)))
    await first.log.close()
    const segment = path.join(dir, segmentsOn(dir)[0]!)
    const whole = fs.readFileSync(segment)
    const endOf = (subject: string, from = 0) => whole.indexOf(Buffer.from(`Subject: ${subject}`), from) + rawOf(subject).byteLength
    const recordEnds = [endOf("two")]
    for (const { record } of group) recordEnds.push(endOf(record.subject, recordEnds.at(-1)))
    // The segment was filled with zeros ahead of its records: a crash leaves it cut short, or its tail zeros.
    expect(whole.length).toBeGreaterThan(recordEnds.at(-1)!)
    expect(whole.subarray(recordEnds.at(-1)).every((byte) => byte === 0)).toBe(true)
    for (let cut = recordEnds[0]!; cut <= recordEnds.at(-1)!; cut += 97) {
      const zeroed = Buffer.concat([whole.subarray(0, cut), Buffer.alloc(whole.length - cut)])
      for (const [left, bytes] of [
        ["cut short", whole.subarray(0, cut)],
        ["zeros after the cut", zeroed]
      ] as const) {
        fs.writeFileSync(segment, bytes)
        const { log, reports } = await open(dir)
        const expected = [...kept, ...group.filter((_, index) => recordEnds[index + 1]! <= cut).map(({ record }) => record)]
        expect(await log.records(), left).toEqual(expected)
        for (const record of expected) expect((await log.readRaw(record.id)).toString()).toContain(record.subject)
        // A torn tail is cut off, once: the next open finds nothing to cut. Zeros after whole records are no tear.
        const torn = !recordEnds.includes(cut)
        expect(reports.length, left).toBe(torn ? 1 : 0)
        await log.close()
        expect(fs.statSync(segment).size, left).toBe(torn ? Math.max(...recordEnds.filter((end) => end <= cut)) : bytes.length)
      }
    }
  })

  it("a record damaged inside a segment (a bad sector) costs that record only: the ones after it are kept", async () => {
    const dir = logDir()
    const { log } = await open(dir)
    const [a, b, c] = [await put(log, "a"), await put(log, "b"), await put(log, "c")]
    await log.close()
    const segment = path.join(dir, segmentsOn(dir)[0]!)
    const bytes = fs.readFileSync(segment)
    const inB = bytes.indexOf(Buffer.from("Subject: b")) + 20
    bytes[inB] = bytes[inB]! ^ 0xff
    fs.writeFileSync(segment, bytes)
    const { log: reopened, reports } = await open(dir)
    expect(await reopened.records()).toEqual([a, c])
    await expect(reopened.readRaw(b!.id)).rejects.toMatchObject({ code: "ENOENT" })
    expect(reports).toEqual([expect.stringMatching(/skipped a record whose checksum does not match at byte \d+: what it held is lost/)])
    expect(fs.statSync(segment).size).toBe(bytes.length)
  })

  it("`failmail spool` reads a torn log as it is, cutting nothing", async () => {
    const dir = logDir()
    const { log } = await open(dir)
    const kept = await put(log, "kept")
    await log.close()
    const segment = path.join(dir, segmentsOn(dir)[0]!)
    fs.appendFileSync(segment, Buffer.from("FML1 half a record"))
    const size = fs.statSync(segment).size
    const contents = await readLog(dir)
    expect(contents.messages.map((message) => message.record)).toEqual([kept])
    expect((await contents.messages[0]!.load()).equals(rawOf("kept"))).toBe(true)
    expect(contents.torn).toHaveLength(1)
    expect(fs.statSync(segment).size).toBe(size)
  })

  it("deletes a segment once none of its messages is held", async () => {
    const dir = logDir()
    const { log } = await open(dir, 4096)
    const records = []
    for (let index = 0; index < 40; index++) records.push(await put(log, `m${index}`))
    expect(segmentsOn(dir).length).toBeGreaterThan(3)
    await log.remove(records.slice(0, 30).map((record) => record.id))
    await log.append(recordOf("later", rawOf("later")), rawOf("later"))
    // Deleting runs behind the removals; closing waits for it.
    await log.close()
    expect(segmentsOn(dir).length).toBeLessThanOrEqual(2)
    const { log: reopened } = await open(dir, 4096)
    expect((await reopened.records()).map((record) => record.subject)).toEqual([...records.slice(30).map((r) => r.subject), "later"])
  })

  it("compacts an old segment that a few long-held messages keep alive, so dead ones behind it go", async () => {
    const dir = logDir()
    const { log } = await open(dir, 4096)
    const straggler = await put(log, "held for hours")
    for (let round = 0; round < 6; round++) {
      const passing = []
      for (let index = 0; index < 15; index++) passing.push(await put(log, `passing ${round}.${index}`))
      await log.remove(passing.map((record) => record.id))
    }
    expect(await log.records()).toEqual([straggler])
    // Compacting and deleting run behind the removals; closing waits for them.
    await log.close()
    expect(segmentsOn(dir).length).toBeLessThanOrEqual(2)
    const { log: reopened } = await open(dir, 4096)
    expect(await reopened.records()).toEqual([straggler])
    expect((await reopened.readRaw(straggler.id)).equals(rawOf("held for hours"))).toBe(true)
  })

  it("fails puts while the disk is full, leaves no part of them behind, and takes puts again once it is freed", async () => {
    const dir = logDir()
    const { log, reports } = await open(dir)
    const before = await put(log, "before")
    fillDisk()
    try {
      await expect(put(log, "while full", 50_000)).rejects.toMatchObject({ code: "EFBIG" })
      await expect(put(log, "still full")).rejects.toMatchObject({ code: "EFBIG" })
      // A removal that cannot be written yet is kept, not dropped.
      const removal = log.remove([before.id])
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(reports.join("\n")).toMatch(/cannot write 1 removal records yet/)
      freeDisk()
      const after = await put(log, "after")
      await removal
      expect(await log.records()).toEqual([after])
    } finally {
      freeDisk()
    }
    await log.close()
    const { log: reopened } = await open(dir)
    expect((await reopened.records()).map((record) => record.subject)).toEqual(["after"])
    expect(fs.readdirSync(dir).filter((name) => !name.endsWith(".seg"))).toEqual([])
  })

  it("two opens of one directory in one process share the log", async () => {
    const dir = logDir()
    const { log: one } = await open(dir)
    const { log: two } = await open(dir)
    const record = await put(one, "shared")
    expect(await two.records()).toEqual([record])
    await one.close()
    await two.remove([record.id])
    expect(await two.records()).toEqual([])
  })

  it("recovers 100,000 records whole", async () => {
    const dir = logDir()
    const { log } = await open(dir)
    const ids: Array<string> = []
    for (let round = 0; round < 100; round++) {
      const records = await Promise.all(Array.from({ length: 1000 }, (_, index) => put(log, `r${round}.${index}`, 20)))
      ids.push(...records.map((record) => record.id))
    }
    await log.remove(ids.filter((_, index) => index % 10 === 0))
    await log.close()
    const { log: reopened, reports } = await open(dir)
    const records = await reopened.records()
    expect(records.length).toBe(90_000)
    expect(new Set(records.map((record) => record.id))).toEqual(new Set(ids.filter((_, index) => index % 10 !== 0)))
    expect((await reopened.readRaw(ids[99_999]!)).equals(rawOf("r99.999", 20))).toBe(true)
    expect(reports).toEqual([])
  })
})
