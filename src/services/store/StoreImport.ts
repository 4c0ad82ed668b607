/**
 * Upgrades lose nothing: on start, before any batch is recovered, failmail
 * takes in what an older store left in `--message-store`.
 *
 * - The spool of earlier failmail releases (one file per message,
 *   `msg/<id>.eml`): each message is stored as it was (same id, metadata and
 *   arrival time), durably, and only then is its file removed; once the
 *   folder is empty it goes, with the release's own leftovers in `tmp/`
 *   (temporary files of writes never acknowledged).
 * - The Go failmail's store (a maildir: `cur/<name>`, its envelope as JSON
 *   in `.meta/<name>`, whose modification time is the arrival time): each
 *   message is keyed by the Classifier as new mail is, stored in the spool
 *   with its original arrival time, durably, and only then are its two
 *   files removed (metadata first), their folders synced at the end.
 *
 * - With `--store` PostgreSQL, the embedded store a failmail ran on before:
 *   the messages of its log (`log/`, same ids, metadata and arrival times;
 *   the log goes once every one is in the database), and its state
 *   documents (`state/<name>.json`) that the database does not have yet
 *   (each file goes once saved; one the database has already stays, with a
 *   warning): switching stores with mail pending loses none of it.
 *
 * A crash at any point loses nothing and makes no copy: a message is stored
 * under its own id, or one derived from its Go file name, so taking it in again replaces
 * the earlier copy instead of adding one, and a message file left without
 * its metadata is removed only once the spool holds it.
 */
import { Effect, Layer } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as LogContext from "../../domain/LogContext.ts"
import { isSpoolId } from "../../domain/message/Message.ts"
import * as Secrets from "../../domain/settings/Secrets.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { Classifier } from "../message/Classifier.ts"
import * as MailSource from "./MailSource.ts"
import { logDirOf, readLog } from "./embedded/MessageLog.ts"
import * as PreviousSpool from "./PreviousSpool.ts"
import { documentNameOf } from "./embedded/StateStore.ts"
import { Store, type SpoolRecord } from "./Store.ts"

/** Messages taken in at once (each is a durable write; the spool shares their syncs). */
const CONCURRENCY = 16

/** The spool id of a message of the Go failmail's store: the same for the same file name, every time. */
export const goStoreId = (name: string): string =>
  `go-${crypto.createHash("sha256").update(name).digest("hex").slice(0, 32)}`

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Removes a file; one already gone is fine. */
const removeFile = (file: string) =>
  Effect.tryPromise({
    try: () => fs.rm(file, { force: true }),
    catch: (error) => `cannot remove ${file}: ${reason(error)}`
  })

/** Makes the removals in a folder durable. */
const syncFolder = (dir: string) =>
  Effect.tryPromise(async () => {
    const handle = await fs.open(dir, "r")
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }).pipe(Effect.catchAll((error) => Effect.logWarning(`cannot sync ${dir}: ${reason(error)}`)))

/**
 * Takes in the Go failmail's store in `--message-store`, if there is one;
 * returns how many messages were taken in. A message that cannot be read
 * or stored is logged and left where it is, for the next start.
 */
