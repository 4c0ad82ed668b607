/**
 * In-memory implementations of failmail's storage services, for tests that
 * run the pipeline on the `TestClock`: with them every step of the pipeline
 * completes inside the Effect runtime, so a test moves the clock and asserts
 * at once, without waiting for disk I/O in real time.
 *
 * Each implements exactly the contract of the real service, and the contract
 * tests (`test/Store.contract.test.ts`, `test/Maildir.test.ts`) run the same
 * cases against both. What they hold is a plain object the test
 * can read, and share between two layers to model a restart.
 */
import { Clock, Effect, Either, Layer } from "effect"
import * as path from "node:path"
import { isSpoolId, newSpoolId } from "../../src/domain/message/Message.ts"
import { Maildir, MaildirError } from "../../src/services/delivery/Maildir.ts"
import { missing, SpoolError, type SpoolRecord, StateError, Store, type StoreShape } from "../../src/services/store/Store.ts"

/** What an in-memory spool holds; it outlives the layers built on it, as a directory does. */
export interface MemorySpool {
  /** Stored messages by id. */
  readonly messages: Map<string, { readonly record: SpoolRecord; readonly raw: Buffer }>
  /** While set, every `put` fails (a full or broken disk). */
  unwritable: boolean
  /** Ids handed out so far: one sequence per store, so two spools on it never reuse an id. */
  issued: number
}

/** An empty in-memory spool. */
export const memorySpool = (): MemorySpool => ({ messages: new Map(), unwritable: false, issued: 0 })

/** One message in an in-memory maildir. */
export interface MemoryMaildirFile {
  /** The path the real maildir would have given it (`<dir>/new/<name>`). */
  readonly path: string
  readonly raw: Buffer
  /** `Clock` time it was written at (ms). */
  readonly at: number
}

/** What in-memory maildirs hold, by maildir path. */
export interface MemoryMaildirs {
  readonly files: Map<string, Array<MemoryMaildirFile>>
  /** Maildirs that cannot be written (delivering to them fails). */
  readonly unwritable: Set<string>
}

/** Empty in-memory maildirs. */
export const memoryMaildirs = (): MemoryMaildirs => ({ files: new Map(), unwritable: new Set() })

/** The messages delivered to the maildir at `dir`, in order. */
export const filesIn = (maildirs: MemoryMaildirs, dir: string): ReadonlyArray<MemoryMaildirFile> => maildirs.files.get(dir) ?? []

/** {@link Maildir} kept in `contents`. */
export const maildirInMemory = (contents: MemoryMaildirs): Layer.Layer<Maildir> => {
  let counter = 0
  return Layer.succeed(
    Maildir,
    Maildir.make({
      deliver: (dir, message) =>
        Effect.gen(function* () {
          if (contents.unwritable.has(dir)) return yield* new MaildirError({ dir, cause: new Error("unwritable (test)") })
          const at = yield* Clock.currentTimeMillis
          const file = { path: path.join(dir, "new", `${Math.floor(at / 1000)}.memory${++counter}.test`), raw: Buffer.from(message), at }
          contents.files.set(dir, [...filesIn(contents, dir), file])
          return file.path
        })
    })
  )
}

/** What an in-memory state store holds: each document as the JSON text it was saved as. */
export interface MemoryState {
  readonly documents: Map<string, string>
  /** While set, every `save` fails (a full or broken disk). */
  unwritable: boolean
}

/** An empty in-memory state store. */
export const memoryState = (): MemoryState => ({ documents: new Map(), unwritable: false })

/** The message half of a {@link Store} kept in `contents`. */
const messagesIn = (contents: MemorySpool): Omit<StoreShape, "load" | "save"> => {
  const put: StoreShape["put"] = (fields, raw, receivedAt, done) => {
    if (contents.unwritable) return done(Either.left(new SpoolError({ operation: "write", cause: new Error("unwritable (test)") })))
    const id = newSpoolId(receivedAt, "memory", ++contents.issued)
    const record: SpoolRecord = { id, receivedAt, ...fields }
    contents.messages.set(id, { record, raw: Buffer.from(raw) })
    done(Either.right(record))
  }
  return {
    put,
    restore: (record, raw) =>
      Effect.suspend(() => {
        if (contents.unwritable) return Effect.fail(new SpoolError({ operation: "write", cause: new Error("unwritable (test)") }))
        if (!isSpoolId(record.id)) return Effect.fail(new SpoolError({ operation: "write", cause: new Error(`invalid id ${record.id}`) }))
        contents.messages.set(record.id, { record, raw: Buffer.from(raw) })
        return Effect.void
      }),
    remove: (ids) =>
      Effect.sync(() => {
        for (const id of ids) contents.messages.delete(id)
      }),
    readRaw: (id) =>
      Effect.suspend(() => {
        const stored = contents.messages.get(id)
        return stored === undefined ? Effect.fail(new SpoolError({ operation: `read ${id}`, cause: missing(id) })) : Effect.succeed(stored.raw)
      }),
    recover: Effect.sync(() =>
      [...contents.messages.values()]
        .map((stored) => stored.record)
        .sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : 1))
    ),
    checkHealth: Effect.sync(() => !contents.unwritable)
  }
}

/** The state half of a {@link Store} kept in `contents` (saved as JSON text, so what is read back is what a file would give). */
const documentsIn = (contents: MemoryState): Pick<StoreShape, "load" | "save"> => ({
  load: (name) =>
    Effect.try({
      try: () => {
        const text = contents.documents.get(name)
        return text === undefined ? undefined : (JSON.parse(text) as unknown)
      },
      // As the embedded store: a document that is not JSON cannot be read.
      catch: (cause) => new StateError({ operation: `read ${name}`, cause })
    }),
  save: (name, value) =>
    Effect.suspend(() => {
      if (contents.unwritable) return Effect.fail(new StateError({ operation: `write ${name}`, cause: new Error("unwritable (test)") }))
      contents.documents.set(name, JSON.stringify(value()))
      return Effect.void
    })
})

/** A {@link Store} whose messages are kept in `messages` and whose state documents in `state`. */
export const storeInMemory = (messages: MemorySpool = memorySpool(), state: MemoryState = memoryState()): Layer.Layer<Store> =>
  Layer.succeed(Store, Store.of({ ...messagesIn(messages), ...documentsIn(state) }))
