/**
 * Expected mail: the rules (validation naming the field, deadlines, one
 * notice each way) and, on the TestClock through the whole pipeline, what
 * a user sees: matching messages are not summarized, the "missing" notice
 * goes out exactly `every` after the last match (once), and the "back"
 * notice once when a matching message arrives again.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Expectation from "../src/domain/expectations/Expectation.ts"
import { readHeaders } from "../src/domain/message/HeaderBlock.ts"
import {
  advanceTo,
  expectWakeUpAt,
  idle,
  keptAcrossReloads,
  memoryStorage,
  rawMessage,
  recordingRelay,
  reload,
  startPipeline,
  testConfig
} from "./support/pipeline.ts"
import { scopedTempDir } from "./support/tempdir.ts"

const HOUR = 3_600_000
const WAIT = 30_000

describe("creating an expectation", () => {
  const request: Expectation.ExpectationRequest = {
    name: "nightly backup",
    match: { subject: "^backup OK" },
    every: "24h",
    to: ["Ops@Example.com"]
  }
  const fieldOf = (overrides: Partial<Expectation.ExpectationRequest>) => {
    const result = Expectation.create({ ...request, ...overrides }, "e1", 0)
    return "field" in result ? result.field : "(valid)"
  }

  it("takes a name, matchers, a period and recipients", () => {
    expect(Expectation.create(request, "e1", 1000)).toEqual({
      id: "e1",
      name: "nightly backup",
      match: { subject: "^backup OK" },
      everyMs: 24 * HOUR,
      to: ["ops@example.com"],
      createdAt: 1000,
      lastMetAt: 0,
      missingSince: 0
    })
  })

  it("names the field that is wrong", () => {
    expect(fieldOf({ name: " " })).toBe("name")
    expect(fieldOf({ match: {} })).toBe("match")
    expect(fieldOf({ match: { subject: "[" } })).toBe("match.subject")
    expect(fieldOf({ every: "daily" })).toBe("every")
    expect(fieldOf({ every: "0s" })).toBe("every")
    expect(fieldOf({ to: [] })).toBe("to")
    expect(fieldOf({ to: ["not an address"] })).toBe("to")
  })

  it("is missing every after it was last met (or created), once; a match makes it back", () => {
    const created = Expectation.create(request, "e1", 0) as Expectation.Expectation
    expect(Expectation.missingAt(created, 24 * HOUR - 1)).toBeUndefined()
    const missing = Expectation.missingAt(created, 24 * HOUR)!
    expect(Expectation.noticeSubject("missing", missing, "[failmail]")).toBe("[failmail] missing: nightly backup (last seen never)")
    expect(Expectation.missingAt(missing, 48 * HOUR)).toBeUndefined()
    const { next, back } = Expectation.met(missing, 30 * HOUR)
    expect(back).toBe(true)
    expect(Expectation.deadline(next)).toBe(54 * HOUR)
    expect(Expectation.met(next, 31 * HOUR).back).toBe(false)
  })
})

const tempDir = scopedTempDir("failmail-expectations-")

/** The expectation the pipeline tests create: a backup that reports OK at least `every`. */
const nightlyBackup = (every: string): Expectation.ExpectationRequest => ({
  name: "nightly backup",
  match: { subject: "^backup OK" },
  every,
  to: ["oncall@example.com"]
})

/** A pipeline on a store that outlives it, expecting the nightly backup hourly: what a restart must keep. */
const startForRestart = Effect.gen(function* () {
  const dir = yield* tempDir
  const relay = yield* recordingRelay()
  const storage = memoryStorage()
  const before = yield* startPipeline(testConfig(dir), relay.layer, { storage })
  yield* before.expectations.create(nightlyBackup("1h"))
  return { dir, relay, storage, before }
})

