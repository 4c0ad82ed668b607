/**
 * The rules of threads and stopped groups (src/domain/batching/Threads.ts):
 * which digest replies to which, when a thread starts anew, what the next
 * digest to the same recipients lists as stopped, and the stored document.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import * as Threads from "../src/domain/batching/Threads.ts"

const HOUR = 3_600_000
const FORGET = 24 * HOUR
const OPS = "ops@example.com"
const key = (batchKey: string, recipientsKey = OPS) => Threads.threadKeyOf({ storm: false, batchKey, recipientsKey })
const group = (groupKey: string, lastSeen: number, batchKey = "") => ({ batchKey, groupKey, subject: `subject of ${groupKey}`, lastSeen })

const digest = (messageId: string, at: number, groupKeys: ReadonlyArray<string>, threadKey = key("")): Threads.Digest => ({
  threadKey,
  recipientsKey: OPS,
  messageId,
  firstAt: at,
  lastAt: at,
  groups: groupKeys.map((groupKey) => group(groupKey, at))
})

const nothingSince = () => false

/** Places digests in turn, each on the state the one before left. */
const placeAll = (digests: ReadonlyArray<Threads.Digest>, arrivedSince: (group: Threads.DigestGroup) => boolean = nothingSince) => {
  let state = Threads.empty
  return digests.map((next) => {
    const placed = Threads.place(state, next, FORGET, arrivedSince)
    state = placed.state
    return placed
  })
}

describe("threads", () => {
  it("the first digest starts a thread; every later one replies to that first one, not to the one before", () => {
    const placed = placeAll([digest("<a@x>", 0, ["disk"]), digest("<b@x>", HOUR, ["disk"]), digest("<c@x>", 2 * HOUR, ["disk"])])
    expect(placed.map((p) => p.inReplyTo)).toEqual([undefined, "<a@x>", "<a@x>"])
  })

  it("another batch key, or other recipients, is another thread", () => {
    const placed = placeAll([
      digest("<a@x>", 0, ["disk"]),
      digest("<b@x>", 1, ["disk"], key("db")),
      digest("<c@x>", 2, ["disk"], key("", "dev@example.com")),
      digest("<d@x>", 3, ["disk"], key("db"))
    ])
    expect(placed.map((p) => p.inReplyTo)).toEqual([undefined, undefined, undefined, "<b@x>"])
  })

  it("storm digests thread by recipients alone, apart from the batch keys' own threads", () => {
    const storm = Threads.threadKeyOf({ storm: true, batchKey: "a", recipientsKey: OPS })
    expect(storm).toBe(Threads.threadKeyOf({ storm: true, batchKey: "b", recipientsKey: OPS }))
    expect(storm).not.toBe(key("a"))
    const placed = placeAll([digest("<s1@x>", 0, ["a"], storm), digest("<s2@x>", HOUR, ["b"], storm)])
    expect(placed.map((p) => p.inReplyTo)).toEqual([undefined, "<s1@x>"])
  })

  it("after --forget-after without a message the next digest starts a new thread; up to it, it continues", () => {
    const continued = placeAll([digest("<a@x>", 0, ["disk"]), digest("<b@x>", FORGET, ["disk"])])
    expect(continued[1]?.inReplyTo).toBe("<a@x>")
    const anew = placeAll([digest("<a@x>", 0, ["disk"]), digest("<b@x>", FORGET + 1, ["disk"]), digest("<c@x>", FORGET + 2, ["disk"])])
    expect(anew.map((p) => p.inReplyTo)).toEqual([undefined, undefined, "<b@x>"])
  })

  it("a digest built again gets the same answers: the first of a thread never replies to itself", () => {
    const first = digest("<a@x>", 0, ["disk", "db"])
    const second = digest("<b@x>", HOUR, ["disk"])
    const placed = placeAll([first, first, second, second])
    expect(placed.map((p) => p.inReplyTo)).toEqual([undefined, undefined, "<a@x>", "<a@x>"])
    expect(placed[3]?.stopped).toEqual(placed[2]?.stopped)
    expect(placed[3]?.stopped.map((g) => g.groupKey)).toEqual(["db"])
  })
})

describe("stopped groups", () => {
  it("lists the groups of the previous digest to the same recipients that are not in this one", () => {
    const placed = placeAll([digest("<a@x>", 0, ["disk", "db", "cpu"]), digest("<b@x>", HOUR, ["disk"]), digest("<c@x>", 2 * HOUR, ["disk"])])
    expect(placed[0]?.stopped).toEqual([])
    expect(placed[1]?.stopped).toEqual([group("db", 0), group("cpu", 0)])
    // Only once: the third digest's previous one held "disk" alone.
    expect(placed[2]?.stopped).toEqual([])
  })

  it("leaves out a group that came since (still waiting, or reported in another digest)", () => {
    const placed = placeAll([digest("<a@x>", 0, ["disk", "db"]), digest("<b@x>", HOUR, ["cpu"])], (g) => g.groupKey === "db")
    expect(placed[1]?.stopped.map((g) => g.groupKey)).toEqual(["disk"])
  })

  it("the previous digest is the last one to the recipients, whatever its batch key", () => {
    const placed = placeAll([digest("<a@x>", 0, ["disk"], key("host-1")), digest("<b@x>", HOUR, ["db"], key("host-2"))])
    expect(placed[1]?.stopped).toEqual([group("disk", 0)])
  })

  it("lists at most 20", () => {
    const many = Array.from({ length: 50 }, (_, i) => `g${i}`)
    const placed = placeAll([digest("<a@x>", 0, many), digest("<b@x>", HOUR, ["other"])])
    expect(placed[1]?.stopped).toHaveLength(Threads.MAX_STOPPED)
    expect(placed[1]?.stopped[0]?.groupKey).toBe("g0")
  })

  it("not after --forget-after: the previous digest is forgotten then", () => {
    const placed = placeAll([digest("<a@x>", 0, ["disk"]), digest("<b@x>", FORGET + 1, ["db"])])
    expect(placed[1]?.stopped).toEqual([])
  })
})

describe("the stored document", () => {
  it("reads back what was stored", () => {
    const placed = placeAll([digest("<a@x>", 0, ["disk", "db"]), digest("<b@x>", HOUR, ["disk"])])
    const state = placed[1]!.state
    const back = Threads.stateOf(JSON.parse(JSON.stringify(Threads.documentOf(state))))
    expect(back).toEqual(Either.right(state))
  })

  it("nothing stored is nothing remembered; a document that is not one is a problem to report", () => {
    expect(Threads.stateOf(undefined)).toEqual(Either.right(Threads.empty))
    expect(Either.isLeft(Threads.stateOf({ threads: "no" }))).toBe(true)
  })

  it("is bounded: the threads quiet longest are forgotten first", () => {
    const full: Threads.State = {
      threads: new Map(Array.from({ length: Threads.MAX_THREADS }, (_, i) => [key(`k${i}`), { key: key(`k${i}`), root: `<m${i}@x>`, lastAt: i }])),
      digests: new Map()
    }
    const { state } = Threads.place(full, digest("<new@x>", Threads.MAX_THREADS, ["disk"], key(`k${Threads.MAX_THREADS}`)), FORGET, nothingSince)
    expect(state.threads.size).toBe(Threads.MAX_THREADS)
    expect(state.threads.has(key("k0"))).toBe(false)
    expect(state.threads.has(key(`k${Threads.MAX_THREADS}`))).toBe(true)
  })
})
