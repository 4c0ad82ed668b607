/**
 * The durable store of received, not yet summarized messages
 * (`--message-store`). A message is on disk — written to a temporary file,
 * synced, renamed, and its directory synced — before `put` returns, so the
 * SMTP 250 that follows it is a promise kept across a crash. Concurrent puts
 * share one directory sync (group commit).
 *
 * One file per message: a first line of JSON metadata, then the raw message.
 */
import { Clock, Data, Effect } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { Envelope, Keys } from "../domain/Message.ts"
import { AppConfig } from "./AppConfig.ts"

/** The metadata stored with each spooled message. */
export interface SpoolRecord {
  readonly id: string
  readonly receivedAt: number
  readonly envelope: Envelope
  readonly keys: Keys
  readonly subject: string
  readonly sender: string
  readonly size: number
}

/** The spool could not be written or read. */
export class SpoolError extends Data.TaggedError("SpoolError")<{ readonly operation: string; readonly cause: unknown }> {
  override get message(): string {
    return `spool ${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

const HEADER_LIMIT = 64 * 1024

/**
 * Numbers the messages of this process. Module-wide, not per spool: a reload
 * builds a new spool on the same directory in the same process, and a
 * per-spool counter could give a new message the id (and so the file) of a
 * pending one if the clock stepped back.
 */
let counter = 0

/** Serializes writers that need the spool directory synced, so one sync serves many. */
const makeGroupSync = (dir: string) => {
  let requested = 0
  let completed = 0
  let running: Promise<void> | undefined
  const syncOnce = async () => {
    const upTo = requested
    const handle = await fs.open(dir, "r")
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
    completed = Math.max(completed, upTo)
  }
  return async (): Promise<void> => {
    const ticket = ++requested
    while (completed < ticket) {
      if (running === undefined) {
        running = syncOnce().finally(() => {
          running = undefined
        })
      }
      await running
    }
  }
}

const readHeader = async (file: string): Promise<{ record: SpoolRecord; headerLength: number }> => {
  const handle = await fs.open(file, "r")
  try {
    const buffer = Buffer.alloc(HEADER_LIMIT)
    const { bytesRead } = await handle.read(buffer, 0, HEADER_LIMIT, 0)
    const newline = buffer.subarray(0, bytesRead).indexOf(10)
    if (newline === -1) throw new Error(`${file}: no metadata line`)
    return { record: JSON.parse(buffer.subarray(0, newline).toString("utf8")) as SpoolRecord, headerLength: newline + 1 }
  } finally {
    await handle.close()
  }
}

/** The message spool. */
export class Spool extends Effect.Service<Spool>()("failmail/Spool", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const root = path.resolve(config.messageStore)
    const messagesDir = path.join(root, "msg")
    const tmpDir = path.join(root, "tmp")
    yield* Effect.tryPromise({
      try: async () => {
        await fs.mkdir(messagesDir, { recursive: true, mode: 0o700 })
        await fs.mkdir(tmpDir, { recursive: true, mode: 0o700 })
        for (const stale of await fs.readdir(tmpDir)) await fs.rm(path.join(tmpDir, stale), { force: true })
      },
      catch: (cause) => new SpoolError({ operation: `open ${root}`, cause })
    })
    const syncDir = makeGroupSync(messagesDir)
    let lastWriteFailed = false
    const fileOf = (id: string) => path.join(messagesDir, `${id}.eml`)

    const put = (
      fields: Omit<SpoolRecord, "id" | "receivedAt">,
      raw: Uint8Array
    ): Effect.Effect<SpoolRecord, SpoolError> =>
      Effect.gen(function* () {
        const receivedAt = yield* Clock.currentTimeMillis
        const id = `${receivedAt.toString().padStart(14, "0")}-${process.pid}-${(++counter).toString().padStart(8, "0")}`
        const record: SpoolRecord = { id, receivedAt, ...fields }
        yield* Effect.tryPromise({
          try: async () => {
            const tmpPath = path.join(tmpDir, `${id}.eml`)
            const handle = await fs.open(tmpPath, "wx", 0o600)
            try {
              await handle.writev([Buffer.from(JSON.stringify(record) + "\n", "utf8"), raw])
              await handle.datasync()
            } finally {
              await handle.close()
            }
            await fs.rename(tmpPath, fileOf(id))
            await syncDir()
          },
          catch: (cause) => new SpoolError({ operation: "write", cause })
        }).pipe(
          Effect.tapBoth({
            onFailure: () => Effect.sync(() => (lastWriteFailed = true)),
            onSuccess: () => Effect.sync(() => (lastWriteFailed = false))
          })
        )
        return record
      })

    const remove = (ids: ReadonlyArray<string>): Effect.Effect<void> =>
      Effect.forEach(
        ids,
        (id) =>
          Effect.tryPromise(() => fs.rm(fileOf(id), { force: true })).pipe(
            Effect.catchAll((error) => Effect.logError(`spool: cannot remove ${id}: ${error.message}`))
          ),
        { concurrency: 8, discard: true }
      )

    const readRaw = (id: string): Effect.Effect<Buffer, SpoolError> =>
      Effect.tryPromise({
        try: async () => {
          const { headerLength } = await readHeader(fileOf(id))
          const content = await fs.readFile(fileOf(id))
          return content.subarray(headerLength)
        },
        catch: (cause) => new SpoolError({ operation: `read ${id}`, cause })
      })

    const recover: Effect.Effect<ReadonlyArray<SpoolRecord>, SpoolError> = Effect.gen(function* () {
      const names = yield* Effect.tryPromise({
        try: () => fs.readdir(messagesDir),
        catch: (cause) => new SpoolError({ operation: `list ${messagesDir}`, cause })
      })
      const records = yield* Effect.forEach(
        names.filter((name) => name.endsWith(".eml")),
        (name) =>
          Effect.tryPromise(() => readHeader(path.join(messagesDir, name))).pipe(
            Effect.map(({ record }) => [record]),
            Effect.catchAll((error) =>
              Effect.logError(`spool: skipping unreadable ${name}: ${error.message}`).pipe(Effect.as([]))
            )
          ),
        { concurrency: 16 }
      )
      return records.flat().sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : 1))
    })

    const checkHealth = Effect.tryPromise(() => fs.access(messagesDir, fs.constants.W_OK)).pipe(
      Effect.map(() => !lastWriteFailed),
      Effect.orElseSucceed(() => false)
    )

    return {
      /** Stores a message durably; resolves only once it is on disk. */
      put,
      /** Deletes messages whose summaries were relayed or filed. */
      remove,
      /** The raw bytes of a stored message. */
      readRaw,
      /** Every message on disk, oldest first (for recovery after a restart). */
      recover,
      /** Whether the spool directory is writable and the last write worked. */
      checkHealth,
      /** The spool directory. */
      root
    } as const
  })
}) {}
