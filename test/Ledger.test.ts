/**
 * The ledger of summaries under way: a message leaves the store only once
 * every recipient it was addressed to has it, what a summary did not
 * deliver is handed back (narrowed to the recipients still owed), and a
 * message under way or waiting for its removal is left out of a recovery.
 */
import { Effect, PubSub, Queue } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { Ledger } from "../src/services/delivery/Ledger.ts"

const shared = { id: "m1", recipients: ["a@example.com", "b@example.com"] }
const onlyA = { id: "m2", recipients: ["a@example.com"] }

describe("Ledger", () => {
  it.scoped("a message in two summaries of a split batch is done once both recipient sets have it", () =>
    Effect.gen(function* () {
      const ledger = yield* Ledger
      ledger.begin([shared, onlyA])
      ledger.begin([shared])
      expect(ledger.underWay()).toEqual(new Set(["m1", "m2"]))
      expect(ledger.end([shared, onlyA], ["a@example.com"])).toEqual(["m2"])
      expect(ledger.end([shared], ["b@example.com"])).toEqual(["m1"])
      // Left out of a recovery until their removal is written.
      expect(ledger.underWay()).toEqual(new Set(["m1", "m2"]))
      ledger.removed(["m1", "m2"])
      expect(ledger.underWay()).toEqual(new Set())
    }).pipe(Effect.provide(Ledger.Default))
  )

  it.scoped("a part that ends undelivered is handed back, owed only to the recipients who did not get it", () =>
    Effect.gen(function* () {
      const ledger = yield* Ledger
      const handedBack = yield* PubSub.subscribe(ledger.handedBack)
      ledger.begin([shared, onlyA])
      ledger.begin([shared])
      expect(ledger.end([shared, onlyA], ["a@example.com"])).toEqual(["m2"])
      expect(ledger.end([shared], [])).toEqual([])
      expect(yield* Queue.take(handedBack)).toEqual(["m1"])
      expect(ledger.underWay().has("m1")).toBe(false)
      expect(ledger.owed("m1", ["A@Example.com", "b@example.com"])).toEqual(["b@example.com"])
      expect(ledger.owed("m9", ["c@example.com"])).toEqual(["c@example.com"])
    }).pipe(Effect.provide(Ledger.Default))
  )
})
