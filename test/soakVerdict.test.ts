import { describe, expect, it } from "vitest"
import { judge } from "../bench/soak-verdict.ts"

const ledger = (entries: Record<string, readonly [acknowledged: number, unanswered: number]>) =>
  new Map(Object.entries(entries).map(([key, [acknowledged, unanswered]]) => [key, { acknowledged, unanswered }]))
const counts = (entries: Record<string, number>) => new Map(Object.entries(entries))

describe("the soak's verdict", () => {
  it("nothing lost or twice when each key's acknowledged messages were summarized once", () => {
    expect(judge(ledger({ a: [10, 0], b: [5, 0] }), counts({ a: 10, b: 5 }), counts({}))).toEqual({
      lost: 0,
      duplicated: 0,
      lostKeys: [],
      duplicatedKeys: [],
      unknownKeys: []
    })
  })

  it("counts a loss and a message summarized twice per key, and keys nobody sent", () => {
    const verdict = judge(ledger({ a: [10, 0], b: [5, 0] }), counts({ a: 7, b: 8, stray: 1 }), counts({}))
    expect(verdict).toMatchObject({ lost: 3, duplicated: 3, lostKeys: ["a (3)"], duplicatedKeys: ["b (3)"], unknownKeys: ["stray"] })
  })

  it("a message still in the spool is not lost; one whose reply never came may be summarized or not", () => {
    expect(judge(ledger({ a: [10, 2] }), counts({ a: 8 }), counts({ a: 2 }))).toMatchObject({ lost: 0, duplicated: 0 })
    expect(judge(ledger({ a: [10, 2] }), counts({ a: 12 }), counts({}))).toMatchObject({ lost: 0, duplicated: 0 })
    expect(judge(ledger({ a: [10, 2] }), counts({ a: 13 }), counts({}))).toMatchObject({ lost: 0, duplicated: 1 })
    // Summarized and still spooled: it will be sent again at the next start.
    expect(judge(ledger({ a: [10, 0] }), counts({ a: 10 }), counts({ a: 1 }))).toMatchObject({ lost: 0, duplicated: 1 })
  })
})
