/**
 * The store in PostgreSQL (`--store postgres://…`): the same contract as the
 * embedded store, over `@effect/sql-pg`, so that several failmails can share
 * one database.
 *
 * - `put` resolves once the message is committed. Puts share commits: one
 *   writer inserts at a time, and the puts that arrive while an INSERT is in
 *   flight are written together by the next one (one multi-row INSERT, one
 *   commit, one WAL flush for all of them).
 * - While the database cannot be reached, `put` fails (the SMTP client gets
 *   a 451 and retries); the pool opens new connections as soon as it can be
 *   reached again, so acceptance resumes by itself.
 * - Ids hold the arrival time, a random id of this process (so replicas
 *   never collide, whatever their pids) and a counter.
 * - The schema is migrated at start ({@link Schema.migrate}).
 *
 * Durability is PostgreSQL's: a COMMIT returns once its WAL is flushed with
 * the server's default `synchronous_commit = on` (and on a standby too when
 * synchronous replication is set up).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Cause, Chunk, Duration, Effect, Either, Exit, Layer, Option, Queue, Redacted, Runtime, Schedule } from "effect"
import * as crypto from "node:crypto"
import { StartError } from "../../../domain/settings/Errors.ts"
import * as LogContext from "../../../domain/LogContext.ts"
import { isSpoolId, newSpoolId } from "../../../domain/message/Message.ts"
import * as Schema from "./Schema.ts"
import { makeWriter } from "../embedded/StateStore.ts"
import { HEALTH_TTL, missing, SpoolError, type SpoolRecord, StateError, Store, type StoreShape } from "../Store.ts"

/** Rows one INSERT takes at most, and the bytes of raw messages it carries at most (one message may exceed it alone). */
const MAX_ROWS = 256
const MAX_BATCH_BYTES = 16 * 1024 * 1024

/**
 * A removal the database refuses is tried again a few times (about 3 s in
 * all), so that it is durable when `remove` resolves across a short outage;
 * after that, it is tried again every {@link RETRY_DELETE} in the background.
 */
const REMOVE_RETRIES = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(5)))
const RETRY_DELETE = Duration.seconds(1)

/**
 * How long an INSERT may take before its puts fail (their clients get a 451
 * and retry) instead of waiting on a database that does not answer.
 */
const WRITE_TIMEOUT = Duration.seconds(10)

/** How long a health probe may take before the store counts as unhealthy. */
const HEALTH_TIMEOUT = Duration.seconds(2)

/** A random id of this process, in every message id it gives: replicas never collide, whatever their pids. */
const replicaId = crypto.randomBytes(4).toString("hex")

/** Numbers this process's messages (module-wide, for the reason the embedded spool's counter is). */
let counter = 0

/**
 * Rows that must go, and never come back at `recover`: messages already
 * summarized whose deletion failed (the database unreachable for longer
 * than the retries of `remove`), and messages whose INSERT failed but may
 * have been committed all the same (the connection dropped before the
 * answer): their clients got a 451 and send them again. Deleted every
 * second until they are gone, and once more when the store closes.
 */
const unwanted = new Set<string>()
/** This process's puts whose INSERT has not answered yet: committed or not, they are not to be taken yet. */
const inFlight = new Set<string>()

/**
 * Whether a row may be taken in by the sender following arrivals: not one
 * this process is still putting (its COMMIT may be visible before the put
 * is known to have failed) nor one that must go.
 */
export const mayBeTaken = (id: string): boolean => !inFlight.has(id) && !unwanted.has(id)

/** Where a store URL points, without its user and password: for the log. */
export const describeUrl = (url: Redacted.Redacted<string>): string => {
  const parsed = new URL(Redacted.value(url))
  return `${parsed.host === "" ? "localhost" : parsed.host}${parsed.pathname}`
}

/** The error PostgreSQL's driver gave, rather than `@effect/sql`'s generic wrapper, for the log. */
const reasonOf = (error: SqlError): unknown => error.cause ?? error

