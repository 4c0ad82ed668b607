/**
 * The {@link Store} contract, run against every layer of it: the embedded
 * store on disk, the in-memory one the TestClock pipeline tests use, and the
 * PostgreSQL one (on a real server the file starts; each test gets a database
 * of its own). What only one layer has (file modes, the disk's failures, a
 * migration race) is tested beside that layer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Redacted, type Scope, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { StartError } from "../src/domain/settings/Errors.ts"
import * as PostgresStore from "../src/services/store/postgres/PostgresStore.ts"
import { SpoolError, StateError, Store, type StoreShape } from "../src/services/store/Store.ts"
import { memorySpool, memoryState, storeInMemory } from "./support/memory.ts"
import { openEmbeddedStore, putMessage as put, rawMessage } from "./support/pipeline.ts"
import { fillDisk, freeDisk } from "./support/diskFull.ts"
import { heldIn, leftoversIn } from "./support/spool.ts"
import { postgresForFile } from "./support/postgresFile.ts"
import { scopedTempDir } from "./support/tempdir.ts"

/** A store layer as the contract sees it. */
interface StoreUnderTest {
  /** Opens the store (opening another one on the same place is a restart, or a reload). */
  readonly open: Effect.Effect<StoreShape, SpoolError | StateError | StartError, Scope.Scope>
  /** How many messages it holds, looked at from outside. */
  readonly count: Effect.Effect<number>
  /** What a write left half done (a temporary file, say): nothing, ever. */
  readonly leftovers: Effect.Effect<ReadonlyArray<string>>
  /** Makes every later write fail, of messages and of documents. */
  readonly breakWrites: Effect.Effect<void>
  /** Undoes {@link breakWrites}. */
  readonly repairWrites: Effect.Effect<void>
}

const tempDir = scopedTempDir("failmail-store-")

const embedded: Effect.Effect<StoreUnderTest, never, Scope.Scope> = Effect.map(tempDir, (root) => ({
  open: openEmbeddedStore(root),
  count: Effect.sync(() => heldIn(root).length),
  leftovers: Effect.sync(() => [...leftoversIn(root), ...fs.readdirSync(path.join(root, "state")).filter((name) => name.endsWith(".tmp"))]),
  // A full disk for real: every write that would grow a file fails, through descriptors already open too.
  breakWrites: Effect.sync(() => fillDisk()),
  repairWrites: Effect.sync(() => freeDisk())
}))

const inMemory: Effect.Effect<StoreUnderTest> = Effect.sync(() => {
  const messages = memorySpool()
  const state = memoryState()
  return {
    open: Effect.map(Layer.build(storeInMemory(messages, state)), (context) => Context.get(context, Store)),
    count: Effect.sync(() => messages.messages.size),
    leftovers: Effect.succeed([]),
    breakWrites: Effect.sync(() => {
      messages.unwritable = true
      state.unwritable = true
    }),
    repairWrites: Effect.sync(() => {
      messages.unwritable = false
      state.unwritable = false
    })
  }
})

const postgres = postgresForFile()

/**
 * A new database on the test's PostgreSQL. Writes break when failmail's user
 * loses its rights on the tables (at once, for the sessions already open);
 * a stopped server is tested in PostgresStore.test.ts.
 */
const inPostgres: Effect.Effect<StoreUnderTest> = Effect.promise(async () => {
  const url = await postgres().createDatabase()
  const database = new URL(url).pathname.slice(1)
  return {
    open: Effect.map(Layer.build(PostgresStore.layerOf(Redacted.make(url))), (context) => Context.get(context, Store)),
    count: Effect.promise(async () => Number((await postgres().query(database, "SELECT count(*) FROM failmail_messages"))[0])),
    leftovers: Effect.succeed([]),
    breakWrites: Effect.promise(() => postgres().query(database, "REVOKE ALL ON failmail_messages, failmail_documents FROM failmail")),
    repairWrites: Effect.promise(() => postgres().query(database, "GRANT ALL ON failmail_messages, failmail_documents TO failmail"))
  }
})

/** Every layer the contract runs against. */
const layers: ReadonlyArray<{ readonly name: string; readonly make: Effect.Effect<StoreUnderTest, never, Scope.Scope> }> = [
  { name: "embedded", make: embedded },
  { name: "in memory", make: inMemory },
  { name: "PostgreSQL", make: inPostgres }
]

