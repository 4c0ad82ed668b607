/**
 * The message half of the embedded store: an append-only log of segment
 * files (`<message-store>/log/000001.seg`, …), chosen over one file per
 * message by measurement (`bench/storeFormats.ts`; docs/performance.md,
 * "Storage format: why a log").
 *
 * - A put appends a record (see `domain/store/LogRecord.ts`: length-prefixed,
 *   checksummed) and resolves once it is on disk. Puts share their syncs
 *   (group commit): every record waiting when a commit starts goes into one
 *   `writev` at the segment's end, on a file opened with O_DSYNC (the write
 *   returns once it is on stable storage); records that arrive while it runs
 *   wait for the next. The first record after idle is committed at once (no
 *   timer), and every step runs on libuv's thread pool: the event loop never
 *   waits on a sync. Segments are filled with zeros ahead of their records
 *   (see {@link PREALLOCATE_BYTES}). O_DSYNC rather than a `writev` and an
 *   `fdatasync`: on zero-filled segments it gave 1.27 times the commits per
 *   second in every run (5 writers, 12,100-12,900 against 9,500-9,900
 *   records/s), one trip to the thread pool instead of two. A new segment's
 *   directory is synced before anything in it is acknowledged.
 * - A removal is a record too, committed the same way, so a removed message
 *   never comes back after a crash (it would be summarized twice). A
 *   removal that cannot be written is kept and retried (every second, and
 *   with the next commit) until it is durable.
 * - A commit that fails (ENOSPC, EROFS, EIO) fails its puts; what it may
 *   have written is cut off (best effort; recovery cuts whatever is not a
 *   whole record) and the next commit starts a new segment, so puts succeed
 *   again once the disk does.
 * - Segments are deleted oldest first once none of their messages is held
 *   (a removal record must never outlive, on disk, the segments before it
 *   while they still hold its message; oldest first keeps that true). When
 *   the dead bytes of closed segments exceed both a segment and the live
 *   bytes kept by them, the live messages of the oldest are copied to the
 *   end of the log (same id, same metadata; the later record wins at
 *   recovery) so it can go: a few long-held messages never keep a long
 *   tail of dead segments on disk.
 * - The index (id → segment, offset, length, metadata) holds no raw bytes;
 *   `readRaw` reads them from the segment.
 *
 * One log per directory per process: opening a directory already open (a
 * reload builds the new graph's store while the old one closes) shares it.
 * This module writes the log; reading it (the index, the replay at start,
 * a held message read back, `readLog`) is `LogSegments.ts`.
 */
import * as fsCallback from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { promisify } from "node:util"
import * as LogRecord from "../../../domain/store/LogRecord.ts"
import { makeDirectories } from "../DurableFile.ts"
import { missing, type SpoolRecord } from "../Store.ts"
import {
  close,
  cutAt,
  ftruncate,
  type Location,
  oldestFirst,
  open,
  readRawAt,
  readRecordAt,
  readWhole,
  reason,
  recordLength,
  replay,
  type Segment,
  segmentName,
  syncDirectory
} from "./LogSegments.ts"

export { type LogContents, logDirOf, readLog } from "./LogSegments.ts"

const writev = promisify(fsCallback.writev)
const fdatasync = promisify(fsCallback.fdatasync)
const unlink = promisify(fsCallback.unlink)

/** Segments roll over past this size (a record is never split). */
export const SEGMENT_BYTES = 16 * 1024 * 1024
/** Ids per removal record, so one record stays small however large the batch. */
const IDS_PER_REMOVAL = 4096
/** How long a removal that could not be written waits before it is tried again. */
const RETRY_MS = 1000
/** Buffers one `writev` takes (IOV_MAX); a larger group is joined first. */
const IOV_MAX = 1024
/**
 * How far ahead of its records a segment is filled with zeros. Overwriting
 * blocks already allocated makes a synced write flush data only, not the
 * file's size: measured, 1.6 times the commits per second of an append that
 * grows the file. Only the commit that crosses into new zeros pays for the
 * size change.
 */
const PREALLOCATE_BYTES = 1024 * 1024
let zeros: Buffer | undefined
const write = promisify(fsCallback.write)

/** Fills `fd` with zeros from `from` to `to` (best effort: a full disk still takes the records that fit). */
const preallocate = async (fd: number, from: number, to: number): Promise<boolean> => {
  zeros ??= Buffer.alloc(PREALLOCATE_BYTES)
  try {
    for (let at = from; at < to; at += PREALLOCATE_BYTES) await write(fd, zeros, 0, Math.min(PREALLOCATE_BYTES, to - at), at)
    return true
  } catch {
    return false
  }
}

