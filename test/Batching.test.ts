import { describe, expect, it } from "@effect/vitest"
import * as Batching from "../src/domain/batching/Batching.ts"
import type { Received } from "../src/domain/message/Message.ts"

const timing: Batching.Timing = { waitPeriodMs: 30_000, maxWaitMs: 300_000 }

let nextId = 0
const received = (fields: Partial<Omit<Received, "envelope">> & { readonly to?: ReadonlyArray<string> } = {}): Received => ({
  id: fields.id ?? `m${++nextId}`,
  receivedAt: fields.receivedAt ?? 0,
  envelope: { mailFrom: fields.sender ?? "app@example.com", rcptTo: fields.to ?? ["ops@example.com"] },
  batchKey: fields.batchKey ?? "",
  groupKey: fields.groupKey ?? fields.subject ?? "subject",
  subject: fields.subject ?? "subject",
  sender: fields.sender ?? "app@example.com",
  size: fields.size ?? 100
})

const batchOf = (messages: ReadonlyArray<Received>): Batching.PendingBatch => {
  const [first, ...rest] = messages
  if (first === undefined) throw new Error("empty batch")
  const batch = Batching.open(1, first)
  for (const message of rest) Batching.add(batch, message)
  return batch
}

const idsOf = (delivery: Batching.Delivery) => delivery.messages.map((message) => message.id)

describe("deadline", () => {
  it("is wait-period after the only message", () => {
    const batch = batchOf([received({ receivedAt: 1_000 })])
    expect(Batching.deadline(batch, timing)).toBe(31_000)
  })

  it("moves with every new message", () => {
    const batch = batchOf([received({ receivedAt: 0 }), received({ receivedAt: 20_000 })])
    expect(Batching.deadline(batch, timing)).toBe(50_000)
    Batching.add(batch, received({ receivedAt: 45_000 }))
    expect(Batching.deadline(batch, timing)).toBe(75_000)
  })

  it("never passes first message + max-wait", () => {
    const batch = batchOf([received({ receivedAt: 0 })])
    for (let at = 20_000; at <= 290_000; at += 20_000) Batching.add(batch, received({ receivedAt: at }))
    expect(Batching.deadline(batch, timing)).toBe(300_000)
    expect(Batching.deadline({ firstAt: 0, lastAt: 280_000 }, timing)).toBe(300_000)
    expect(Batching.deadline({ firstAt: 0, lastAt: 269_999 }, timing)).toBe(299_999)
  })

  it("keeps the latest arrival as lastAt even if messages come back out of order (recovery)", () => {
    const batch = batchOf([received({ receivedAt: 10_000 }), received({ receivedAt: 5_000 })])
    expect(batch.lastAt).toBe(10_000)
  })
})