describe("expected mail in the pipeline (TestClock)", () => {
  it.scoped("missing fires exactly at every, once; back fires once; matching mail is never summarized", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const relay = yield* recordingRelay()
      const p = yield* startPipeline(testConfig(dir), relay.layer)
      const accept = (subject: string) =>
        p.intake.accept(rawMessage({ subject }), { mailFrom: "cron@example.com", rcptTo: ["ops@example.com"] })
      const subjects = () => relay.sent.map((sent) => readHeaders(sent.raw)["subject"])

      yield* p.expectations.create(nightlyBackup("1h"))
      yield* expectWakeUpAt(HOUR)
      yield* advanceTo(HOUR - 1)
      expect(relay.attempts).toHaveLength(0)

      yield* advanceTo(HOUR)
      expect(relay.sent.length === 1).toBe(true)
      expect(relay.sent[0]).toMatchObject({ at: HOUR, envelope: { to: ["oncall@example.com"] } })
      expect(subjects()).toEqual(["[failmail] missing: nightly backup (last seen never)"])
      yield* advanceTo(5 * HOUR)
      expect(relay.attempts).toHaveLength(1)

      yield* accept("backup OK: 12 GB")
      yield* idle
      expect(relay.sent.length === 2).toBe(true)
      expect(subjects()[1]).toBe("[failmail] back: nightly backup (missing since 1970-01-01T01:00:00.000Z)")
      expect(relay.sent[1]!.at).toBe(5 * HOUR)
      expect(yield* p.batcher.counts).toMatchObject({ batches: 0, messages: 0 })
      expect((yield* p.expectations.list)[0]).toMatchObject({ lastMetAt: 5 * HOUR, missingSince: 0 })

      // met again before its deadline: no notice, and the routine message is not summarized
      yield* advanceTo(5 * HOUR + 30 * 60_000)
      yield* accept("backup OK: 13 GB")
      yield* advanceTo(6 * HOUR + 30 * 60_000 - 1)
      expect(relay.attempts).toHaveLength(2)
      yield* expectWakeUpAt(6 * HOUR + 30 * 60_000)
      yield* advanceTo(6 * HOUR + 30 * 60_000)
      expect(relay.sent.length === 3).toBe(true)
      expect(subjects()[2]).toBe("[failmail] missing: nightly backup (last seen 1970-01-01T05:30:00.000Z)")
      expect(p.storage.spool.messages.size).toBe(0)
    })
  )

  it.scoped("an expectation that cannot be saved is refused and never notifies; a deletion that cannot be saved keeps it, its notice waiting for the budget's save", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const relay = yield* recordingRelay()
      const p = yield* startPipeline(testConfig(dir), relay.layer)
      const request = { name: "nightly backup", match: { subject: "^backup OK" }, every: "1h", to: ["oncall@example.com"] }
      p.storage.state.unwritable = true
      expect(yield* Effect.flip(p.expectations.create(request))).toMatchObject({ _tag: "StateError", operation: "write expectations" })
      expect(yield* p.expectations.list).toEqual([])
      yield* advanceTo(2 * HOUR)
      expect(relay.attempts).toHaveLength(0)

      p.storage.state.unwritable = false
      const kept = yield* p.expectations.create(request)
      p.storage.state.unwritable = true
      expect(yield* Effect.flip(p.expectations.remove(kept.id))).toMatchObject({ _tag: "StateError" })
      expect((yield* p.expectations.list).map((expectation) => expectation.id)).toEqual([kept.id])
      yield* advanceTo(3 * HOUR)
      // Its notice is due, but no send goes before the relay budget's record is saved.
      expect(relay.sent).toHaveLength(0)
      p.storage.state.unwritable = false
      yield* advanceTo(3 * HOUR + 1_000)
      expect(relay.sent.length === 1).toBe(true)
    })
  )

  it.scoped("other mail is summarized as usual", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const relay = yield* recordingRelay()
      const p = yield* startPipeline(testConfig(dir), relay.layer)
      yield* p.expectations.create(nightlyBackup("24h"))
      yield* p.intake.accept(rawMessage({ subject: "backup FAILED" }), { mailFrom: "cron@example.com", rcptTo: ["ops@example.com"] })
      yield* expectWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      expect(relay.sent.length === 1).toBe(true)
      expect(readHeaders(relay.sent[0]!.raw)["subject"]).toBe("[failmail] 1 instance: backup FAILED")
    })
  )

  it.scoped("expectations survive a reload without resetting their clocks, and a notice sent is not sent again", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const relay = yield* recordingRelay()
      const shared = yield* keptAcrossReloads()
      const first = yield* startPipeline(testConfig(dir), relay.layer, shared)
      yield* first.expectations.create(nightlyBackup("1h"))
      yield* advanceTo(HOUR / 2)
      const second = yield* reload(first, testConfig(dir), relay.layer, shared)
      yield* expectWakeUpAt(HOUR)
      yield* advanceTo(HOUR - 1)
      expect(relay.attempts).toHaveLength(0)
      yield* advanceTo(HOUR)
      expect(relay.sent).toHaveLength(1)

      const third = yield* reload(second, testConfig(dir), relay.layer, shared)
      yield* advanceTo(3 * HOUR)
      expect(relay.attempts).toHaveLength(1)
      expect((yield* third.expectations.list)[0]).toMatchObject({ missingSince: HOUR })
    })
  )

  it.scoped("a restart does not reset an expectation's clock: the deadline counts from the stored last-met time", () =>
    Effect.gen(function* () {
      const { dir, relay, storage, before } = yield* startForRestart
      yield* advanceTo(HOUR / 4)
      yield* before.intake.accept(rawMessage({ subject: "backup OK" }), { mailFrom: "cron@example.com", rcptTo: ["ops@example.com"] })
      yield* idle
      yield* before.close

      yield* advanceTo(HOUR)
      const after = yield* startPipeline(testConfig(dir), relay.layer, { storage })
      expect((yield* after.expectations.list)[0]).toMatchObject({ lastMetAt: HOUR / 4, missingSince: 0 })
      yield* expectWakeUpAt(HOUR + HOUR / 4)
      yield* advanceTo(HOUR + HOUR / 4 - 1)
      expect(relay.attempts).toHaveLength(0)
      yield* advanceTo(HOUR + HOUR / 4)
      expect(relay.sent).toHaveLength(1)
      yield* after.close

      // a notice sent before a restart is not sent again after it
      const again = yield* startPipeline(testConfig(dir), relay.layer, { storage })
      yield* advanceTo(5 * HOUR)
      expect(relay.attempts).toHaveLength(1)
      expect((yield* again.expectations.list)[0]).toMatchObject({ missingSince: HOUR + HOUR / 4 })
    })
  )

  it.scoped("when failmail was down at the deadline, the missing notice goes out once at the next start", () =>
    Effect.gen(function* () {
      const { dir, relay, storage, before } = yield* startForRestart
      yield* before.close
      yield* advanceTo(3 * HOUR)
      yield* startPipeline(testConfig(dir), relay.layer, { storage })
      expect(relay.sent.map((sent) => [sent.at, readHeaders(sent.raw)["subject"]])).toEqual([
        [3 * HOUR, "[failmail] missing: nightly backup (last seen never)"]
      ])
    })
  )
})
