/**
 * Upgrades lose nothing (real files in a temp dir, the pipeline on the
 * TestClock): a stopped Go failmail's store in `--message-store` is taken
 * in at start with its arrival times and summarized when due; an import
 * interrupted by a crash and run again makes no copy; and a spool written
 * by the previous release (`test/fixtures/spool-previous-release`, files as
 * that release wrote them, one per message) is taken into the log, once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { readHeaders } from "../src/domain/message/HeaderBlock.ts"
import { storage as diskStorage } from "../src/layers/Main.ts"
import { AppConfig } from "../src/services/runtime/AppConfig.ts"
import { Classifier } from "../src/services/message/Classifier.ts"
import { Store, type SpoolRecord } from "../src/services/store/Store.ts"
import { goStoreId, importGoStore, importPreviousSpool } from "../src/services/store/StoreImport.ts"
import { advanceTo, rawMessage, recordingRelay, type RecordingRelay, startPipeline, testConfig } from "./support/pipeline.ts"
import { heldIn } from "./support/spool.ts"
import { scopedTempDir } from "./support/tempdir.ts"

const T0 = Date.UTC(2026, 10, 20, 8, 0, 0)

const tempDir = scopedTempDir("failmail-import-")

/** The Go failmail's store layout: `cur/`, `new/`, `tmp/`, `.meta/`, mode 0755. */
const makeGoStore = (root: string) => {
  for (const sub of ["cur", "new", "tmp", ".meta"]) fs.mkdirSync(path.join(root, sub), { recursive: true, mode: 0o755 })
}

/**
 * Stores a message as the Go failmail does: the message in `cur/<name>:2,S`,
 * then its envelope as compact JSON in `.meta/<name>:2,S`, whose
 * modification time is set to the arrival time. Returns the file name.
 */
const goMessage = (root: string, at: number, serial: number, raw: Buffer, to: ReadonlyArray<string>) => {
  const name = `${Math.floor(at / 1000)}.4242_${serial}.gohost:2,S`
  fs.writeFileSync(path.join(root, "cur", name), raw, { mode: 0o644 })
  const meta = path.join(root, ".meta", name)
  fs.writeFileSync(meta, JSON.stringify({ EnvelopeFrom: "app@example.org", EnvelopeTo: to, RedirectedTo: to }), { mode: 0o644 })
  fs.utimesSync(meta, at / 1000, at / 1000)
  return name
}

const filesIn = (dir: string) => fs.readdirSync(dir).sort()

const summaryOf = (relay: RecordingRelay, index: number) => {
  const sent = relay.sent[index]
  if (sent === undefined) throw new Error(`no summary #${index}`)
  const headers = readHeaders(sent.raw)
  return { at: sent.at, to: sent.envelope.to, subject: headers["subject"], batch: headers["x-failmail-batch"] }
}

