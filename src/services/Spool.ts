/**
 * The message half of the embedded {@link Store}: received, not yet summarized messages
 * (`--message-store`). A message is on disk — written to a temporary file
 * opened with O_DSYNC (so the write returns once the data is on disk),
 * renamed, and its directory synced — before `put` returns, so the SMTP 250
 * that follows it is a promise kept across a crash. Concurrent puts share
 * one directory sync (group commit) on a directory handle kept open.
 *
 * One file per message: a first line of JSON metadata, then the raw message.
 *
 * The hot paths use Node's callback `fs` API, one libuv request per step and
 * as few sequential steps as possible: every step is a round trip through
 * the thread pool, and an SMTP client waits for all of them before its 250.
 */
import { Clock, Effect, type Scope } from "effect"
import * as fsCallback from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { promisify } from "node:util"
import * as LogContext from "../domain/LogContext.ts"
import { isSpoolId } from "../domain/Message.ts"
import { AppConfig } from "./AppConfig.ts"
import { HEALTH_TTL, SpoolError, type SpoolRecord, type StoreShape } from "./Store.ts"

const HEADER_LIMIT = 64 * 1024

/**
 * Numbers the messages of this process. Module-wide, not per spool: a reload
 * builds a new spool on the same directory in the same process, and a
 * per-spool counter could give a new message the id (and so the file) of a
 * pending one if the clock stepped back.
 */
let counter = 0

const open = promisify(fsCallback.open)
const writev = promisify(fsCallback.writev)
const close = promisify(fsCallback.close)
const rename = promisify(fsCallback.rename)
const unlink = promisify(fsCallback.unlink)
const fsync = promisify(fsCallback.fsync)
const fstat = promisify(fsCallback.fstat)
const stat = promisify(fsCallback.stat)
const read = promisify(fsCallback.read)
const access = promisify(fsCallback.access)

/** A new file, written with O_DSYNC: each write returns once its data is on disk (as write + fdatasync). */
const CREATE_DURABLE =
  fsCallback.constants.O_WRONLY | fsCallback.constants.O_CREAT | fsCallback.constants.O_EXCL | fsCallback.constants.O_DSYNC

/**
 * Serializes writers that need the spool directory synced, so one sync
 * serves many. The directory stays open between syncs; each sync also checks
 * (at the same time, not one after the other) that the path is still that
 * directory, and if it was replaced, syncs the new one — so a rename into a
 * directory put back in place is never left unsynced.
 */
const makeGroupSync = (dir: string, initial: { fd: number; dev: number; ino: number }) => {
  let requested = 0
  let completed = 0
  let running: Promise<void> | undefined
  let current = initial
  const reopen = async () => {
    const fd = await open(dir, "r")
    try {
      const info = await fstat(fd)
      await fsync(fd)
      const previous = current
      current = { fd, dev: info.dev, ino: info.ino }
      await close(previous.fd).catch(() => undefined)
    } catch (error) {
      await close(fd).catch(() => undefined)
      throw error
    }
  }
  const syncOnce = async () => {
    const upTo = requested
    const [info] = await Promise.all([stat(dir), fsync(current.fd)])
    if (info.ino !== current.ino || info.dev !== current.dev) await reopen()
    completed = Math.max(completed, upTo)
  }
  return {
    sync: async (): Promise<void> => {
      const ticket = ++requested
      while (completed < ticket) {
        if (running === undefined) {
          running = syncOnce().finally(() => {
            running = undefined
          })
        }
        await running
      }
    },
    close: () => close(current.fd).catch(() => undefined)
  }
}

/** Opens a directory for syncing. */
const openDirectory = async (dir: string) => {
  const fd = await open(dir, "r")
  try {
    const info = await fstat(fd)
    return { fd, dev: info.dev, ino: info.ino }
  } catch (error) {
    await close(fd).catch(() => undefined)
    throw error
  }
}

/**
 * Writes a new file durably (O_DSYNC) under `tmpPath` and renames it to
 * `finalPath`; the close and the rename go together, as the data is on disk
 * once the write returned.
 */
export const writeDurably = async (tmpPath: string, finalPath: string, chunks: Array<Uint8Array>) => {
  const fd = await open(tmpPath, CREATE_DURABLE, 0o600)
  try {
    const expected = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0)
    const { bytesWritten } = await writev(fd, chunks)
    // A full disk can end a write short without an error: never acknowledge a truncated message.
    if (bytesWritten !== expected) throw new Error(`short write (${bytesWritten} of ${expected} bytes)`)
  } catch (error) {
    await close(fd).catch(() => undefined)
    await removeQuietly(tmpPath)
    throw error
  }
  const [closed, renamed] = await Promise.allSettled([close(fd), rename(tmpPath, finalPath)])
  if (renamed.status === "rejected") {
    await removeQuietly(tmpPath)
    throw renamed.reason
  }
  if (closed.status === "rejected") {
    await removeQuietly(finalPath)
    throw closed.reason
  }
}

