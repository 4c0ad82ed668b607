/** Held summaries and storm digests: pure rules. */
import { describe, expect, it } from "vitest"
import type { PendingMessage } from "../src/domain/batching/Batching.ts"
import * as Outgoing from "../src/domain/delivery/Outgoing.ts"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"

const message = (id: string, recipients: ReadonlyArray<string>): PendingMessage => ({
  id,
  receivedAt: 0,
  groupKey: "g",
  subject: "s",
  sender: "app@example.com",
  recipients,
  recipientsKey: recipients.join("\n"),
  size: 1
})

const held = (batchKey: string, dueAt: number, to: ReadonlyArray<string>, count = 1): Outgoing.Outgoing => ({
  recipients: to,
  recipientsKey: to.join("\n"),
  parts: [{ batchKey, messages: Array.from({ length: count }, (_, i) => message(`${batchKey}-${i}`, to)), held: [] }],
  dueAt
})

describe("Outgoing.outgoingOf", () => {
  it("one summary per recipient set, each naming its batch", () => {
    const items = Outgoing.outgoingOf(
      { key: "k", messages: [message("1", ["a@x"]), message("2", ["b@x"]), message("3", ["a@x"])] },
      [],
      5
    )
    expect(items.map((item) => [item.recipients, item.parts.map((p) => [p.batchKey, p.messages.length]), item.dueAt])).toEqual([
      [["a@x"], [["k", 2]], 5],
      [["b@x"], [["k", 1]], 5]
    ])
  })
})

describe("Outgoing.summaryIdOf (the Message-ID of a summary)", () => {
  const to = ["ops@x"]
  const summary = (parts: ReadonlyArray<[string, ReadonlyArray<string>]>, recipients = to): Outgoing.Outgoing => ({
    recipients,
    recipientsKey: recipients.join("\n"),
    parts: parts.map(([batchKey, ids]) => ({ batchKey, messages: ids.map((id) => message(id, recipients)), held: [] })),
    dueAt: 0
  })

  it("the same batch gives the same id, whoever builds it, in whatever order it holds its messages", () => {
    const id = Outgoing.summaryIdOf(summary([["k", ["1", "2"]]]))
    expect(id).toMatch(/^[0-9a-f]{40}$/)
    expect(Outgoing.summaryIdOf(summary([["k", ["2", "1"]]]))).toBe(id)
    const later: Outgoing.Outgoing = { ...summary([["k", ["1", "2"]]]), dueAt: 99 }
    expect(Outgoing.summaryIdOf(later)).toBe(id)
  })

  it("another message, batch key or recipient set gives another id", () => {
    const id = Outgoing.summaryIdOf(summary([["k", ["1", "2"]]]))
    expect(Outgoing.summaryIdOf(summary([["k", ["1", "2", "3"]]]))).not.toBe(id)
    expect(Outgoing.summaryIdOf(summary([["j", ["1", "2"]]]))).not.toBe(id)
    expect(Outgoing.summaryIdOf(summary([["k", ["1", "2"]]], ["dev@x"]))).not.toBe(id)
    expect(Outgoing.summaryIdOf(summary([["k", ["1"]], ["j", ["2"]]]))).not.toBe(id)
  })

  it("a storm digest's id does not depend on the order of its batches", () => {
    expect(Outgoing.summaryIdOf(summary([["k", ["1"]], ["j", ["2"]]]))).toBe(Outgoing.summaryIdOf(summary([["j", ["2"]], ["k", ["1"]]])))
  })
})

