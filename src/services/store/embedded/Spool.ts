/**
 * The message half of the embedded {@link Store}: received, not yet
 * summarized messages under `--message-store`, in the segmented log of
 * `MessageLog.ts` (`<message-store>/log/`). A put resolves once its record
 * is on disk (group-committed with every put waiting at that moment), so
 * the SMTP 250 that follows it is a promise kept across a crash; a removal
 * is durable once it resolves.
 */
import { Effect, Either, Runtime, type Scope } from "effect"
import * as path from "node:path"
import * as LogContext from "../../../domain/LogContext.ts"
import { isSpoolId, newSpoolId } from "../../../domain/message/Message.ts"
import { AppConfig } from "../../runtime/AppConfig.ts"
import { removeQuietly, writeDurably } from "../DurableFile.ts"
import { logDirOf, openLog } from "./MessageLog.ts"
import { HEALTH_TTL, SpoolError, type SpoolRecord, type StoreShape } from "../Store.ts"

/**
 * Numbers the messages of this process. Module-wide, not per spool: a reload
 * builds a new spool on the same directory in the same process, and a
 * per-spool counter could give a new message the id of a pending one if the
 * clock stepped back.
 */
let counter = 0

const PROBE_CONTENT = Buffer.from("failmail health probe\n")

/** Whether a message could be stored right now: a small file is written durably beside the segments, and removed. */
const probeWritable = async (dir: string, name: string): Promise<void> => {
  const probe = path.join(dir, name)
  try {
    await writeDurably(`${probe}.tmp`, probe, [PROBE_CONTENT])
  } finally {
    await removeQuietly(probe)
  }
}

/** The message half of a {@link StoreShape}. */
export type MessageStore = Pick<StoreShape, "put" | "restore" | "remove" | "readRaw" | "recover" | "checkHealth">

/**
 * Opens the message log under `--message-store` (the message half of the
 * embedded store), cutting off what a crash left torn; it closes with the scope.
 */
export const makeSpool: Effect.Effect<MessageStore, SpoolError, AppConfig | Scope.Scope> = Effect.gen(function* () {
  const config = yield* AppConfig
  const dir = logDirOf(path.resolve(config.messageStore))
  /** The spool's own lines (its methods run on their callers' fibers). */
  const inSpool = LogContext.annotate({ component: "spool" })
  const runtime = yield* Effect.runtime<never>()
  const report = (message: string) => void Runtime.runFork(runtime)(Effect.logError(message).pipe(inSpool))
  const log = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: () => openLog(dir, { report }),
      catch: (cause) => new SpoolError({ operation: `open ${dir}`, cause })
    }),
    (log) => Effect.promise(() => log.close())
  )

  const write = (record: SpoolRecord, raw: Uint8Array): Effect.Effect<void, SpoolError> =>
    Effect.tryPromise({
      try: () => log.append(record, raw),
      catch: (cause) => new SpoolError({ operation: "write", cause })
    })

  const put: StoreShape["put"] = (fields, raw, receivedAt, done) => {
    const id = newSpoolId(receivedAt, String(process.pid), ++counter)
    const record: SpoolRecord = { id, receivedAt, ...fields }
    log
      .append(record, raw)
      .then(
        () => done(Either.right(record)),
        (cause: unknown) => done(Either.left(new SpoolError({ operation: "write", cause })))
      )
      // What `done` throws is a bug of its caller: logged, never an unhandled rejection that would stop failmail.
      .catch((defect: unknown) => report(`answering a put failed: ${defect instanceof Error ? (defect.stack ?? defect.message) : String(defect)}`))
  }

  const restore = (record: SpoolRecord, raw: Uint8Array): Effect.Effect<void, SpoolError> =>
    isSpoolId(record.id)
      ? write(record, raw)
      : Effect.fail(new SpoolError({ operation: "write", cause: new Error(`invalid id ${JSON.stringify(record.id)}`) }))

  const remove = (ids: ReadonlyArray<string>): Effect.Effect<void> => Effect.promise(() => log.remove(ids))

  const readRaw = (id: string): Effect.Effect<Buffer, SpoolError> =>
    Effect.tryPromise({
      try: () => log.readRaw(id),
      catch: (cause) => new SpoolError({ operation: `read ${id}`, cause })
    })

  const recover: Effect.Effect<ReadonlyArray<SpoolRecord>, SpoolError> = Effect.tryPromise({
    try: () => log.records(),
    catch: (cause) => new SpoolError({ operation: `list ${dir}`, cause })
  })

  const checkHealth = yield* Effect.cachedWithTTL(
    Effect.tryPromise(() => probeWritable(dir, `probe-${process.pid}-${++counter}`)).pipe(
      Effect.as(true),
      Effect.orElseSucceed(() => false)
    ),
    HEALTH_TTL
  )

  return { put, restore, remove, readRaw, recover, checkHealth }
})