describe("the Go failmail's store", () => {
  it.scoped("is taken in at start with its arrival times, and summarized when due", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      makeGoStore(root)
      goMessage(root, T0, 1, rawMessage({ subject: "disk full" }), ["ops@example.com"])
      goMessage(root, T0 + 1_000, 2, rawMessage({ subject: "web down", headers: { "X-Failmail-Split": "web" } }), ["ops@example.com"])
      goMessage(root, T0 + 5_000, 3, rawMessage({ subject: "disk full" }), ["ops@example.com"])
      // The Go failmail was stopped; failmail starts 20 s after the first message arrived.
      yield* TestClock.setTime(T0 + 20_000)
      const relay = yield* recordingRelay()
      const pipeline = yield* startPipeline(testConfig(root, { messageStore: root }), relay.layer)

      const spooled = [...pipeline.storage.spool.messages.values()].map(({ record }) => [record.receivedAt, record.keys.batchKey, record.subject])
      expect(spooled.sort()).toEqual([
        [T0, "", "disk full"],
        [T0 + 1_000, "web", "web down"],
        [T0 + 5_000, "", "disk full"]
      ])
      expect(filesIn(path.join(root, "cur"))).toEqual([])
      expect(filesIn(path.join(root, ".meta"))).toEqual([])
      expect(relay.attempts).toHaveLength(0)

      // Due 30 s (--wait-period) after each batch's last Go arrival, not after the start.
      yield* advanceTo(T0 + 30_999)
      expect(relay.attempts).toHaveLength(0)
      yield* advanceTo(T0 + 31_000)
      expect(summaryOf(relay, 0)).toEqual({ at: T0 + 31_000, to: ["ops@example.com"], subject: "[failmail] 1 instance: web down", batch: "web" })
      yield* advanceTo(T0 + 35_000)
      expect(relay.sent).toHaveLength(2)
      expect(summaryOf(relay, 1)).toEqual({ at: T0 + 35_000, to: ["ops@example.com"], subject: "[failmail] 2 instances: disk full", batch: "" })
      expect(pipeline.storage.spool.messages.size).toBe(0)
    })
  )

  it.scoped("keeps the recipients the Go failmail stored (after its own rewriting) and its sender", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      makeGoStore(root)
      goMessage(root, T0, 1, rawMessage({ subject: "x" }), ["Team@Example.com", "dev@example.com"])
      yield* TestClock.setTime(T0 + 1_000)
      const relay = yield* recordingRelay()
      // The same rewriting as the Go failmail had: it must not apply twice.
      const config = testConfig(root, { messageStore: root, rewriteSrc: "^(.*)@example\\.com$", rewriteDest: "failmail+$1@example.com" })
      const pipeline = yield* startPipeline(config, relay.layer)
      const [record] = [...pipeline.storage.spool.messages.values()].map((stored) => stored.record)
      expect(record?.envelope).toEqual({ mailFrom: "app@example.org", rcptTo: ["Team@Example.com", "dev@example.com"] })
      expect(record?.sender).toBe("app@example.org")
    })
  )

  it.scoped("taken in again after a crash before its files were removed, makes no copy", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      makeGoStore(root)
      const names = [1, 2].map((serial) => goMessage(root, T0 + serial * 1_000, serial, rawMessage({ subject: `m${serial}` }), ["ops@example.com"]))
      const saved = names.flatMap((name) => ["cur", ".meta"].map((sub) => [path.join(root, sub, name), fs.readFileSync(path.join(root, sub, name))] as const))
      const config = testConfig(root, { messageStore: root })
      const context = yield* Layer.build(Layer.mergeAll(diskStorage, Classifier.Default).pipe(Layer.provideMerge(AppConfig.layer(config))))
      const spool = Context.get(context, Store)
      const run = importGoStore.pipe(Effect.provide(context))

      expect(yield* run).toBe(2)
      // A crash before the Go files were removed (or before their removal reached the disk): they are all back.
      for (const [file, content] of saved) fs.writeFileSync(file, content)
      fs.utimesSync(path.join(root, ".meta", names[0] ?? ""), (T0 + 1_000) / 1000, (T0 + 1_000) / 1000)
      fs.utimesSync(path.join(root, ".meta", names[1] ?? ""), (T0 + 2_000) / 1000, (T0 + 2_000) / 1000)
      expect(yield* run).toBe(2)
      const records = yield* spool.recover
      expect(records.map((record) => [record.id, record.receivedAt, record.subject])).toEqual([
        [goStoreId(names[0] ?? ""), T0 + 1_000, "m1"],
        [goStoreId(names[1] ?? ""), T0 + 2_000, "m2"]
      ])
      expect(filesIn(path.join(root, "cur"))).toEqual([])
    })
  )

  it.scoped("removes a message file left without metadata only once the spool holds it", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      makeGoStore(root)
      const taken = goMessage(root, T0, 1, rawMessage({ subject: "taken" }), ["ops@example.com"])
      const context = yield* Layer.build(
        Layer.mergeAll(diskStorage, Classifier.Default).pipe(Layer.provideMerge(AppConfig.layer(testConfig(root, { messageStore: root }))))
      )
      const run = importGoStore.pipe(Effect.provide(context))
      expect(yield* run).toBe(1)
      // A crash between removing the metadata and the message; and a message the Go failmail never finished storing.
      fs.writeFileSync(path.join(root, "cur", taken), rawMessage({ subject: "taken" }))
      const unfinished = "1795161700.4242_9.gohost:2,S"
      fs.writeFileSync(path.join(root, "cur", unfinished), rawMessage({ subject: "half stored" }))
      expect(yield* run).toBe(0)
      expect(filesIn(path.join(root, "cur"))).toEqual([unfinished])
      expect((yield* Context.get(context, Store).recover).map((record) => record.subject)).toEqual(["taken"])
    })
  )

  it.scoped("leaves a message whose metadata does not parse where it is, and takes in the rest", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      makeGoStore(root)
      const broken = goMessage(root, T0, 1, rawMessage({ subject: "broken meta" }), ["ops@example.com"])
      fs.writeFileSync(path.join(root, ".meta", broken), "{not json")
      goMessage(root, T0, 2, rawMessage({ subject: "fine" }), ["ops@example.com"])
      yield* TestClock.setTime(T0 + 1_000)
      const pipeline = yield* startPipeline(testConfig(root, { messageStore: root }), (yield* recordingRelay()).layer)
      expect([...pipeline.storage.spool.messages.values()].map((stored) => stored.record.subject)).toEqual(["fine"])
      expect(filesIn(path.join(root, "cur"))).toEqual([broken])
      expect(filesIn(path.join(root, ".meta"))).toEqual([broken])
    })
  )
})

