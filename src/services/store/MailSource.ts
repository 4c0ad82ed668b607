/**
 * Stored messages to look at without touching them (for `failmail
 * preview` and `POST /api/preview`): what the running spool holds, a
 * failmail spool directory (`--message-store`: its message log `log/`, and
 * the files of an earlier release's spool `msg/*.eml` not yet taken in), a
 * maildir such as the `--all-dir` archive (`cur/`, `new/`), or the Go
 * failmail's store (a maildir whose `.meta/` holds each message's envelope).
 * Nothing is created, moved or deleted; a file that vanishes meanwhile (a
 * running failmail sent it) is skipped.
 */
import { Effect, Layer, type Redacted, type Scope } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { ConfigError, StartError } from "../../domain/settings/Errors.ts"
import { deliveredAtOf } from "../../domain/message/MaildirName.ts"
import type { Envelope } from "../../domain/message/Message.ts"
import { logDirOf, readLog } from "./embedded/MessageLog.ts"
import { messagesDirOf, readSpoolFile } from "./PreviousSpool.ts"
import { Store, type SpoolError } from "./Store.ts"

/** One stored message, as read. */
export interface StoredMessage {
  readonly raw: Buffer
  /** When failmail stored it (ms since the epoch). */
  readonly receivedAt: number
  /** The SMTP envelope when the store kept it; `undefined` for a plain maildir (read it from the headers). */
  readonly envelope: Envelope | undefined
  /** Whether `--rewrite-src`/`--rewrite-dest` still applies to the envelope (it was stored as received). */
  readonly rewrite: boolean
}

/** A message in a store, read on demand. */
export interface Candidate {
  /** Where it is: spool id or path inside the store. */
  readonly id: string
  /** Reads it; fails with a one-line reason, or succeeds with `undefined` when it is gone. */
  readonly load: Effect.Effect<StoredMessage | undefined, string>
}

/** The kinds of store `failmail preview` reads. */
export type SourceKind = "failmail spool" | "maildir" | "Go failmail store" | "PostgreSQL store"

const isDirectory = (dir: string) =>
  Effect.promise(() => fs.stat(dir).then((info) => info.isDirectory(), () => false))

const listDir = (dir: string) => Effect.promise(() => fs.readdir(dir).catch(() => [] as Array<string>))

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ")

/** A read whose file may have gone meanwhile (a running failmail sent it): `undefined` then; other failures as one line. */
const goneAsUndefined = <A>(read: Effect.Effect<A, string>): Effect.Effect<A | undefined, string> =>
  Effect.catchAll(read, (message) => (/ENOENT/.test(message) ? Effect.succeed(undefined) : Effect.fail(message)))

/** Reads a file, or a message of the log; `undefined` when it no longer exists (its error's code is `ENOENT`). */
const readGone = <A>(read: () => Promise<A>): Effect.Effect<A | undefined, string> =>
  Effect.tryPromise({
    try: () =>
      read().catch((error: unknown) => {
        if ((error as { code?: unknown } | null)?.code === "ENOENT") return undefined
        throw error
      }),
    catch: reason
  })

/** What the running failmail's spool holds now (for `POST /api/preview`). */
export const pending: Effect.Effect<ReadonlyArray<Candidate>, SpoolError, Store> = Effect.gen(function* () {
  const store = yield* Store
  const records = yield* store.recover
  return records.map((record) => ({
    id: record.id,
    load: goneAsUndefined(Effect.mapError(store.readRaw(record.id), (error) => error.message)).pipe(
      Effect.map((raw) =>
        raw === undefined ? undefined : { raw, receivedAt: record.receivedAt, envelope: record.envelope, rewrite: false }
      )
    )
  }))
})

/**
 * What a failmail's PostgreSQL store (`--store postgres://…`) holds now, as
 * {@link pending} gives it, read without changing anything; its connection
 * closes with the scope. `where` names it without its credentials.
 */
export const inDatabase = (
  url: Redacted.Redacted<string>
): Effect.Effect<{ readonly where: string; readonly candidates: ReadonlyArray<Candidate> }, StartError, Scope.Scope> =>
  Effect.gen(function* () {
    // Loaded only when used, as the daemon does: the PostgreSQL client is not needed for a directory.
    const postgres = yield* Effect.promise(() => import("./postgres/PostgresStore.ts"))
    const where = postgres.describeUrl(url)
    const store = yield* Layer.build(postgres.layerOf(url))
    const candidates = yield* Effect.provide(pending, store).pipe(
      Effect.mapError((error) => new StartError({ message: `store ${where}: ${error.message}` }))
    )
    return { where, candidates }
  })

