/**
 * Reading the message log (see `MessageLog.ts`, which writes it): the
 * segment files of a log directory, the index of the messages they hold
 * (id → segment, offset, lengths; no metadata or raw bytes once recovered),
 * replaying a directory's records in order at start (a torn or damaged
 * tail is found here and cut off by the writer), and reading a held
 * message back from its segment. {@link readLog} replays a directory
 * without writing anything, for `failmail spool` and `preview` while a
 * daemon runs on it.
 */
import * as fsCallback from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { promisify } from "node:util"
import * as LogRecord from "../../../domain/store/LogRecord.ts"
import { missing, type SpoolRecord } from "../Store.ts"

/** `node:fs`'s `open`, as a promise (the writer opens its segments with it too). */
export const open = promisify(fsCallback.open)
/** `node:fs`'s `close`, as a promise. */
export const close = promisify(fsCallback.close)
const read = promisify(fsCallback.read)
const fsync = promisify(fsCallback.fsync)
/** `node:fs`'s `ftruncate`, as a promise. */
export const ftruncate = promisify(fsCallback.ftruncate)
const fstat = promisify(fsCallback.fstat)

/** The folder of the log's segments under `--message-store`. */
export const logDirOf = (root: string): string => path.join(root, "log")

const SEGMENT_NAME = /^(\d{6,})\.seg$/
/** The file name of segment `number`. */
export const segmentName = (number: number) => `${number.toString().padStart(6, "0")}.seg`

/** One segment file of the log and what it holds. */
export interface Segment {
  readonly number: number
  readonly file: string
  /** Bytes of whole records. */
  size: number
  /** Bytes of the file (the records, then zeros: see `PREALLOCATE_BYTES` in `MessageLog.ts`); those of a new segment only. */
  allocated: number
  /** Messages held here (their latest record is here and they are not removed). */
  live: number
  liveBytes: number
}

/** Where a held message's record is (no metadata, no raw bytes: 100,000 of them stay small). */
export interface Location {
  readonly segment: Segment
  /** Where the record starts in the segment. */
  readonly offset: number
  readonly metaLength: number
  readonly rawLength: number
}

/** The bytes of a held message's whole record. */
export const recordLength = (location: Location) => LogRecord.HEADER_BYTES + location.metaLength + location.rawLength
const rawOffsetOf = (location: Location) => location.offset + LogRecord.HEADER_BYTES + location.metaLength

/** Syncs a directory, so a file created or deleted in it survives a crash. */
export const syncDirectory = async (dir: string) => {
  const fd = await open(dir, "r")
  try {
    await fsync(fd)
  } finally {
    await close(fd).catch(() => undefined)
  }
}

/** An error's message, for a report line. */
export const reason = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** A record as stored, or `undefined` if the metadata is not one. */
const asRecord = (meta: unknown): SpoolRecord | undefined => {
  const candidate = meta as Partial<SpoolRecord> | null
  return typeof candidate === "object" && candidate !== null && typeof candidate.id === "string" && typeof candidate.receivedAt === "number"
    ? (candidate as SpoolRecord)
    : undefined
}

/** Oldest first, then by id: the order `records` gives. */
export const oldestFirst = (a: SpoolRecord, b: SpoolRecord) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** The segments in `dir`, in log order. */
const listSegments = async (dir: string) =>
  (await fs.readdir(dir))
    .flatMap((name) => {
      const match = SEGMENT_NAME.exec(name)
      return match === null ? [] : [{ number: Number(match[1]), file: path.join(dir, name) }]
    })
    .sort((a, b) => a.number - b.number)

/**
 * The held messages and the segments they are in, as replaying the log
 * builds it. Their metadata is kept from the replay (and the puts since)
 * only until it is handed over once ({@link takeRecords}: the recovery at
 * start); after that it is read from the segments when asked for.
 */
export class Index {
  readonly locations = new Map<string, Location>()
  private known: Map<string, SpoolRecord> | undefined = new Map()

  /** Makes `location` where `record` is held, in place of where it was. */
  place(record: SpoolRecord, location: Location) {
    this.drop(record.id)
    this.known?.set(record.id, record)
    this.add(record.id, location)
  }

  /** Moves a held message to a copy of its record at `location`. */
  move(id: string, location: Location) {
    this.subtract(this.locations.get(id))
    this.add(id, location)
  }

  /** Forgets `id`; whether it was held. */
  drop(id: string): boolean {
    const old = this.locations.get(id)
    if (old === undefined) return false
    this.locations.delete(id)
    this.known?.delete(id)
    this.subtract(old)
    return true
  }

  /** The metadata of every held message, oldest first, if not handed over yet; from then on it is not kept. */
  takeRecords(): Array<SpoolRecord> | undefined {
    const known = this.known
    this.known = undefined
    return known === undefined ? undefined : [...known.values()].sort(oldestFirst)
  }

  private add(id: string, location: Location) {
    this.locations.set(id, location)
    location.segment.live++
    location.segment.liveBytes += recordLength(location)
  }

  private subtract(location: Location | undefined) {
    if (location === undefined) return
    location.segment.live--
    location.segment.liveBytes -= recordLength(location)
  }
}