/** A record waiting for a commit. */
interface Pending {
  readonly chunks: ReadonlyArray<Uint8Array>
  readonly length: number
  /** Called once the record is durable at `offset` of `segment`, in log order. */
  readonly apply: (segment: Segment, offset: number) => void
  /** Whether a failed commit keeps it for the next one (removals) instead of failing it (puts). */
  readonly retry: boolean
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

/** Options of an open log. */
export interface LogOptions {
  /** Segment size at which a new one starts (tests make it small). */
  readonly segmentBytes?: number | undefined
  /** Reports what went wrong without failing a caller (a cut tail, a removal not yet durable, a segment not deleted). */
  readonly report: (message: string) => void
}

/** An open message log. */
export interface MessageLog {
  /** Stores `record` and its raw bytes; resolves once durable. A record of the same id replaces the one held. */
  readonly append: (record: SpoolRecord, raw: Uint8Array) => Promise<void>
  /** Removes `ids` (those not held are ignored); resolves once the removal is durable. */
  readonly remove: (ids: ReadonlyArray<string>) => Promise<void>
  /** A held message's raw bytes; an error with code `ENOENT` when it is not held. */
  readonly readRaw: (id: string) => Promise<Buffer>
  /** Every held message, oldest first (the first time from memory, later read from the segments). */
  readonly records: () => Promise<ReadonlyArray<SpoolRecord>>
  /** Lets go of the log (the last user closes it, after its pending commits). */
  readonly close: () => Promise<void>
}

/** An open log with everything it needs between commits. */
const start = async (dir: string, options: LogOptions): Promise<{ log: Omit<MessageLog, "close">; shutdown: () => Promise<void> }> => {
  const segmentBytes = options.segmentBytes ?? SEGMENT_BYTES
  await makeDirectories(dir)
  const { index, segments, cuts, skipped } = await replay(dir)
  for (const line of skipped) options.report(`${line}: what it held is lost, the records after it are kept`)
  for (const { segment, bytes, problem } of cuts) {
    options.report(`${segment.file}: cutting ${bytes - segment.size} bytes after the last whole record (${problem}); nothing acknowledged is in them`)
    // Nothing is appended to a segment from before the start, so a cut that fails (a read-only disk) only leaves the bytes to be cut next time.
    await cutAt(segment.file, segment.size).catch((error: unknown) => options.report(`cannot cut ${segment.file} yet: ${reason(error)}`))
  }
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith("probe-")) await fs.rm(path.join(dir, name), { force: true }).catch(() => undefined)
  }
  let nextNumber = (segments.at(-1)?.number ?? 0) + 1
  let active: { segment: Segment; fd: number } | undefined
  let queue: Array<Pending> = []
  let held: Array<Pending> = []
  let committing = false
  let retryTimer: NodeJS.Timeout | undefined
  let idle: Promise<void> = Promise.resolve()
  let markIdle = () => {}

  /** The segment to append to: the active one, or a new one (after a failure, or past the segment size). */
  const writable = async () => {
    if (active !== undefined && active.segment.size < segmentBytes) return active
    if (active !== undefined) {
      await close(active.fd).catch(() => undefined)
      active = undefined
    }
    const number = nextNumber++
    const segment: Segment = { number, file: path.join(dir, segmentName(number)), size: 0, allocated: 0, live: 0, liveBytes: 0 }
    const { O_WRONLY, O_CREAT, O_EXCL, O_DSYNC } = fsCallback.constants
    const fd = await open(segment.file, O_WRONLY | O_CREAT | O_EXCL | O_DSYNC, 0o600)
    try {
      await syncDirectory(dir)
    } catch (error) {
      await close(fd).catch(() => undefined)
      await unlink(segment.file).catch(() => undefined)
      throw error
    }
    segments.push(segment)
    active = { segment, fd }
    return active
  }

  /** After a failed commit: cuts what it may have written, and lets the next commit start a new segment. */
  const abandonActive = async () => {
    if (active === undefined) return
    const { segment, fd } = active
    active = undefined
    await ftruncate(fd, segment.size)
      .then(() => fdatasync(fd))
      .catch(() => undefined)
    await close(fd).catch(() => undefined)
    if (segment.size === 0 && segment.live === 0) {
      segments.splice(segments.indexOf(segment), 1)
      await unlink(segment.file).catch(() => undefined)
    }
  }

  const commitOnce = async (batch: ReadonlyArray<Pending>) => {
    try {
      const target = await writable()
      const start = target.segment.size
      const chunks = batch.flatMap((pending) => pending.chunks)
      const total = LogRecord.lengthOf(chunks)
      const end = start + total
      if (end > target.segment.allocated) {
        const upTo = end + PREALLOCATE_BYTES
        // From the end of the zeros so far: the records then overwrite zeros too, never a hole.
        if (await preallocate(target.fd, target.segment.allocated, upTo)) target.segment.allocated = upTo
      }
      const { bytesWritten } = await writev(target.fd, chunks.length > IOV_MAX ? [Buffer.concat(chunks)] : chunks, start)
      // A full disk can end a write short without an error: never acknowledge a cut record.
      if (bytesWritten !== total) throw new Error(`short write (${bytesWritten} of ${total} bytes)`)
      target.segment.size = start + total
      let offset = start
      for (const pending of batch) {
        pending.apply(target.segment, offset)
        offset += pending.length
        pending.resolve()
      }
    } catch (error) {
      await abandonActive()
      const kept = batch.filter((pending) => pending.retry)
      if (kept.length > 0) {
        options.report(`cannot write ${kept.length} removal records yet (retried every second): ${reason(error)}`)
        held.push(...kept)
        retryTimer ??= setTimeout(() => {
          retryTimer = undefined
          kick()
        }, RETRY_MS).unref()
      }
      for (const pending of batch) if (!pending.retry) pending.reject(error)
    }
  }

  const commitAll = async () => {
    while (queue.length > 0) {
      const batch = queue
      queue = []
      await commitOnce(batch)
    }
    committing = false
    markIdle()
    void collect()
  }

  /** Starts a commit if none is running (at once, in this turn's microtasks: puts of the same turn share it). */
  const kick = () => {
    if (held.length > 0) {
      // Removals kept from a failed commit go first: log order is what recovery replays.
      queue = [...held, ...queue]
      held = []
    }
    if (committing || queue.length === 0) return
    committing = true
    idle = new Promise((resolve) => (markIdle = resolve))
    queueMicrotask(() => void commitAll())
  }

  const enqueue = (chunks: Array<Uint8Array>, apply: Pending["apply"], retry: boolean) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ chunks, length: LogRecord.lengthOf(chunks), apply, retry, resolve, reject })
      kick()
    })

  const append = (record: SpoolRecord, raw: Uint8Array) => {
    const chunks = LogRecord.encodeMessage(record, raw)
    const metaLength = (chunks[1] as Uint8Array).byteLength
    const rawLength = raw.byteLength
    return enqueue(chunks, (segment, offset) => index.place(record, { segment, offset, metaLength, rawLength }), false)
  }

  const remove = async (ids: ReadonlyArray<string>) => {
    // Forgotten at once (a copy made by compaction meanwhile must not bring one back); durable once committed.
    const dropped = ids.filter((id) => index.drop(id))
    const writes: Array<Promise<void>> = []
    for (let at = 0; at < dropped.length; at += IDS_PER_REMOVAL) {
      writes.push(enqueue(LogRecord.encodeRemoval(dropped.slice(at, at + IDS_PER_REMOVAL)), () => {}, true))
    }
    if (dropped.length > 0) void collect()
    await Promise.all(writes)
  }

  let collection: Promise<void> | undefined
  let collectAgain = false
  /** Deletes segments nothing is held in, oldest first; compacts when dead segments pile up behind a live one. */
  const collect = (): Promise<void> => {
    if (collection !== undefined) {
      collectAgain = true
      return collection
    }
    collection = (async () => {
      do {
        collectAgain = false
        await collectOnce()
      } while (collectAgain)
    })().finally(() => (collection = undefined))
    return collection
  }

  const collectOnce = async () => {
    while (true) {
      const oldest = segments[0]
      if (oldest === undefined || oldest === active?.segment) return
      if (oldest.live === 0) {
        try {
          await unlink(oldest.file).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== "ENOENT") throw error
          })
          // Before the next one goes: a later segment's removals must not vanish while this one's messages could come back.
          await syncDirectory(dir)
        } catch (error) {
          options.report(`cannot delete ${oldest.file} yet (tried again after the next removal): ${reason(error)}`)
          return
        }
        segments.splice(segments.indexOf(oldest), 1)
        continue
      }
      const closed = segments.filter((segment) => segment !== active?.segment)
      const dead = closed.reduce((sum, segment) => sum + segment.size - segment.liveBytes, 0)
      const live = closed.reduce((sum, segment) => sum + segment.liveBytes, 0)
      if (dead <= segmentBytes || dead <= live) return
      if (!(await compact(oldest))) return
    }
  }

  /** Copies the messages still held in `segment` to the end of the log; whether all of them now are elsewhere. */
  const compact = async (segment: Segment): Promise<boolean> => {
    let bytes: Buffer | undefined
    try {
      bytes = await readWhole(segment.file)
      if (bytes === undefined) return false
    } catch (error) {
      options.report(`cannot compact ${segment.file}: ${reason(error)}`)
      return false
    }
    const copies: Array<Promise<void>> = []
    for (const [id, location] of index.locations) {
      if (location.segment !== segment) continue
      // The record as it is, bytes for bytes: the later copy is the one recovery keeps.
      const record = bytes.subarray(location.offset, location.offset + recordLength(location))
      copies.push(
        enqueue(
          [record],
          (target, offset) => {
            // Removed or replaced meanwhile: that later record stands.
            if (index.locations.get(id) === location) index.move(id, { ...location, segment: target, offset })
          },
          false
        )
      )
    }
    const results = await Promise.allSettled(copies)
    const failed = results.find((result) => result.status === "rejected")
    if (failed !== undefined) {
      options.report(`cannot compact ${segment.file}: ${reason((failed as PromiseRejectedResult).reason)}`)
      return false
    }
    return segment.live === 0
  }

  /** The metadata of every held message, read from the segments (each read once), oldest first. */
  const readRecords = async (): Promise<Array<SpoolRecord>> => {
    const bySegment = new Map<Segment, Array<[string, Location]>>()
    for (const entry of index.locations) {
      const list = bySegment.get(entry[1].segment)
      if (list === undefined) bySegment.set(entry[1].segment, [entry])
      else list.push(entry)
    }
    const records: Array<SpoolRecord> = []
    const moved: Array<string> = []
    for (const [segment, entries] of bySegment) {
      const bytes = await readWhole(segment.file)
      for (const [id, location] of entries) {
        if (bytes === undefined) {
          // Compacted meanwhile: read where it is now.
          moved.push(id)
          continue
        }
        const start = location.offset + LogRecord.HEADER_BYTES
        records.push(JSON.parse(bytes.toString("utf8", start, start + location.metaLength)) as SpoolRecord)
      }
    }
    for (const id of moved) {
      const location = index.locations.get(id)
      if (location !== undefined) records.push(await readRecordAt(id, location))
    }
    return records.sort(oldestFirst)
  }

  void collect()

  return {
    log: {
      append,
      remove,
      readRaw: async (id) => {
        // A message compaction moved meanwhile is read again where it is now.
        for (let attempt = 0; ; attempt++) {
          const location = index.locations.get(id)
          if (location === undefined) throw missing(id)
          try {
            return await readRawAt(id, location)
          } catch (error) {
            if (attempt >= 2 || index.locations.get(id) === location) throw error
          }
        }
      },
      records: async () => index.takeRecords() ?? (await readRecords()),
    },
    shutdown: async () => {
      // Removals still failing get one last try; puts in flight finish.
      kick()
      await idle
      if (retryTimer !== undefined) clearTimeout(retryTimer)
      await collection
      if (active !== undefined) await close(active.fd).catch(() => undefined)
      active = undefined
    }
  }
}

/** Logs open in this process, by directory, with how many users each has. */
const opened = new Map<string, { users: number; ready: Promise<Awaited<ReturnType<typeof start>>> }>()
/** Logs closing, by directory: a new open waits for the close. */
const closing = new Map<string, Promise<void>>()

/**
 * Opens the log in `dir` (creating it; cutting torn tails), or shares the
 * one this process has open there.
 */
export const openLog = async (dir: string, options: LogOptions): Promise<MessageLog> => {
  const key = path.resolve(dir)
  await closing.get(key)
  let entry = opened.get(key)
  if (entry === undefined) {
    entry = { users: 0, ready: start(key, options) }
    opened.set(key, entry)
    entry.ready.catch(() => opened.delete(key))
  }
  entry.users++
  const shared = entry
  const { log, shutdown } = await shared.ready.catch((error: unknown) => {
    shared.users--
    throw error
  })
  let closed = false
  return {
    ...log,
    close: async () => {
      if (closed) return
      closed = true
      if (--shared.users > 0) return
      opened.delete(key)
      const done = shutdown().finally(() => closing.delete(key))
      closing.set(key, done)
      await done
    }
  }
}
