/**
 * Silences: the rules (validation naming the field, matching) and, on the
 * TestClock through the whole pipeline, what a user sees: a silenced
 * message never causes a summary, a summary that goes out for other
 * reasons ends with what each silence held back, and what a silence held
 * is summarized exactly when it ends (on time or deleted).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { simpleParser } from "mailparser"
import * as Matchers from "../src/domain/silences/Matchers.ts"
import * as Silence from "../src/domain/silences/Silence.ts"
import * as SilenceLink from "../src/domain/silences/SilenceLink.ts"
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

const T0 = Date.parse("2026-11-26T10:00:00Z")
const HOUR = 3_600_000
const WAIT = 30_000

describe("creating a silence", () => {
  const create = (request: Partial<Silence.SilenceRequest>) =>
    Silence.create({ match: { subject: "^disk" }, for: "1h", ...request }, "id1", T0)
  const fieldOf = (result: Silence.Silence | Matchers.FieldError) => ("field" in result ? result.field : "(valid)")

  it("takes matchers, a duration or an end time, a comment and an author", () => {
    expect(create({ comment: " known ", author: "ann" })).toEqual({
      id: "id1",
      match: { subject: "^disk" },
      startsAt: T0,
      endsAt: T0 + HOUR,
      comment: "known",
      author: "ann"
    })
    expect(create({ for: undefined, until: "2026-11-26T12:30:00+01:00" })).toMatchObject({ endsAt: T0 + 1.5 * HOUR })
  })

  it("names the field that is wrong", () => {
    expect(fieldOf(create({ match: {} }))).toBe("match")
    expect(fieldOf(create({ match: { subject: "(" } }))).toBe("match.subject")
    expect(fieldOf(create({ match: { subjet: "x" } }))).toBe("match.subjet")
    expect(fieldOf(create({ for: undefined }))).toBe("for")
    expect(fieldOf(create({ until: "2026-11-26T12:00:00Z" }))).toBe("for")
    expect(fieldOf(create({ for: "1 hour" }))).toBe("for")
    expect(fieldOf(create({ for: "0s" }))).toBe("for")
    expect(fieldOf(create({ for: undefined, until: "2026-11-26T09:00:00Z" }))).toBe("until")
    expect(fieldOf(create({ for: undefined, until: "tomorrow" }))).toBe("until")
  })
})

describe("matching", () => {
  const target: Matchers.MatchTarget = {
    batch: "web",
    group: "disk full on db1",
    subject: "disk full on db1",
    from: "cron@db1.example.com",
    to: ["ops@example.com", "dba@example.com"]
  }
  const matches = (matchers: Matchers.Matchers) => {
    const compiled = Matchers.compile(matchers as Record<string, string>)
    if (Matchers.isFieldError(compiled)) throw new Error(compiled.message)
    return Matchers.matches(compiled, target)
  }

  it("needs every matcher to match; to matches when any recipient does", () => {
    expect(matches({ subject: "^disk", from: "@db1\\." })).toBe(true)
    expect(matches({ subject: "^disk", from: "@db2\\." })).toBe(false)
    expect(matches({ to: "^dba@" })).toBe(true)
    expect(matches({ batch: Matchers.exactly("we") })).toBe(false)
    expect(matches({ batch: Matchers.exactly("web"), group: Matchers.exactly("disk full on db1") })).toBe(true)
  })

  it("the silence ending last holds a message several silences match", () => {
    const silence = (id: string, endsAt: number) => Silence.compiled({ id, match: { subject: "disk" }, startsAt: T0, endsAt, comment: "", author: "" })!
    expect(Silence.holderOf([silence("a", T0 + HOUR), silence("b", T0 + 2 * HOUR)], target)?.id).toBe("b")
  })
})

describe("signed silence links", () => {
  const key = Buffer.alloc(32, 7)
  const claim = { match: SilenceLink.groupMatchers("web", "disk full"), forMs: HOUR, issuedAt: T0 }
  const token = SilenceLink.sign(key, claim)

  it("carries the matchers, the duration and the issue time, under the key's signature", () => {
    expect(SilenceLink.verify(key, token, T0 + HOUR)).toEqual(claim)
    expect(claim.match).toEqual({ batch: "^web$", group: "^disk full$" })
  })

  it("refuses a changed link, one signed with another key, and one older than 7 days", () => {
    const [payload, signature] = token.split(".")
    const other = Buffer.from(JSON.stringify([{ subject: "." }, 24 * HOUR, T0]), "utf8").toString("base64url")
    expect(SilenceLink.verify(key, `${other}.${signature}`, T0)).toMatchObject({ refused: expect.stringContaining("signature") })
    expect(SilenceLink.verify(Buffer.alloc(32, 8), token, T0)).toMatchObject({ refused: expect.stringContaining("signature") })
    expect(SilenceLink.verify(key, `${payload}`, T0)).toMatchObject({ refused: expect.any(String) })
    expect(SilenceLink.verify(key, token, T0 + SilenceLink.MAX_LINK_AGE_MS)).toEqual(claim)
    expect(SilenceLink.verify(key, token, T0 + SilenceLink.MAX_LINK_AGE_MS + 1)).toEqual({ refused: "this link is older than 7 days" })
  })

  it("are made for each summary group only when failmail knows its public URL", () => {
    expect(SilenceLink.groupLinks(key, "", { batchKey: "web", groupKey: "g" }, T0)).toEqual([])
    const links = SilenceLink.groupLinks(key, "https://failmail.example.com/ops/", { batchKey: "web", groupKey: "g" }, T0)
    expect(links.map((link) => link.label)).toEqual(["silence 1 h", "silence 24 h"])
    expect(links[1]!.url).toMatch(/^https:\/\/failmail\.example\.com\/ops\/silence\?t=[\w-]+\.[\w-]+$/)
  })
})

const tempDir = scopedTempDir("failmail-silences-")

const setup = Effect.gen(function* () {
  const dir = yield* tempDir
  const relay = yield* recordingRelay()
  const pipeline = yield* startPipeline(testConfig(dir), relay.layer)
  const accept = (subject: string) =>
    pipeline.intake.accept(rawMessage({ subject }), { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] })
  const textOf = (index: number) => Effect.promise(async () => (await simpleParser(relay.sent[index]!.raw)).text ?? "")
  return { ...pipeline, relay, accept, textOf }
})

describe("silenced mail in the pipeline (TestClock)", () => {
  it.scoped("a silenced message causes no summary, is counted, and is summarized exactly when the silence ends", () =>
    Effect.gen(function* () {
      const p = yield* setup
      yield* p.silences.create({ match: { subject: "^disk" }, for: "1h", comment: "db1 disk being replaced" })
      yield* p.accept("disk full on db1")
      yield* expectWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      expect((yield* p.batcher.counts).silenced).toBe(1)
      expect(p.relay.attempts).toHaveLength(0)
      expect(yield* p.batcher.counts).toMatchObject({ batches: 0, messages: 0, silenced: 1 })

      yield* advanceTo(HOUR - 1)
      expect(p.relay.attempts).toHaveLength(0)
      yield* advanceTo(HOUR)
      expect(p.relay.sent.length === 1).toBe(true)
      expect(p.relay.sent[0]!.at).toBe(HOUR)
      expect(yield* p.textOf(0)).toContain('Subject: "disk full on db1"')
      expect(yield* p.batcher.counts).toMatchObject({ silenced: 0 })
    })
  )

  it.scoped("a summary that goes out for other reasons ends with what each silence held back", () =>
    Effect.gen(function* () {
      const p = yield* setup
      const silence = yield* p.silences.create({ match: { subject: "^disk" }, for: "1h", comment: "known", author: "ann" })
      yield* p.accept("disk full on db1")
      yield* p.accept("disk full on db2")
      yield* p.accept("cpu hot")
      yield* expectWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      expect(p.relay.sent.length === 1).toBe(true)
      const text = yield* p.textOf(0)
      expect(text).toContain('Subject: "cpu hot"')
      expect(text).not.toContain('Subject: "disk full')
      expect(text).toMatch(new RegExp(`Silence ${silence.id} \\(subject=~"\\^disk", "known" by ann\\) until .*: held back 2 messages`))
      expect(text.trimEnd().split("\n").at(-1)).toContain("held back 2 messages")
      expect(yield* p.batcher.counts).toMatchObject({ silenced: 2 })
    })
  )

  it.scoped("ending a silence early summarizes what it held at once", () =>
    Effect.gen(function* () {
      const p = yield* setup
      const silence = yield* p.silences.create({ match: { subject: "^disk" }, for: "24h" })
      yield* p.accept("disk full on db1")
      yield* expectWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      expect((yield* p.batcher.counts).silenced).toBe(1)
      yield* advanceTo(10 * 60_000)
      yield* p.silences.end(silence.id)
      yield* idle
      expect(p.relay.sent.length === 1).toBe(true)
      expect(p.relay.sent[0]!.at).toBe(10 * 60_000)
      expect((yield* p.silences.list)[0]).toMatchObject({ id: silence.id, endsAt: 10 * 60_000 })
    })
  )

  it.scoped("a silence that cannot be saved is refused and holds nothing back; an end that cannot be saved leaves it in force", () =>
    Effect.gen(function* () {
      const p = yield* setup
      p.storage.state.unwritable = true
      const refused = yield* Effect.flip(p.silences.create({ match: { subject: "^disk" }, for: "1h" }))
      expect(refused).toMatchObject({ _tag: "StateError", operation: "write silences" })
      expect(yield* p.silences.list).toEqual([])
      // Writable again before the summary is due: nothing goes out before the relay budget's record is saved.
      p.storage.state.unwritable = false
      yield* p.accept("disk full on db1")
      yield* advanceTo(WAIT)
      expect(p.relay.sent.length === 1).toBe(true)

      const silence = yield* p.silences.create({ match: { subject: "^disk" }, for: "1h" })
      p.storage.state.unwritable = true
      expect(yield* Effect.flip(p.silences.end(silence.id))).toMatchObject({ _tag: "StateError" })
      yield* p.accept("disk full on db2")
      yield* advanceTo(2 * WAIT + 1_000)
      expect(p.relay.attempts).toHaveLength(1)
      expect((yield* p.batcher.counts).silenced).toBe(1)
    })
  )

  it.scoped("a message that arrives after the silence ended is summarized as usual", () =>
    Effect.gen(function* () {
      const p = yield* setup
      yield* p.silences.create({ match: { subject: "^disk" }, for: "10s" })
      yield* p.accept("disk full on db1")
      yield* expectWakeUpAt(WAIT)
      yield* advanceTo(WAIT)
      expect(p.relay.sent.length === 1).toBe(true)
      expect(p.relay.sent[0]!.at).toBe(WAIT)
    })
  )

  it.scoped("silences and what they hold survive a reload: held mail stays held, and is summarized when the silence ends", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const relay = yield* recordingRelay()
      const shared = yield* keptAcrossReloads()
      const old = yield* startPipeline(testConfig(dir), relay.layer, shared)
      const silence = yield* old.silences.create({ match: { subject: "^disk" }, for: "1h" })
      yield* old.intake.accept(rawMessage({ subject: "disk full on db1" }), { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] })
      yield* advanceTo(WAIT)
      expect((yield* old.batcher.counts).silenced).toBe(1)

      const next = yield* reload(old, testConfig(dir), relay.layer, shared)
      expect((yield* next.silences.list).map((s) => s.id)).toEqual([silence.id])
      expect((yield* next.batcher.counts).silenced).toBe(1)
      expect(relay.attempts).toHaveLength(0)

      yield* advanceTo(HOUR)
      expect(relay.sent).toHaveLength(1)
      expect(relay.sent[0]!.at).toBe(HOUR)
    })
  )

  it.scoped("on stop, held mail stays in the spool (summarized after the silence, never lost)", () =>
    Effect.gen(function* () {
      const p = yield* setup
      yield* p.silences.create({ match: { subject: "^disk" }, for: "1h" })
      yield* p.accept("disk full on db1")
      yield* p.accept("cpu hot")
      yield* advanceTo(WAIT)
      expect(p.relay.sent).toHaveLength(1)
      yield* p.close
      expect(p.relay.attempts).toHaveLength(1)
      expect([...p.storage.spool.messages.values()].map((m) => m.record.subject)).toEqual(["disk full on db1"])
    })
  )

  it.scoped("silences survive a restart: held mail is held again, and summarized exactly when the silence ends", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const relay = yield* recordingRelay()
      const storage = memoryStorage()
      const before = yield* startPipeline(testConfig(dir), relay.layer, { storage })
      const silence = yield* before.silences.create({ match: { subject: "^disk" }, for: "1h", comment: "disk swap" })
      yield* before.intake.accept(rawMessage({ subject: "disk full on db1" }), { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] })
      yield* advanceTo(WAIT)
      yield* before.close
      expect(relay.attempts).toHaveLength(0)
      expect(storage.state.documents.has("silences")).toBe(true)

      yield* advanceTo(10 * 60_000)
      const after = yield* startPipeline(testConfig(dir), relay.layer, { storage })
      expect(yield* after.silences.list).toEqual([expect.objectContaining({ id: silence.id, comment: "disk swap", endsAt: HOUR })])
      expect((yield* after.batcher.counts).silenced).toBe(1)
      expect(relay.attempts).toHaveLength(0)
      yield* advanceTo(HOUR - 1)
      expect(relay.attempts).toHaveLength(0)
      yield* advanceTo(HOUR)
      expect(relay.sent.map((sent) => sent.at)).toEqual([HOUR])
    })
  )
})