/** Removes a file that a failed write left behind; one already gone (or never made) is fine. */
const removeQuietly = (file: string): Promise<void> => unlink(file).catch(() => undefined)

/**
 * Whether a message could be stored right now: a small file is written
 * durably in `tmpDir` (so a full disk or a read-only file system shows) and
 * removed, and `messagesDir` is still a writable directory.
 */
const probeWritable = async (tmpDir: string, messagesDir: string, name: string): Promise<void> => {
  const probe = path.join(tmpDir, name)
  const write = async () => {
    const fd = await open(probe, CREATE_DURABLE, 0o600)
    try {
      await writev(fd, [PROBE_CONTENT])
    } finally {
      await close(fd).catch(() => undefined)
      await removeQuietly(probe)
    }
  }
  const target = async () => {
    if (!(await stat(messagesDir)).isDirectory()) throw new Error(`${messagesDir} is not a directory`)
    await access(messagesDir, fsCallback.constants.W_OK)
  }
  await Promise.all([write(), target()])
}

const PROBE_CONTENT = Buffer.from("failmail health probe\n")

/** Bytes read first for the metadata line; most are far shorter. Longer ones are read up to HEADER_LIMIT. */
const HEADER_FIRST_READ = 4096

const parseHeader = (buffer: Buffer): { record: SpoolRecord; headerLength: number } | undefined => {
  const newline = buffer.indexOf(10)
  if (newline === -1) return undefined
  return { record: JSON.parse(buffer.subarray(0, newline).toString("utf8")) as SpoolRecord, headerLength: newline + 1 }
}

const readHeader = async (file: string): Promise<{ record: SpoolRecord; headerLength: number }> => {
  const fd = await open(file, "r")
  try {
    const first = Buffer.allocUnsafe(HEADER_FIRST_READ)
    const { bytesRead } = await read(fd, first, 0, HEADER_FIRST_READ, 0)
    const parsed = parseHeader(first.subarray(0, bytesRead))
    if (parsed !== undefined) return parsed
    if (bytesRead === HEADER_FIRST_READ) {
      const whole = Buffer.allocUnsafe(HEADER_LIMIT)
      const more = await read(fd, whole, 0, HEADER_LIMIT, 0)
      const longer = parseHeader(whole.subarray(0, more.bytesRead))
      if (longer !== undefined) return longer
    }
    throw new Error(`${file}: no metadata line`)
  } finally {
    await close(fd)
  }
}

/** The folder of a spool's message files (`<message-store>/msg`). */
export const messagesDirOf = (root: string): string => path.join(root, "msg")

/**
 * Reads one spool file: its metadata and the raw message. Read-only, so
 * tools can inspect the spool of a running (or stopped) failmail.
 */
export const readSpoolFile = async (file: string): Promise<{ readonly record: SpoolRecord; readonly raw: Buffer }> => {
  const content = await fs.readFile(file)
  const newline = content.indexOf(10)
  if (newline === -1 || newline >= HEADER_LIMIT) throw new Error(`${file}: no metadata line`)
  const record = JSON.parse(content.subarray(0, newline).toString("utf8")) as SpoolRecord
  return { record, raw: content.subarray(newline + 1) }
}