describe("the spool of the previous release", () => {
  const fixture = path.join(import.meta.dirname, "fixtures", "spool-previous-release")
  const fixtureRecords = fs
    .readdirSync(path.join(fixture, "msg"))
    .sort()
    .map((name) => {
      const content = fs.readFileSync(path.join(fixture, "msg", name))
      const newline = content.indexOf(10)
      return { record: JSON.parse(content.subarray(0, newline).toString("utf8")) as SpoolRecord, raw: content.subarray(newline + 1) }
    })

  /** The embedded store on `root`, with the previous release's spool copied in. */
  const storeWithFixture = Effect.gen(function* () {
    const root = yield* tempDir
    fs.cpSync(fixture, root, { recursive: true })
    // What that release left of writes it never acknowledged.
    fs.mkdirSync(path.join(root, "tmp"))
    fs.writeFileSync(path.join(root, "tmp", "01795161604000-26870-00000004.eml"), "{\"id\":\"01795161604000-26870-00000004\"")
    const context = yield* Layer.build(diskStorage.pipe(Layer.provide(AppConfig.layer(testConfig(root, { messageStore: root })))))
    return { root, store: Context.get(context, Store), config: AppConfig.layer(testConfig(root, { messageStore: root })) }
  })

  // Summarized when due by the built daemon: test/upgrade.e2e.test.ts.
  it.scoped("is taken in at start: every message with its envelope, keys, arrival time and raw bytes; its files go", () =>
    Effect.gen(function* () {
      const { root, store, config } = yield* storeWithFixture
      expect(yield* store.recover).toEqual([])
      expect(yield* importPreviousSpool.pipe(Effect.provideService(Store, store), Effect.provide(config))).toBe(3)
      const records = yield* store.recover
      // Written 2026-11-20 at 08:00:01, :02 (batch "db", the second also to Dev@) and :03 (the default batch).
      expect(records.map((record) => [record.receivedAt, record.keys.batchKey, record.subject, record.envelope.rcptTo.join(",")])).toEqual([
        [T0 + 1_000, "db", "disk full on db1", "ops@example.com"],
        [T0 + 2_000, "db", "disk full on db1", "ops@example.com,Dev@Example.com"],
        [T0 + 3_000, "", "cron failed", "ops@example.com"]
      ])
      expect(records).toEqual(fixtureRecords.map((message) => message.record))
      for (const { record, raw } of fixtureRecords) {
        expect((yield* store.readRaw(record.id)).equals(raw)).toBe(true)
      }
      // The release's folders are gone; what it held is in the log, as a reopened store finds it.
      expect(fs.existsSync(path.join(root, "msg"))).toBe(false)
      expect(fs.existsSync(path.join(root, "tmp"))).toBe(false)
      expect(heldIn(root)).toEqual(records)
    })
  )

  it.scoped("taken in again after a crash before its files were removed, makes no copy", () =>
    Effect.gen(function* () {
      const { root, store, config } = yield* storeWithFixture
      // The crash: the first message was stored in the log, its file not yet removed.
      const [first] = fixtureRecords
      yield* store.restore(first!.record, first!.raw)
      expect(yield* importPreviousSpool.pipe(Effect.provideService(Store, store), Effect.provide(config))).toBe(3)
      expect(heldIn(root)).toEqual(fixtureRecords.map((message) => message.record))
    })
  )

  it.scoped("a file it cannot read stays where it is, with its folder; the rest are taken in", () =>
    Effect.gen(function* () {
      const { root, store, config } = yield* storeWithFixture
      fs.writeFileSync(path.join(root, "msg", "00000000000001-1-00000001.eml"), "no metadata line")
      expect(yield* importPreviousSpool.pipe(Effect.provideService(Store, store), Effect.provide(config))).toBe(3)
      expect(filesIn(path.join(root, "msg"))).toEqual(["00000000000001-1-00000001.eml"])
      expect(heldIn(root)).toHaveLength(3)
    })
  )
})