/** A message waiting for the next INSERT. */
interface Pending {
  readonly record: SpoolRecord
  readonly raw: Buffer
  /** Called once with the INSERT's outcome (plain code: `put` is on the SMTP hot path). */
  readonly done: (outcome: Either.Either<void, SpoolError>) => void
}

/** Splits pending rows into INSERTs of at most {@link MAX_BATCH_BYTES} of raw messages; the same id twice: the later wins. */
const batchesOf = (pending: ReadonlyArray<Pending>): ReadonlyArray<ReadonlyArray<Pending>> => {
  const byId = new Map(pending.map((item) => [item.record.id, item]))
  const batches: Array<Array<Pending>> = []
  let current: Array<Pending> = []
  let bytes = 0
  for (const item of byId.values()) {
    if (current.length > 0 && bytes + item.raw.byteLength > MAX_BATCH_BYTES) {
      batches.push(current)
      current = []
      bytes = 0
    }
    current.push(item)
    bytes += item.raw.byteLength
  }
  if (current.length > 0) batches.push(current)
  return batches
}

const COLUMNS = 8

/** One INSERT of `rows` messages; a message of an id already stored is replaced. */
const insertText = (rows: number): string => {
  const values = Array.from({ length: rows }, (_, row) => {
    const p = (column: number) => `$${row * COLUMNS + column}`
    return `(${p(1)}, ${p(2)}::timestamptz, ${p(3)}::jsonb, ${p(4)}::jsonb, ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)})`
  })
  return `INSERT INTO failmail_messages (id, received_at, envelope, keys, subject, sender, size, raw)
    VALUES ${values.join(", ")}
    ON CONFLICT (id) DO UPDATE SET received_at = EXCLUDED.received_at, envelope = EXCLUDED.envelope,
      keys = EXCLUDED.keys, subject = EXCLUDED.subject, sender = EXCLUDED.sender, size = EXCLUDED.size, raw = EXCLUDED.raw`
}

const paramsOf = ({ raw, record }: Pending): ReadonlyArray<unknown> => [
  record.id,
  new Date(record.receivedAt).toISOString(),
  JSON.stringify(record.envelope),
  JSON.stringify(record.keys),
  record.subject,
  record.sender,
  record.size,
  raw
]


/** Raw bytes as a Buffer over the same memory (no copy). */
const asBuffer = (raw: Uint8Array): Buffer =>
  Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)

/** The store's own log lines. */
const inStore = LogContext.annotate({ component: "spool" })

const closed = () => new SpoolError({ operation: "write", cause: new Error("store closed") })

/** An INSERT's exit as its puts hear it. */
const outcomeOf = (exit: Exit.Exit<unknown, SpoolError>): Either.Either<void, SpoolError> =>
  Exit.isSuccess(exit)
    ? Either.right(undefined)
    : Either.left(Option.getOrElse(Cause.failureOption(exit.cause), () => new SpoolError({ operation: "write", cause: Cause.squash(exit.cause) })))

/** Tells each put of `batch` how its INSERT went; what a caller's `done` throws is its bug, logged, never the writer's end. */
const answer = (batch: ReadonlyArray<Pending>, outcome: Either.Either<void, SpoolError>) =>
  Effect.forEach(
    batch,
    (item) =>
      Effect.try(() => item.done(outcome)).pipe(
        Effect.catchAll((defect) => Effect.logError(`answering a put failed: ${String(defect.error)}`).pipe(inStore))
      ),
    { discard: true }
  )