/** The messages of a failmail spool: its log, then the files of an earlier release not yet taken in. */
const spoolCandidates = (root: string): Effect.Effect<ReadonlyArray<Candidate>, ConfigError> =>
  Effect.zipWith(logCandidates(root), previousCandidates(root), (log, previous) => [...log, ...previous])

/** The messages of the log in `root` (read as it is: a running failmail may be writing it). */
const logCandidates = (root: string): Effect.Effect<ReadonlyArray<Candidate>, ConfigError> =>
  Effect.gen(function* () {
    if (!(yield* isDirectory(logDirOf(root)))) return []
    const contents = yield* Effect.tryPromise({
      try: () => readLog(logDirOf(root)),
      catch: (error) => new ConfigError({ message: `message-store ${root}: cannot read ${logDirOf(root)}: ${reason(error)}` })
    })
    return contents.messages.map(({ record, load }) => ({
      id: record.id,
      load: Effect.map(readGone(load), (raw) =>
        raw === undefined ? undefined : { raw, receivedAt: record.receivedAt, envelope: record.envelope, rewrite: false }
      )
    }))
  })

const previousCandidates = (root: string): Effect.Effect<ReadonlyArray<Candidate>> =>
  Effect.map(listDir(messagesDirOf(root)), (names) =>
    names
      .filter((name) => name.endsWith(".eml"))
      .sort()
      .map((name) => ({
        id: name.slice(0, -".eml".length),
        load: Effect.map(readGone(() => readSpoolFile(path.join(messagesDirOf(root), name))), (entry) =>
          entry === undefined
            ? undefined
            : { raw: entry.raw, receivedAt: entry.record.receivedAt, envelope: entry.record.envelope, rewrite: false }
        )
      }))
  )

/** The Go failmail's metadata file: the envelope, and (as its modification time) when the message arrived. */
const readGoMeta = async (file: string): Promise<{ envelope: Envelope; receivedAt: number }> => {
  const [text, info] = await Promise.all([fs.readFile(file, "utf8"), fs.stat(file)])
  const meta = JSON.parse(text) as { EnvelopeFrom?: unknown; EnvelopeTo?: unknown }
  const to = Array.isArray(meta.EnvelopeTo) ? meta.EnvelopeTo.filter((item): item is string => typeof item === "string") : []
  return {
    envelope: { mailFrom: typeof meta.EnvelopeFrom === "string" ? meta.EnvelopeFrom : "", rcptTo: to },
    receivedAt: info.mtimeMs
  }
}

/** A message of a plain maildir: its envelope is read from its headers, its arrival from its name (or the file's time). */
const plainMaildirMessage = (file: string, name: string): Effect.Effect<StoredMessage | undefined, string> =>
  Effect.gen(function* () {
    const raw = yield* readGone(() => fs.readFile(file))
    if (raw === undefined) return undefined
    // In a maildir, flags follow the unique name after ":" (`…host:2,S`).
    const unique = name.split(":")[0] ?? name
    const receivedAt = deliveredAtOf(unique) ?? (yield* readGone(() => fs.stat(file).then((info) => info.mtimeMs))) ?? 0
    return { raw, receivedAt, envelope: undefined, rewrite: true }
  })

/**
 * One message of the Go failmail's store: `cur/<name>`, with its envelope
 * in `.meta/<name>` (the same name, `<seconds>.<pid>_<n>.<host>:2,S`).
 */
export interface GoStoreMessage extends Candidate {
  /** Its file name in `cur/` and `.meta/`. */
  readonly name: string
  /**
   * Its files in the order to remove them: the metadata first, then the
   * message (as the Go failmail removes them, so a metadata file always has
   * its message).
   */
  readonly files: readonly [meta: string, message: string]
}

/** What the Go failmail's store at a directory holds. */
export interface GoStore {
  /** Messages with their metadata, oldest name first. */
  readonly messages: ReadonlyArray<GoStoreMessage>
  /**
   * Files of `cur/` without metadata: a message the Go failmail was still
   * storing (never acknowledged), or one whose metadata was removed after
   * it was taken in.
   */
  readonly withoutMeta: ReadonlyArray<{ readonly name: string; readonly file: string }>
}

/**
 * The Go failmail's store at `root` (a maildir with a `.meta/` folder), or
 * `undefined` when `root` holds none. Its envelopes are kept as stored: the
 * Go failmail stored recipients after its own `--rewrite-*`.
 */