describe("partition", () => {
  it("sends one summary when everybody received the same messages", () => {
    const batch = batchOf([
      received({ id: "a", to: ["ops@example.com", "dev@example.com"] }),
      received({ id: "b", to: ["dev@example.com", "ops@example.com"] })
    ])
    const deliveries = Batching.partition(batch.messages)
    expect(deliveries).toHaveLength(1)
    expect(deliveries[0]?.recipients).toEqual(["dev@example.com", "ops@example.com"])
    expect(deliveries[0] && idsOf(deliveries[0])).toEqual(["a", "b"])
  })

  it("compares recipients case-insensitively", () => {
    const batch = batchOf([
      received({ id: "a", to: ["Ops@Example.COM"] }),
      received({ id: "b", to: ["ops@example.com", "OPS@example.com "] })
    ])
    const deliveries = Batching.partition(batch.messages)
    expect(deliveries).toEqual([{ recipients: ["ops@example.com"], messages: batch.messages }])
    expect(Batching.allRecipients(batch.messages)).toEqual(["ops@example.com"])
  })

  it("never gives anybody a message that was not addressed to them", () => {
    const batch = batchOf([
      received({ id: "both", to: ["ops@example.com", "dev@example.com"] }),
      received({ id: "ops-only", to: ["ops@example.com"] })
    ])
    const deliveries = Batching.partition(batch.messages)
    expect(deliveries.map((d) => ({ recipients: d.recipients, ids: idsOf(d) }))).toEqual([
      { recipients: ["dev@example.com"], ids: ["both"] },
      { recipients: ["ops@example.com"], ids: ["both", "ops-only"] }
    ])
  })

  it("covers the union of recipients, each (message, recipient) pair exactly once, in one summary per distinct set", () => {
    // A small deterministic generator, so the invariant is checked on many shapes.
    let seed = 42
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed / 2_147_483_648
    }
    const people = ["a@x.org", "B@x.org", "c@x.org", "d@x.org", "e@x.org"]
    for (let round = 0; round < 200; round++) {
      const messages = Array.from({ length: 1 + Math.floor(random() * 8) }, (_, index) => {
        const to = people.filter(() => random() < 0.5)
        return received({ id: `r${round}-${index}`, receivedAt: index, to: to.length === 0 ? ["a@x.org"] : to })
      })
      const batch = batchOf(messages)
      const deliveries = Batching.partition(batch.messages)

      const pairs = deliveries.flatMap((delivery) =>
        delivery.messages.flatMap((message) => delivery.recipients.map((recipient) => `${message.id} ${recipient}`))
      )
      const expected = batch.messages.flatMap((message) => message.recipients.map((recipient) => `${message.id} ${recipient}`))
      expect([...pairs].sort()).toEqual([...expected].sort())

      const recipients = deliveries.flatMap((delivery) => delivery.recipients)
      expect(new Set(recipients).size).toBe(recipients.length)
      expect([...recipients].sort()).toEqual(Batching.allRecipients(batch.messages))

      const messageSets = deliveries.map((delivery) => idsOf(delivery).join(","))
      expect(new Set(messageSets).size).toBe(messageSets.length)
      for (const delivery of deliveries) {
        expect(idsOf(delivery)).toEqual(batch.messages.map((m) => m.id).filter((id) => idsOf(delivery).includes(id)))
      }
    }
  })

  it("drops empty recipients", () => {
    expect(Batching.normalizeRecipients(["", " ", "A@b.c", "a@B.C"])).toEqual(["a@b.c"])
  })
})

describe("groups", () => {
  const messages = () =>
    batchOf([
      received({ id: "1", receivedAt: 1_000, groupKey: "db", subject: "db down (1)", sender: "db1@example.com" }),
      received({ id: "2", receivedAt: 2_000, groupKey: "web", subject: "web slow", sender: "web@example.com" }),
      received({ id: "3", receivedAt: 3_000, groupKey: "db", subject: "db down (2)", sender: "db2@example.com" }),
      received({ id: "4", receivedAt: 4_000, groupKey: "db", subject: "db down (3)", sender: "db1@example.com" }),
      received({ id: "5", receivedAt: 5_000, groupKey: "cron", subject: "cron", sender: "" })
    ]).messages

  it("keeps the order of first arrival", () => {
    expect(Batching.groups(messages()).map((group) => group.key)).toEqual(["db", "web", "cron"])
  })

  it("counts, and keeps first and last arrival", () => {
    const [db, web] = Batching.groups(messages())
    expect(db).toMatchObject({ count: 3, firstAt: 1_000, lastAt: 4_000 })
    expect(web).toMatchObject({ count: 1, firstAt: 2_000, lastAt: 2_000 })
  })

  it("shows the latest subject and the latest message's body", () => {
    const [db] = Batching.groups(messages())
    expect(db?.subject).toBe("db down (3)")
    expect(db?.latestId).toBe("4")
  })

  it("lists distinct senders in first-seen order, without empty ones", () => {
    const [db, , cron] = Batching.groups(messages())
    expect([...(db?.senders ?? [])]).toEqual(["db1@example.com", "db2@example.com"])
    expect([...(cron?.senders ?? [])]).toEqual([])
  })

  it("keeps the latest by arrival time, not by position (recovered messages)", () => {
    const [group] = Batching.groups(
      batchOf([
        received({ id: "late", receivedAt: 9_000, groupKey: "g", subject: "late" }),
        received({ id: "early", receivedAt: 1_000, groupKey: "g", subject: "early" })
      ]).messages
    )
    expect(group).toMatchObject({ count: 2, lastAt: 9_000, subject: "late", latestId: "late" })
  })
})