/** The store over the connected database (see the module's comment). */
const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  /** The layer's runtime, for the one effect run from a promise (a document's upsert): its lines keep their annotations. */
  const runtime = yield* Effect.runtime<never>()

  const applied = yield* Schema.migrate
  if (applied.length > 0) yield* Effect.logInfo(`schema migrated to version ${Schema.currentVersion}`).pipe(inStore)

  const queue = yield* Queue.unbounded<Pending>()

  const write = (batch: ReadonlyArray<Pending>) =>
    sql.unsafe(insertText(batch.length), batch.flatMap(paramsOf)).pipe(
      Effect.mapError((error) => new SpoolError({ operation: "write", cause: reasonOf(error) })),
      Effect.timeoutFail({
        duration: WRITE_TIMEOUT,
        onTimeout: () => new SpoolError({ operation: "write", cause: new Error(`no answer from the database within ${Duration.format(WRITE_TIMEOUT)}`) })
      }),
      Effect.exit,
      Effect.flatMap((exit) => answer(batch, outcomeOf(exit))),
      Effect.onInterrupt(() => answer(batch, Either.left(closed())))
    )

  // Whatever is still queued when the store closes was never written: its callers hear so.
  yield* Effect.addFinalizer(() =>
    Queue.takeAll(queue).pipe(
      Effect.flatMap((left) =>
        answer(Chunk.toReadonlyArray(left), Either.left(closed()))
      )
    )
  )
  // The one writer: takes everything that queued up while the previous INSERT ran.
  yield* Queue.takeBetween(queue, 1, MAX_ROWS).pipe(
    Effect.flatMap((taken) => Effect.forEach(batchesOf(Chunk.toReadonlyArray(taken)), write, { discard: true })),
    Effect.forever,
    Effect.forkScoped
  )

  const deleteRows = (ids: ReadonlyArray<string>) =>
    sql.unsafe(`DELETE FROM failmail_messages WHERE id = ANY($1::text[])`, [ids]).pipe(
      Effect.tap(() => Effect.sync(() => ids.forEach((id) => unwanted.delete(id))))
    )
  const deleteUnwanted = Effect.suspend(() => (unwanted.size === 0 ? Effect.void : Effect.ignore(deleteRows([...unwanted]))))
  yield* Effect.addFinalizer(() => deleteUnwanted.pipe(Effect.timeout(HEALTH_TIMEOUT), Effect.ignore))
  yield* deleteUnwanted.pipe(Effect.repeat(Schedule.spaced(RETRY_DELETE)), Effect.forkScoped)

  /** Queues a message for the next INSERT; `done` hears once it is committed, or why not. */
  const enqueue = (record: SpoolRecord, raw: Uint8Array, done: Pending["done"]) =>
    void Queue.unsafeOffer(queue, { record, raw: asBuffer(raw), done })

  /** {@link enqueue} as an effect. */
  const store = (record: SpoolRecord, raw: Uint8Array): Effect.Effect<void, SpoolError> =>
    Effect.async((resume) => enqueue(record, raw, (outcome) => resume(outcome)))

  const put: StoreShape["put"] = (fields, raw, receivedAt, done) => {
    const id = newSpoolId(receivedAt, replicaId, ++counter)
    const record: SpoolRecord = { id, receivedAt, ...fields }
    inFlight.add(id)
    enqueue(record, raw, (outcome) => {
      inFlight.delete(id)
      if (Either.isLeft(outcome)) unwanted.add(id)
      done(Either.map(outcome, () => record))
    })
  }

  const restore = (record: SpoolRecord, raw: Uint8Array): Effect.Effect<void, SpoolError> =>
    isSpoolId(record.id)
      ? store(record, raw)
      : Effect.fail(new SpoolError({ operation: "write", cause: new Error(`invalid id ${JSON.stringify(record.id)}`) }))

  const remove = (ids: ReadonlyArray<string>): Effect.Effect<void> =>
    ids.length === 0
      ? Effect.void
      : deleteRows(ids).pipe(
          Effect.retry(REMOVE_RETRIES),
          Effect.asVoid,
          Effect.catchAll((error) => {
            ids.forEach((id) => unwanted.add(id))
            return Effect.logError(
              `cannot remove ${ids.length} summarized messages yet (retrying; a restart before it succeeds summarizes them again): ${String(reasonOf(error))}`
            )
          }),
          inStore
        )

  const readRaw = (id: string): Effect.Effect<Buffer, SpoolError> =>
    sql.unsafe<{ readonly raw: Buffer }>(`SELECT raw FROM failmail_messages WHERE id = $1`, [id]).pipe(
      Effect.mapError((error) => new SpoolError({ operation: `read ${id}`, cause: reasonOf(error) })),
      Effect.flatMap((rows) =>
        rows[0] === undefined
          ? Effect.fail(new SpoolError({ operation: `read ${id}`, cause: missing(id) }))
          : Effect.succeed(rows[0].raw)
      )
    )

  const recover: Effect.Effect<ReadonlyArray<SpoolRecord>, SpoolError> = sql
    .unsafe<Schema.MessageRow>(
      `SELECT ${Schema.RECORD_COLUMNS}
        FROM failmail_messages ORDER BY received_at, id COLLATE "C"`
    )
    .pipe(
      Effect.map((rows) =>
        rows.filter((row) => !unwanted.has(row.id)).map(Schema.recordOf)
      ),
      Effect.mapError((error) => new SpoolError({ operation: "recover", cause: reasonOf(error) }))
    )

  // Healthy: the database answers and would take a message (not a hot standby, nor read-only, nor refusing our user).
  const checkHealth = yield* Effect.cachedWithTTL(
    sql.unsafe<{ readonly writable: boolean }>(
      `SELECT current_setting('transaction_read_only') = 'off' AND has_table_privilege('failmail_messages', 'INSERT') AS writable`
    ).pipe(
      Effect.timeout(HEALTH_TIMEOUT),
      Effect.map((rows) => rows[0]?.writable === true),
      Effect.orElseSucceed(() => false)
    ),
    HEALTH_TTL
  )

  const load = (name: string): Effect.Effect<unknown, StateError> =>
    sql.unsafe<{ readonly value: unknown }>(`SELECT value FROM failmail_documents WHERE name = $1`, [name]).pipe(
      Effect.map((rows) => rows[0]?.value),
      Effect.mapError((error) => new StateError({ operation: `read ${name}`, cause: reasonOf(error) }))
    )

  const upsert = (name: string, text: string) =>
    sql.unsafe(
      `INSERT INTO failmail_documents (name, value) VALUES ($1, $2::jsonb)
        ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, version = failmail_documents.version + 1, updated_at = now()`,
      [name, text]
    )

  // Saves of one document are coalesced as the embedded store's are: one upsert at a time, the latest value next.
  const writers = new Map<string, (value: () => unknown) => Promise<void>>()
  const writerOf = (name: string) => {
    let writer = writers.get(name)
    if (writer === undefined) {
      writer = makeWriter(async (text) => {
        const written = await Runtime.runPromise(runtime)(Effect.either(upsert(name, text)))
        if (Either.isLeft(written)) throw reasonOf(written.left)
      })
      writers.set(name, writer)
    }
    return writer
  }
  const save = (name: string, value: () => unknown): Effect.Effect<void, StateError> =>
    Effect.tryPromise({
      try: () => writerOf(name)(value),
      catch: (cause) => new StateError({ operation: `write ${name}`, cause })
    })

  return Store.of({ put, restore, remove, readRaw, recover, checkHealth, load, save })
})

/** The database connection of `url`: a pool that reconnects by itself. */
const client = (url: Redacted.Redacted<string>) =>
  PgClient.layer({
    url,
    applicationName: "failmail",
    connectTimeout: Duration.seconds(5),
    idleTimeout: Duration.minutes(1),
    maxConnections: 10
  })

/**
 * The store in the database at `url`. Not reaching the database, or not
 * being able to migrate it, is an error at start (exit status 1, one line).
 */
export const layerOf = (url: Redacted.Redacted<string>): Layer.Layer<Store, StartError> =>
  Layer.scoped(Store, Effect.tap(make, () => Effect.logInfo(`messages and state in PostgreSQL at ${describeUrl(url)}`).pipe(inStore))).pipe(
    Layer.provide(client(url)),
    Layer.mapError((error) => {
      const reason = error._tag === "SqlError" ? reasonOf(error) : error
      return new StartError({ message: `store ${describeUrl(url)}: ${reason instanceof Error ? reason.message : String(reason)}` })
    })
  )