export const importGoStore: Effect.Effect<number, never, Store | Classifier | AppConfig> = Effect.gen(function* () {
  const config = yield* AppConfig
  const store = yield* Store
  const classifier = yield* Classifier
  const root = path.resolve(config.messageStore)
  const goStore = yield* MailSource.goStore(root)
  if (goStore === undefined) return 0

  const takeIn = (message: MailSource.GoStoreMessage) =>
    Effect.gen(function* () {
      const stored = yield* message.load
      if (stored === undefined || stored.envelope === undefined) return false
      const envelope = stored.envelope
      const classified = yield* classifier.classify(stored.raw, envelope)
      const record: SpoolRecord = {
        id: goStoreId(message.name),
        receivedAt: Math.floor(stored.receivedAt),
        envelope,
        keys: classified.keys,
        subject: classified.view.subject,
        sender: classified.sender,
        size: stored.raw.byteLength
      }
      yield* Effect.mapError(store.restore(record, stored.raw), (error) => error.message)
      for (const file of message.files) yield* removeFile(file)
      return true
    }).pipe(
      Effect.catchAll((error) =>
        Effect.logError(`${message.id} stays in ${root} (taken in at the next start): ${error}`).pipe(Effect.as(false))
      )
    )

  const taken = yield* Effect.forEach(goStore.messages, takeIn, { concurrency: CONCURRENCY })
  const imported = taken.filter(Boolean).length

  // A message file whose metadata is gone was taken in before a crash if the spool holds it; otherwise the
  // Go failmail never finished storing it (and never acknowledged it), so it is left alone.
  let unfinished = 0
  for (const { name, file } of goStore.withoutMeta) {
    const held = yield* Effect.either(store.readRaw(goStoreId(name)))
    if (held._tag === "Right") {
      yield* Effect.catchAll(removeFile(file), (error) => Effect.logWarning(error))
    } else {
      unfinished++
    }
  }
  if (unfinished > 0) {
    yield* Effect.logWarning(
      `${unfinished} files in ${path.join(root, "cur")} have no metadata in .meta/ (the Go failmail had not finished storing them, so never acknowledged them); left in place`
    )
  }
  if (imported > 0 || goStore.withoutMeta.length > unfinished) {
    yield* syncFolder(path.join(root, ".meta"))
    yield* syncFolder(path.join(root, "cur"))
  }
  if (imported > 0) yield* Effect.logInfo(`took in ${imported} messages from the Go failmail's store in ${root}`)
  return imported
}).pipe(LogContext.annotate({ component: "store-import" }))

/** Whether `name` is a file an earlier release's spool left in its `tmp/`: a write never acknowledged, or a health probe. */
const isPreviousTemporary = (name: string) => /^probe-/.test(name) || (name.endsWith(".eml") && isSpoolId(name.slice(0, -".eml".length)))

/**
 * Takes in the spool of an earlier failmail release in `--message-store`
 * (`msg/*.eml`), if there is one; returns how many messages were taken in.
 * A file that cannot be read or stored is logged and left where it is, for
 * the next start.
 */
export const importPreviousSpool: Effect.Effect<number, never, Store | AppConfig> = Effect.gen(function* () {
  const config = yield* AppConfig
  const store = yield* Store
  const root = path.resolve(config.messageStore)
  const dir = PreviousSpool.messagesDirOf(root)
  const names = yield* Effect.promise(() => fs.readdir(dir).catch(() => undefined))
  if (names === undefined) return 0

  const takeIn = (name: string) =>
    Effect.gen(function* () {
      const file = path.join(dir, name)
      const { record, raw } = yield* Effect.tryPromise({ try: () => PreviousSpool.readSpoolFile(file), catch: reason })
      yield* Effect.mapError(store.restore(record, raw), (error) => error.message)
      yield* removeFile(file)
      return true
    }).pipe(
      Effect.catchAll((error) => Effect.logError(`msg/${name} stays in ${root} (taken in at the next start): ${error}`).pipe(Effect.as(false)))
    )

  const taken = yield* Effect.forEach(
    names.filter((name) => name.endsWith(".eml")),
    takeIn,
    { concurrency: CONCURRENCY }
  )
  const imported = taken.filter(Boolean).length
  if (imported > 0) yield* syncFolder(dir)
  if (taken.length === imported) {
    const tmp = path.join(root, "tmp")
    const leftovers = yield* Effect.promise(() => fs.readdir(tmp).catch(() => [] as Array<string>))
    yield* Effect.forEach(leftovers.filter(isPreviousTemporary), (name) => Effect.ignore(removeFile(path.join(tmp, name))), { discard: true })
    // Each folder goes only if empty: a Go failmail store in the same directory keeps its own tmp/.
    yield* Effect.promise(() => fs.rmdir(tmp).catch(() => undefined))
    yield* Effect.promise(() => fs.rmdir(dir).catch(() => undefined))
    yield* syncFolder(root)
  }
  if (imported > 0) yield* Effect.logInfo(`took in ${imported} messages from the spool of an earlier failmail release in ${root}`)
  return imported
}).pipe(LogContext.annotate({ component: "store-import" }))

