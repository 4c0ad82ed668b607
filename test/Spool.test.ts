/**
 * The spool's contract, run against both implementations of the one
 * service interface: the real one on disk (`Spool.Default`) and the
 * in-memory one the TestClock pipeline tests use (`support/memory.ts`).
 * Then what only the disk has: file modes, start-up and write failures of
 * the file system, the health probe.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, type Scope, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Settings from "../src/domain/Settings.ts"
import { AppConfig, type RunningConfig } from "../src/services/AppConfig.ts"
import { Spool, SpoolError } from "../src/services/Spool.ts"
import { memorySpool, spoolInMemory } from "./support/memory.ts"
import { rawMessage } from "./support/pipeline.ts"
import { scopedTempDir } from "./support/tempdir.ts"

const tempDir = scopedTempDir("failmail-spool-")

const configFor = (messageStore: string): RunningConfig => ({
  ...Settings.defaults({ hostname: "test" }),
  configFile: "",
  messageStore,
  failDir: path.join(messageStore, "..", "failed"),
  bindHttp: "",
  relayAddr: "unused:25"
})

const openSpool = (messageStore: string) =>
  Effect.map(Layer.build(Spool.Default.pipe(Layer.provide(AppConfig.layer(configFor(messageStore))))), (context) =>
    Context.get(context, Spool)
  )

const fields = (subject: string) => ({
  envelope: { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] },
  keys: { fingerprint: "f", batchKey: "", groupKey: subject },
  subject,
  sender: "app@example.com",
  size: rawMessage({ subject }).byteLength
})

const put = (spool: Spool, subject: string) => spool.put(fields(subject), rawMessage({ subject }))

const spooledFiles = (root: string) => fs.readdirSync(path.join(root, "msg")).filter((name) => name.endsWith(".eml"))

/** Where a spool keeps its messages, as the contract sees it. */
interface Store {
  /** Opens a spool on this store (opening another one is a restart, or a reload). */
  readonly open: Effect.Effect<Spool, SpoolError, Scope.Scope>
  /** How many messages the store holds. */
  readonly count: () => number
  /** What a write left half done (a temporary file, say): nothing, ever. */
  readonly leftovers: () => ReadonlyArray<string>
  /** Makes every later write fail. */
  readonly breakWrites: () => void
}

const onDisk: Effect.Effect<Store, never, Scope.Scope> = Effect.map(tempDir, (root) => ({
  open: openSpool(root),
  count: () => spooledFiles(root).length,
  leftovers: () => fs.readdirSync(path.join(root, "tmp")),
  breakWrites: () => {
    fs.rmSync(path.join(root, "tmp"), { recursive: true })
    fs.writeFileSync(path.join(root, "tmp"), "in the way")
  }
}))

const inMemory: Effect.Effect<Store> = Effect.sync(() => {
  const contents = memorySpool()
  return {
    open: Effect.map(Layer.build(spoolInMemory(contents)), (context) => Context.get(context, Spool)),
    count: () => contents.messages.size,
    leftovers: () => [],
    breakWrites: () => {
      contents.unwritable = true
    }
  }
})

for (const [name, makeStore] of [["on disk", onDisk], ["in memory", inMemory]] as const) {
  describe(`Spool contract, ${name}`, () => {
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
        expect(store.count()).toBe(0)
      })
    )

    it.scoped("restores a message taken in from an older store under its own id and arrival time, once however often", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const spool = yield* store.open
        const record = { id: "go-0123456789abcdef", receivedAt: 1_000, ...fields("imported") }
        yield* spool.restore(record, rawMessage({ subject: "imported" }))
        // Taken in again (a crash before the old files were removed): replaced, not copied.
        yield* spool.restore(record, rawMessage({ subject: "imported" }))
        expect(store.count()).toBe(1)
        expect(yield* (yield* store.open).recover).toEqual([record])
        expect((yield* spool.readRaw(record.id)).equals(rawMessage({ subject: "imported" }))).toBe(true)
        const unsafe = yield* Effect.flip(spool.restore({ ...record, id: "../escape" }, rawMessage({ subject: "x" })))
        expect(unsafe).toBeInstanceOf(SpoolError)
        expect(store.count()).toBe(1)
        expect(store.leftovers()).toEqual([])
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
        expect(store.count()).toBe(100)
        const recovered = yield* spool.recover
        expect(new Set(recovered.map((record) => record.subject))).toEqual(new Set(records.map((record) => record.subject)))
        for (const record of records) {
          expect((yield* spool.readRaw(record.id)).toString("utf8")).toContain(`Subject: ${record.subject}`)
        }
        expect(store.leftovers()).toEqual([])
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
        expect(store.count()).toBe(2)
      })
    )

    it.scoped("fails a put with SpoolError when the spool cannot be written", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const spool = yield* store.open
        store.breakWrites()
        const error = yield* Effect.flip(put(spool, "lost?"))
        expect(error).toBeInstanceOf(SpoolError)
        expect(error.message).toMatch(/^spool write: /)
        expect(yield* spool.checkHealth).toBe(false)
        expect(store.count()).toBe(0)
      })
    )
  })
}

describe("Spool on disk", () => {
  it.scoped("writes files 0600 in 0700 directories", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const spool = yield* openSpool(path.join(root, "incoming"))
      const record = yield* put(spool, "secret")
      const file = path.join(root, "incoming", "msg", `${record.id}.eml`)
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      expect(fs.statSync(path.join(root, "incoming", "msg")).mode & 0o777).toBe(0o700)
      expect(fs.statSync(path.join(root, "incoming", "tmp")).mode & 0o777).toBe(0o700)
    })
  )

  it.scoped("fails with SpoolError at start when the directory cannot be made", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const file = path.join(root, "a-file")
      fs.writeFileSync(file, "not a directory")
      const exit = yield* Effect.exit(openSpool(path.join(file, "incoming")))
      expect(exit).toMatchObject({ _tag: "Failure" })
      const error = Exit.isFailure(exit) ? exit.cause : undefined
      expect(JSON.stringify(error)).toContain("SpoolError")
    })
  )

  it.scoped("a write that fails at the rename leaves nothing behind in tmp/", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const spool = yield* openSpool(root)
      const messages = path.join(root, "msg")
      fs.renameSync(messages, `${messages}.away`)
      fs.writeFileSync(messages, "in the way")
      for (const subject of ["first", "second", "third"]) {
        const error = yield* Effect.flip(put(spool, subject))
        expect(error.message).toMatch(/^spool write: /)
      }
      expect(fs.readdirSync(path.join(root, "tmp"))).toEqual([])
    })
  )

  it.scoped("health is probed on disk, so it recovers with the disk and not with the next message", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const spool = yield* openSpool(root)
      const messages = path.join(root, "msg")
      expect(yield* spool.checkHealth).toBe(true)

      // Broken: the answer stands for one second, then the probe sees it.
      fs.renameSync(messages, `${messages}.away`)
      fs.writeFileSync(messages, "in the way")
      yield* TestClock.adjust(Duration.millis(999))
      expect(yield* spool.checkHealth).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* spool.checkHealth).toBe(false)

      // Repaired, nothing stored in between: healthy again once the cached answer expires.
      fs.rmSync(messages)
      fs.renameSync(`${messages}.away`, messages)
      expect(yield* spool.checkHealth).toBe(false)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* spool.checkHealth).toBe(true)

      // The probe leaves no file anywhere.
      expect(fs.readdirSync(path.join(root, "tmp"))).toEqual([])
      expect(fs.readdirSync(messages)).toEqual([])
    })
  )
})