describe("Outgoing.takeNext", () => {
  const ops = ["ops@x"]
  const dev = ["dev@x"]

  it("while the budget allows more than one send, the oldest goes alone", () => {
    const taken = Outgoing.takeNext([held("b", 2, ops), held("a", 1, ops)], 2)
    expect(taken?.next.parts.map((p) => p.batchKey)).toEqual(["a"])
    expect(taken?.rest.map((item) => item.parts[0]?.batchKey)).toEqual(["b"])
  })

  it("on the budget's last send, every summary held for the oldest one's recipients merges into one storm digest", () => {
    const taken = Outgoing.takeNext([held("b", 2, ops, 3), held("x", 0, dev), held("a", 1, ops, 2), held("c", 3, ops)], 1)
    expect(taken?.next.recipients).toEqual(dev)
    expect(Outgoing.isStorm(taken!.next)).toBe(false)
    const second = Outgoing.takeNext(taken!.rest, 1)
    expect(second?.next.parts.map((p) => [p.batchKey, p.messages.length])).toEqual([
      ["b", 3],
      ["a", 2],
      ["c", 1]
    ])
    expect(Outgoing.isStorm(second!.next)).toBe(true)
    expect(second?.next.dueAt).toBe(1)
    expect(Outgoing.messageCountOf(second!.next)).toBe(6)
    expect(second?.rest).toEqual([])
  })

  it("a batch key held twice becomes one part", () => {
    const merged = Outgoing.merge([held("a", 1, ops, 2), held("a", 4, ops, 1)])
    expect(merged.parts.map((p) => [p.batchKey, p.messages.length])).toEqual([["a", 3]])
  })

  it("nothing held: nothing to take", () => {
    expect(Outgoing.takeNext([], 5)).toBeUndefined()
  })
})

describe("Outgoing.sendable: a flood over 1,000 batch keys at 10/s", () => {
  const rate = RelayBudget.rateOf(10, 1_000)

  /**
   * 100 batches for one recipient come due every second for 10 s; at each
   * instant something comes due or the budget allows the next send, what the
   * budget allows goes out (as the Outbox does).
   */
  const flood = () => {
    const due = new Map<number, Array<Outgoing.Outgoing>>()
    for (let key = 0; key < 1_000; key++) {
      const at = 30_000 + Math.floor(key / 100) * 1_000 + (key % 100) * 7
      due.set(at, [...(due.get(at) ?? []), held(`key-${key}`, at, ["ops@x"], 1 + (key % 3))])
    }
    let waiting: ReadonlyArray<Outgoing.Outgoing> = []
    let log: RelayBudget.SendLog = []
    const sent: Array<{ readonly at: number; readonly outgoing: Outgoing.Outgoing }> = []
    for (let now = 0; now <= 60_000; now++) {
      const arriving = due.get(now) ?? []
      if (arriving.length === 0 && !(waiting.length > 0 && RelayBudget.nextSendAt(log, now, rate) <= now)) continue
      // Sends done at once here: each is recorded in the log as it goes.
      const step = Outgoing.sendable([...waiting, ...arriving], log, now, rate, 0)
      waiting = step.held
      for (const _ of step.send) log = RelayBudget.record(log, now, rate)
      for (const outgoing of step.send) sent.push({ at: now, outgoing })
    }
    return { sent, waiting, dueCount: [...due.values()].flat().length }
  }

  it("no one-second window holds more than 10 summaries", () => {
    const times = flood().sent.map((s) => s.at)
    for (const start of times) expect(times.filter((at) => at >= start && at < start + 1_000).length).toBeLessThanOrEqual(10)
  })

  it("every message is summarized, each batch once, within one budget period of coming due", () => {
    const { sent, waiting, dueCount } = flood()
    expect(waiting).toEqual([])
    expect(dueCount).toBe(1_000)
    const keys = sent.flatMap((s) => s.outgoing.parts.map((part) => part.batchKey))
    expect(new Set(keys).size).toBe(1_000)
    expect(keys).toHaveLength(1_000)
    const messages = sent.reduce((sum, s) => sum + Outgoing.messageCountOf(s.outgoing), 0)
    expect(messages).toBe(Array.from({ length: 1_000 }, (_, key) => 1 + (key % 3)).reduce((a, b) => a + b, 0))
    for (const { at, outgoing } of sent) expect(at - outgoing.dueAt).toBeLessThanOrEqual(1_000)
    // A flood of 1,000 becomes a few storm digests, not 1,000 summaries.
    expect(sent.length).toBeLessThanOrEqual(110)
    expect(sent.some((s) => Outgoing.isStorm(s.outgoing))).toBe(true)
  })
})