for (const { name, make: makeStore } of layers) {
  describe(`Store contract, ${name}`, () => {
    it.scoped("stores, reads back, recovers with arrival times, and removes", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const spool = yield* store.open
        yield* TestClock.adjust(Duration.seconds(5))
        const first = yield* put(spool, "first")
        yield* TestClock.adjust(Duration.seconds(7))
        const second = yield* put(spool, "second")
        expect(first.receivedAt).toBe(5_000)
        expect(second.receivedAt).toBe(12_000)
        expect(first.id).not.toBe(second.id)

        expect((yield* spool.readRaw(first.id)).equals(rawMessage({ subject: "first" }))).toBe(true)
        expect((yield* spool.readRaw(second.id)).equals(rawMessage({ subject: "second" }))).toBe(true)

        // A new spool on the same directory (a restart) finds both, as stored.
        const reopened = yield* store.open
        const recovered = yield* reopened.recover
        expect(recovered).toEqual([first, second])
        expect(recovered.map((record) => record.receivedAt)).toEqual([5_000, 12_000])

        yield* spool.remove([first.id])
        expect((yield* spool.recover).map((record) => record.id)).toEqual([second.id])
        const missing = yield* Effect.exit(spool.readRaw(first.id))
        expect(Exit.isFailure(missing)).toBe(true)
        yield* spool.remove([second.id, "no-such-id"])
        expect(yield* spool.recover).toEqual([])
        expect(yield* store.count).toBe(0)
      })
    )

    it.scoped("restores a message taken in from an older store under its own id and arrival time, once however often", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const spool = yield* store.open
        const record = {
          id: "go-0123456789abcdef",
          receivedAt: 1_000,
          envelope: { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] },
          keys: { fingerprint: "f", batchKey: "", groupKey: "imported" },
          subject: "imported",
          sender: "app@example.com",
          size: rawMessage({ subject: "imported" }).byteLength
        }
        yield* spool.restore(record, rawMessage({ subject: "imported" }))
        // Taken in again (a crash before the old files were removed): replaced, not copied.
        yield* spool.restore(record, rawMessage({ subject: "imported" }))
        expect(yield* store.count).toBe(1)
        expect(yield* (yield* store.open).recover).toEqual([record])
        expect((yield* spool.readRaw(record.id)).equals(rawMessage({ subject: "imported" }))).toBe(true)
        const unsafe = yield* Effect.flip(spool.restore({ ...record, id: "../escape" }, rawMessage({ subject: "x" })))
        expect(unsafe).toBeInstanceOf(SpoolError)
        expect(yield* store.count).toBe(1)
        expect(yield* store.leftovers).toEqual([])
        // Asked for an id it does not hold, a spool says so (the API answers 404), unlike a failing disk.
        expect((yield* Effect.flip(spool.readRaw("no-such-id"))).isMissing).toBe(true)
      })
    )

    it.scoped("recovers oldest first, whatever the order stored", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const spool = yield* store.open
        const stored: Array<{ subject: string; at: number; id: string }> = []
        for (const [subject, at] of [["c", 30_000], ["a", 10_000], ["d", 40_000], ["b", 20_000]] as const) {
          yield* TestClock.setTime(at)
          stored.push({ subject, at, id: (yield* put(spool, subject)).id })
        }
        const recovered = yield* (yield* store.open).recover
        expect(recovered.map((record) => [record.subject, record.receivedAt])).toEqual([
          ["a", 10_000],
          ["b", 20_000],
          ["c", 30_000],
          ["d", 40_000]
        ])
      })
    )

    it.scoped("keeps every one of 100 concurrent puts, with unique ids", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const spool = yield* store.open
        const records = yield* Effect.forEach(
          Array.from({ length: 100 }, (_, index) => `message ${index}`),
          (subject) => put(spool, subject),
          { concurrency: "unbounded" }
        )
        expect(new Set(records.map((record) => record.id)).size).toBe(100)
        expect(yield* store.count).toBe(100)
        const recovered = yield* spool.recover
        expect(new Set(recovered.map((record) => record.subject))).toEqual(new Set(records.map((record) => record.subject)))
        for (const record of records) {
          expect((yield* spool.readRaw(record.id)).toString("utf8")).toContain(`Subject: ${record.subject}`)
        }
        expect(yield* store.leftovers).toEqual([])
      })
    )

    it.scoped("two spools on one store in one process never reuse an id", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const before = yield* store.open
        const after = yield* store.open
        const a = yield* put(before, "before the reload")
        const b = yield* put(after, "after the reload")
        expect(a.receivedAt).toBe(b.receivedAt)
        expect(a.id).not.toBe(b.id)
        expect(yield* store.count).toBe(2)
      })
    )

    it.scoped("fails a put with SpoolError when it cannot be stored, and stores again once it can", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const spool = yield* store.open
        yield* store.breakWrites
        const error = yield* Effect.flip(put(spool, "lost?"))
        expect(error).toBeInstanceOf(SpoolError)
        expect(error.message).toMatch(/^spool write: /)
        expect(yield* spool.checkHealth).toBe(false)
        expect(yield* store.count).toBe(0)

        yield* store.repairWrites
        yield* TestClock.adjust(Duration.seconds(1))
        expect(yield* spool.checkHealth).toBe(true)
        const stored = yield* put(spool, "kept")
        expect((yield* spool.recover).map((record) => record.id)).toEqual([stored.id])
      })
    )

    it.scoped("keeps named documents across a reopen; a document never saved reads as undefined", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const first = yield* store.open
        expect(yield* first.load("budget")).toBeUndefined()
        yield* first.save("budget", () => ({ sends: [1, 2, 3] }))
        yield* first.save("groups", () => ({ groups: { "disk full": { lastSeen: 5 } } }))
        yield* first.save("budget", () => ({ sends: [4] }))
        const second = yield* store.open
        expect(yield* second.load("budget")).toEqual({ sends: [4] })
        expect(yield* second.load("groups")).toEqual({ groups: { "disk full": { lastSeen: 5 } } })
        expect(yield* second.load("silences")).toBeUndefined()
      })
    )

    it.scoped("concurrent saves of one document end with the last value asked for", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const documents = yield* store.open
        let latest = 0
        yield* Effect.forEach(
          Array.from({ length: 50 }, (_, index) => index),
          (index) =>
            documents.save("groups", () => {
              latest = Math.max(latest, index)
              return { last: latest }
            }),
          { concurrency: "unbounded", discard: true }
        )
        expect(yield* (yield* store.open).load("groups")).toEqual({ last: 49 })
      })
    )

    it.scoped("fails a save with StateError when the store cannot be written, and keeps the document saved before", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const documents = yield* store.open
        yield* documents.save("silences", () => ({ silences: ["kept"] }))
        yield* store.breakWrites
        const error = yield* Effect.flip(documents.save("silences", () => ({ silences: ["lost"] })))
        expect(error).toBeInstanceOf(StateError)
        expect(error.message).toMatch(/^state write silences: /)
        yield* store.repairWrites
        expect(yield* (yield* store.open).load("silences")).toEqual({ silences: ["kept"] })
      })
    )
  })
}