/** A whole file in one read (`fs.readFile` reads in 512 KB steps); `undefined` if there is no such file. */
export const readWhole = async (file: string | undefined): Promise<Buffer | undefined> => {
  if (file === undefined) return undefined
  const fd = await open(file, "r").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined
    throw error
  })
  if (fd === undefined) return undefined
  try {
    const { size } = await fstat(fd)
    const bytes = Buffer.allocUnsafe(size)
    let filled = 0
    while (filled < size) {
      const { bytesRead } = await read(fd, bytes, filled, size - filled, filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return bytes.subarray(0, filled)
  } finally {
    await close(fd).catch(() => undefined)
  }
}

/** Cuts `file` to `size` bytes, durably. */
export const cutAt = async (file: string, size: number) => {
  const fd = await open(file, "r+")
  try {
    await ftruncate(fd, size)
    await fsync(fd)
  } finally {
    await close(fd).catch(() => undefined)
  }
}

/** What replaying a log directory found. */
export interface Replayed {
  readonly index: Index
  readonly segments: Array<Segment>
  /** Torn or damaged tails: each segment's file, its whole length and where its records end. */
  readonly cuts: ReadonlyArray<{ readonly segment: Segment; readonly bytes: number; readonly problem: string }>
  /** Damaged records skipped inside segments (a bad sector), one line each. */
  readonly skipped: ReadonlyArray<string>
}

/** Reads every segment of `dir` in order and replays its records. */
export const replay = async (dir: string): Promise<Replayed> => {
  const index = new Index()
  const segments: Array<Segment> = []
  const cuts: Array<{ segment: Segment; bytes: number; problem: string }> = []
  const skipped: Array<string> = []
  const listed = await listSegments(dir)
  // Each segment is read while the one before it is decoded.
  const prefetch = (position: number) => {
    const reading = readWhole(listed[position]?.file)
    reading.catch(() => undefined) // awaited in its turn; not unhandled if an earlier one failed
    return reading
  }
  let next = prefetch(0)
  for (const [position, { number, file }] of listed.entries()) {
    const bytes = await next
    next = prefetch(position + 1)
    // Gone since the listing: a running failmail deleted it, as nothing in it was held any more.
    if (bytes === undefined) continue
    const decoded = LogRecord.decode(bytes)
    const segment: Segment = { number, file, size: decoded.end, allocated: 0, live: 0, liveBytes: 0 }
    segments.push(segment)
    for (const { offset, entry } of decoded.entries) {
      if (entry.kind === "removal") {
        for (const id of entry.ids) index.drop(id)
        continue
      }
      const record = asRecord(entry.meta)
      if (record === undefined) continue
      index.place(record, { segment, offset, metaLength: entry.rawOffset - offset - LogRecord.HEADER_BYTES, rawLength: entry.rawLength })
    }
    if (decoded.problem !== undefined) cuts.push({ segment, bytes: bytes.length, problem: decoded.problem })
    skipped.push(...decoded.skipped.map((problem) => `${file}: skipped ${problem}`))
  }
  return { index, segments, cuts, skipped }
}

/** Reads `length` bytes at `position` of a held message's segment. */
const readAt = async (id: string, location: Location, position: number, length: number): Promise<Buffer> => {
  const fd = await open(location.segment.file, "r").catch((error: NodeJS.ErrnoException) => {
    // Its segment went meanwhile: only once nothing in it was held.
    throw error.code === "ENOENT" ? missing(id) : error
  })
  try {
    const bytes = Buffer.allocUnsafe(length)
    const { bytesRead } = await read(fd, bytes, 0, length, position)
    if (bytesRead !== length) throw new Error(`${location.segment.file}: ${id} is cut short`)
    return bytes
  } finally {
    await close(fd).catch(() => undefined)
  }
}

/** A held message's raw bytes. */
export const readRawAt = (id: string, location: Location) => readAt(id, location, rawOffsetOf(location), location.rawLength)

/** A held message's metadata, read from its segment. */
export const readRecordAt = async (id: string, location: Location): Promise<SpoolRecord> =>
  JSON.parse((await readAt(id, location, location.offset + LogRecord.HEADER_BYTES, location.metaLength)).toString("utf8")) as SpoolRecord


/** What a log directory holds, read without changing anything (for `failmail spool` and `preview`). */
export interface LogContents {
  /** Held messages, oldest first, each with a reader of its raw bytes. */
  readonly messages: ReadonlyArray<{ readonly record: SpoolRecord; readonly load: () => Promise<Buffer> }>
  /** Torn tails (what a daemon cuts off when it opens the log) and damaged records skipped, one line each. */
  readonly torn: ReadonlyArray<string>
}

/** Reads the log in `dir` (a `log/` folder) without writing anything: safe while a daemon runs on it. */
export const readLog = async (dir: string): Promise<LogContents> => {
  const { index, cuts, skipped } = await replay(dir)
  return {
    messages: (index.takeRecords() ?? []).map((record) => {
      const location = index.locations.get(record.id) as Location
      return { record, load: () => readRawAt(record.id, location) }
    }),
    torn: [...cuts.map(({ segment, problem }) => `${segment.file}: ${problem}`), ...skipped]
  }
}