/** The messages of an embedded store's log into the store in use; the log goes once all of them are in. */
const importLog = (root: string, store: Store["Type"]) =>
  Effect.gen(function* () {
    const dir = logDirOf(root)
    const exists = yield* Effect.promise(() => fs.stat(dir).then((stats) => stats.isDirectory(), () => false))
    if (!exists) return
    const contents = yield* Effect.either(Effect.tryPromise(() => readLog(dir)))
    if (contents._tag === "Left") return yield* Effect.logError(`the embedded store's log in ${dir} cannot be read (taken in at the next start): ${reason(contents.left.error)}`)
    for (const line of contents.right.torn) yield* Effect.logWarning(`${line} (never acknowledged: not taken in)`)
    const takeIn = ({ record, load }: (typeof contents.right.messages)[number]) =>
      Effect.tryPromise({ try: load, catch: reason }).pipe(
        Effect.flatMap((raw) => Effect.mapError(store.restore(record, raw), (error) => error.message)),
        Effect.as(true),
        Effect.catchAll((error) => Effect.logError(`message ${record.id} stays in ${dir} (taken in at the next start): ${error}`).pipe(Effect.as(false)))
      )
    const taken = yield* Effect.forEach(contents.right.messages, takeIn, { concurrency: CONCURRENCY })
    if (taken.some((ok) => !ok)) return
    yield* Effect.tryPromise(() => fs.rm(dir, { recursive: true, force: true })).pipe(
      Effect.zipRight(syncFolder(root)),
      Effect.catchAll((error) => Effect.logWarning(`cannot remove ${dir} (its messages are in the database; taking them in again makes no copy): ${reason(error)}`))
    )
    if (taken.length > 0) yield* Effect.logInfo(`took in ${taken.length} messages from the embedded store's log in ${dir}`)
  })

/** The state documents of an embedded store that the store in use does not have yet. */
const importDocuments = (root: string, store: Store["Type"]) =>
  Effect.gen(function* () {
    const dir = path.join(root, "state")
    const names = yield* Effect.promise(() => fs.readdir(dir).catch(() => [] as Array<string>))
    for (const file of names) {
      const name = documentNameOf(file)
      if (name === undefined) continue
      yield* Effect.gen(function* () {
        const value = yield* Effect.tryPromise({ try: async () => JSON.parse(await fs.readFile(path.join(dir, file), "utf8")) as unknown, catch: reason })
        if ((yield* Effect.mapError(store.load(name), (error) => error.message)) !== undefined) {
          return yield* Effect.logWarning(`state document ${name}: the store has its own; ${path.join(dir, file)} is left as it is`)
        }
        yield* Effect.mapError(store.save(name, () => value), (error) => error.message)
        yield* removeFile(path.join(dir, file))
        yield* Effect.logInfo(`took in the state document ${name} from ${dir}`)
      }).pipe(Effect.catchAll((error) => Effect.logError(`state document ${name} stays in ${dir} (taken in at the next start): ${error}`)))
    }
  })

/** With `--store` PostgreSQL: what the embedded store left in `--message-store` (see the module comment). */
export const importEmbeddedStore: Effect.Effect<void, never, Store | AppConfig> = Effect.gen(function* () {
  const config = yield* AppConfig
  if (!Secrets.isSet(config.store)) return
  const store = yield* Store
  const root = path.resolve(config.messageStore)
  yield* importLog(root, store)
  yield* importDocuments(root, store)
}).pipe(LogContext.annotate({ component: "store-import" }))

/**
 * Runs {@link importEmbeddedStore}, {@link importPreviousSpool} and
 * {@link importGoStore} when built: before the Batcher and the services
 * that read state documents, so what they take in is recovered with the rest.
 */
export const layer: Layer.Layer<never, never, Store | Classifier | AppConfig> = Layer.effectDiscard(
  Effect.zipRight(importEmbeddedStore, Effect.zipRight(importPreviousSpool, importGoStore))
)