export const goStore = (root: string): Effect.Effect<GoStore | undefined> =>
  Effect.gen(function* () {
    const metaDir = path.join(root, ".meta")
    if (!(yield* isDirectory(metaDir))) return undefined
    const metaNames = new Set(yield* listDir(metaDir))
    const messages: Array<GoStoreMessage> = []
    const withoutMeta: Array<{ name: string; file: string }> = []
    for (const name of (yield* listDir(path.join(root, "cur"))).sort()) {
      if (name.startsWith(".")) continue
      const file = path.join(root, "cur", name)
      if (!metaNames.has(name)) {
        withoutMeta.push({ name, file })
        continue
      }
      const metaFile = path.join(metaDir, name)
      const load = Effect.gen(function* () {
        const raw = yield* readGone(() => fs.readFile(file))
        if (raw === undefined) return undefined
        const meta = yield* readGone(() => readGoMeta(metaFile))
        if (meta === undefined) return undefined
        return { raw, receivedAt: meta.receivedAt, envelope: meta.envelope, rewrite: false }
      })
      messages.push({ id: `cur/${name}`, name, files: [metaFile, file], load })
    }
    return { messages, withoutMeta }
  })

const maildirCandidates = (root: string): Effect.Effect<ReadonlyArray<Candidate>> =>
  Effect.gen(function* () {
    const candidates: Array<Candidate> = []
    for (const sub of ["cur", "new"]) {
      for (const name of (yield* listDir(path.join(root, sub))).sort()) {
        if (name.startsWith(".")) continue
        candidates.push({ id: `${sub}/${name}`, load: plainMaildirMessage(path.join(root, sub, name), name) })
      }
    }
    return candidates
  })

/** The messages of a Go failmail store: those with metadata as stored, the others as in a plain maildir. */
const goStoreCandidates = (store: GoStore): ReadonlyArray<Candidate> => [
  ...store.messages,
  ...store.withoutMeta.map(({ name, file }) => ({ id: `cur/${name}`, load: plainMaildirMessage(file, name) }))
]

/** Whether `dir` holds a failmail spool: a message log, or the files of an earlier release. */
const isSpool = (dir: string) =>
  Effect.zipWith(isDirectory(logDirOf(dir)), isDirectory(messagesDirOf(dir)), (log, previous) => log || previous)

/** What kind of store `dir` is, and its messages; a directory that is none of them is a {@link ConfigError}. */
export const open = (dir: string): Effect.Effect<{ readonly kind: SourceKind; readonly candidates: ReadonlyArray<Candidate> }, ConfigError> =>
  Effect.gen(function* () {
    if (!(yield* isDirectory(dir))) {
      return yield* new ConfigError({ message: `preview: ${dir}: no such directory` })
    }
    if (yield* isSpool(dir)) return { kind: "failmail spool", candidates: yield* spoolCandidates(dir) }
    const isMaildir = (yield* isDirectory(path.join(dir, "cur"))) || (yield* isDirectory(path.join(dir, "new")))
    if (!isMaildir) {
      return yield* new ConfigError({
        message: `preview: ${dir} is neither a maildir (cur/, new/) nor a failmail spool (log/ or msg/)`
      })
    }
    const go = yield* goStore(dir)
    return go === undefined
      ? { kind: "maildir", candidates: yield* maildirCandidates(dir) }
      : { kind: "Go failmail store", candidates: goStoreCandidates(go) }
  })

/** What a failmail's `--message-store` holds, by kind of store. */
export interface Held {
  /** The spool (`log/`, and `msg/` of an earlier release): what failmail holds now. */
  readonly spool: ReadonlyArray<Candidate>
  /** The Go failmail's store (`cur/` with `.meta/`): what failmail takes in at its next start. */
  readonly goStore: ReadonlyArray<Candidate>
}

/**
 * Everything a `--message-store` directory holds (for `failmail spool`):
 * its spool and a Go failmail store not yet taken in. A directory that does
 * not exist, or holds neither, is a {@link ConfigError} naming the setting.
 */
export const held = (dir: string): Effect.Effect<Held, ConfigError> =>
  Effect.gen(function* () {
    if (!(yield* isDirectory(dir))) return yield* new ConfigError({ message: `message-store ${dir}: no such directory` })
    const hasSpool = yield* isSpool(dir)
    const go = yield* goStore(dir)
    if (!hasSpool && go === undefined) {
      return yield* new ConfigError({
        message: `message-store ${dir}: neither a failmail spool (log/ or msg/) nor the Go failmail's store (cur/ and .meta/)`
      })
    }
    return { spool: hasSpool ? yield* spoolCandidates(dir) : [], goStore: go?.messages ?? [] }
  })
