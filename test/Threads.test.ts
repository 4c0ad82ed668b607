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

/** A digest of one batch key (several: a storm digest) to `recipientsKey`, its groups last seen at `at`. */
const digest = (
  messageId: string,
  at: number,
  groupKeys: ReadonlyArray<string>,
  batchKeys: ReadonlyArray<string> = [""],
  recipientsKey = OPS
): Threads.Digest => ({
  storm: batchKeys.length > 1,
  batchKeys,
  recipientsKey,
  messageId,
  firstAt: at,
  lastAt: at,
  groups: groupKeys.map((groupKey, i) => group(groupKey, at, batchKeys[i % batchKeys.length]))
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
      digest("<b@x>", 1, ["disk"], ["db"]),
      digest("<c@x>", 2, ["disk"], [""], "dev@example.com"),
      digest("<d@x>", 3, ["disk"], ["db"])
    ])
    expect(placed.map((p) => p.inReplyTo)).toEqual([undefined, undefined, undefined, "<b@x>"])
  })

  it("storm digests thread by recipients alone, apart from the batch keys' own threads", () => {
    const storm = Threads.threadKeyOf({ storm: true, batchKey: "a", recipientsKey: OPS })
    expect(storm).toBe(Threads.threadKeyOf({ storm: true, batchKey: "b", recipientsKey: OPS }))
    expect(storm).not.toBe(key("a"))
    const placed = placeAll([digest("<s1@x>", 0, ["a1", "b1"], ["a", "b"]), digest("<s2@x>", HOUR, ["c1", "d1"], ["c", "d"]), digest("<a@x>", 2 * HOUR, ["a1"], ["a"])])
    expect(placed.map((p) => p.inReplyTo)).toEqual([undefined, "<s1@x>", undefined])
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

  it("a digest of another batch key leaves the groups of its neighbour alone; the next digest of their own batch key lists them", () => {
    const placed = placeAll([
      digest("<a@x>", 0, ["disk", "db"], ["host-1"]),
      digest("<b@x>", 1, ["cpu"], ["host-2"]),
      digest("<c@x>", HOUR, ["disk"], ["host-1"])
    ])
    expect(placed[1]?.stopped).toEqual([])
    expect(placed[2]?.stopped).toEqual([group("db", 0, "host-1")])
  })

  it("a storm digest covers every batch key: it lists what stopped of all of them", () => {
    const placed = placeAll([
      digest("<s1@x>", 0, ["a1", "b1", "c1"], ["a", "b", "c"]),
      digest("<s2@x>", HOUR, ["a1", "b1"], ["a", "b"])
    ])
    expect(placed[1]?.stopped).toEqual([group("c1", 0, "c")])
  })

  it("a group that came since stays open: it is listed once it stops", () => {
    const placed = placeAll([digest("<a@x>", 0, ["disk", "db"]), digest("<b@x>", HOUR, ["disk"])], (g) => g.groupKey === "db")
    expect(placed[1]?.stopped).toEqual([])
    const later = Threads.place(placed[1]!.state, digest("<c@x>", 2 * HOUR, ["disk"]), FORGET, nothingSince)
    expect(later.stopped).toEqual([group("db", 0)])
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
    const { state } = Threads.place(full, digest("<new@x>", Threads.MAX_THREADS, ["disk"], [`k${Threads.MAX_THREADS}`]), FORGET, nothingSince)
    expect(state.threads.size).toBe(Threads.MAX_THREADS)
    expect(state.threads.has(key("k0"))).toBe(false)
    expect(state.threads.has(key(`k${Threads.MAX_THREADS}`))).toBe(true)
  })
})