/** Runs `task` on every item, at most `concurrency` at a time; resolves when all are done. */
const eachLimited = async <A>(items: ReadonlyArray<A>, concurrency: number, task: (item: A) => Promise<void>) => {
  let next = 0
  const worker = async () => {
    while (next < items.length) await task(items[next++] as A)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}

/** The message half of a {@link StoreShape}. */
export type MessageStore = Pick<StoreShape, "put" | "restore" | "remove" | "readRaw" | "recover" | "checkHealth">

/**
 * Opens the one-file-per-message spool under `--message-store` (the message
 * half of the embedded store); its directory handle closes with the scope.
 */
export const makeSpool: Effect.Effect<MessageStore, SpoolError, AppConfig | Scope.Scope> = Effect.gen(function* () {
  const config = yield* AppConfig
  const root = path.resolve(config.messageStore)
  const messagesDir = messagesDirOf(root)
  const tmpDir = path.join(root, "tmp")
  yield* Effect.tryPromise({
    try: async () => {
      await fs.mkdir(messagesDir, { recursive: true, mode: 0o700 })
      await fs.mkdir(tmpDir, { recursive: true, mode: 0o700 })
      for (const stale of await fs.readdir(tmpDir)) await fs.rm(path.join(tmpDir, stale), { force: true })
    },
    catch: (cause) => new SpoolError({ operation: `open ${root}`, cause })
  })
  const directory = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => makeGroupSync(messagesDir, await openDirectory(messagesDir)),
      catch: (cause) => new SpoolError({ operation: `open ${messagesDir}`, cause })
    }),
    (directory) => Effect.promise(() => directory.close())
  )
  const fileOf = (id: string) => path.join(messagesDir, `${id}.eml`)

  /** Writes a record and its message durably; a file of the same id is replaced. */
  const write = (record: SpoolRecord, raw: Uint8Array): Effect.Effect<void, SpoolError> =>
    Effect.tryPromise({
      try: async () => {
        await writeDurably(path.join(tmpDir, `${record.id}.eml`), fileOf(record.id), [
          Buffer.from(JSON.stringify(record) + "\n", "utf8"),
          raw
        ])
        await directory.sync().catch(async (error: unknown) => {
          // Not acknowledged, so not kept: the client retries and must not find a copy summarized later.
          await removeQuietly(fileOf(record.id))
          throw error
        })
      },
      catch: (cause) => new SpoolError({ operation: "write", cause })
    })

  const put = (
    fields: Omit<SpoolRecord, "id" | "receivedAt">,
    raw: Uint8Array
  ): Effect.Effect<SpoolRecord, SpoolError> =>
    Effect.gen(function* () {
      const receivedAt = yield* Clock.currentTimeMillis
      const id = `${receivedAt.toString().padStart(14, "0")}-${process.pid}-${(++counter).toString().padStart(8, "0")}`
      const record: SpoolRecord = { id, receivedAt, ...fields }
      yield* write(record, raw)
      return record
    })

  const restore = (record: SpoolRecord, raw: Uint8Array): Effect.Effect<void, SpoolError> =>
    isSpoolId(record.id)
      ? write(record, raw)
      : Effect.fail(new SpoolError({ operation: "write", cause: new Error(`invalid id ${JSON.stringify(record.id)}`) }))

  /** The spool's own lines (its methods run on their callers' fibers). */
  const inSpool = LogContext.annotate({ component: "spool" })

  const remove = (ids: ReadonlyArray<string>): Effect.Effect<void> =>
    Effect.promise(async () => {
      const failures: Array<{ id: string; error: Error }> = []
      await eachLimited(ids, 16, (id) =>
        unlink(fileOf(id)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== "ENOENT") failures.push({ id, error })
        })
      )
      return failures
    }).pipe(
      Effect.flatMap((failures) =>
        Effect.forEach(failures, ({ id, error }) => Effect.logError(`cannot remove ${id}: ${error.message}`), {
          discard: true
        })
      ),
      inSpool
    )

  const readRaw = (id: string): Effect.Effect<Buffer, SpoolError> =>
    Effect.tryPromise({
      try: async () => (await readSpoolFile(fileOf(id))).raw,
      catch: (cause) => new SpoolError({ operation: `read ${id}`, cause })
    })

  const recover: Effect.Effect<ReadonlyArray<SpoolRecord>, SpoolError> = Effect.gen(function* () {
    const names = yield* Effect.tryPromise({
      try: () => fs.readdir(messagesDir),
      catch: (cause) => new SpoolError({ operation: `list ${messagesDir}`, cause })
    })
    const { records, unreadable } = yield* Effect.promise(async () => {
      const records: Array<SpoolRecord> = []
      const unreadable: Array<{ name: string; error: Error }> = []
      await eachLimited(
        names.filter((name) => name.endsWith(".eml")),
        16,
        (name) =>
          readHeader(path.join(messagesDir, name)).then(
            ({ record }) => void records.push(record),
            (error: Error) => void unreadable.push({ name, error })
          )
      )
      return { records, unreadable }
    })
    yield* Effect.forEach(unreadable, ({ name, error }) => Effect.logError(`skipping unreadable ${name}: ${error.message}`), {
      discard: true
    })
    return records.sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : 1))
  }).pipe(inSpool)

  const checkHealth = yield* Effect.cachedWithTTL(
    Effect.tryPromise(() => probeWritable(tmpDir, messagesDir, `probe-${process.pid}-${++counter}`)).pipe(
      Effect.as(true),
      Effect.orElseSucceed(() => false)
    ),
    HEALTH_TTL
  )

  return { put, restore, remove, readRaw, recover, checkHealth }
})
