/**
 * What only the embedded store's state documents on disk have (their
 * contract with every other layer is in `Store.contract.test.ts`): one file
 * per document, a burst of saves coalesced into few writes, and a leftover
 * temporary file of an interrupted write ignored.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { openEmbeddedStore } from "./support/pipeline.ts"
import { scopedTempDir } from "./support/tempdir.ts"

const tempDir = scopedTempDir("failmail-state-")

describe("Embedded store: state documents on disk", () => {
  it.scopedLive("each document is one file under state/, read by the next store on the same directory", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const first = yield* openEmbeddedStore(dir)
      expect(yield* first.load("budget")).toBeUndefined()
      yield* first.save("budget", () => ({ sends: [1, 2, 3] }))
      const second = yield* openEmbeddedStore(dir)
      expect(yield* second.load("budget")).toEqual({ sends: [1, 2, 3] })
      expect(fs.readdirSync(path.join(dir, "state"))).toEqual(["budget.json"])
    })
  )

  it.scopedLive("a burst of saves is coalesced: the last value wins, and few values are serialized", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = yield* openEmbeddedStore(dir)
      let serialized = 0
      yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) =>
          store.save("groups", () => {
            serialized++
            return { last: i }
          }),
        { concurrency: "unbounded", discard: true }
      )
      expect(yield* store.load("groups")).toEqual({ last: 49 })
      expect(serialized).toBeLessThanOrEqual(3)
    })
  )

  it.scopedLive("a temporary file left by an interrupted write is removed; the document is the last complete one", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const first = yield* openEmbeddedStore(dir)
      yield* first.save("groups", () => ({ v: 1 }))
      fs.writeFileSync(path.join(dir, "state", ".groups.1.1.tmp"), '{"v": 2, "cut')
      const second = yield* openEmbeddedStore(dir)
      expect(yield* second.load("groups")).toEqual({ v: 1 })
      expect(fs.readdirSync(path.join(dir, "state"))).toEqual(["groups.json"])
    })
  )
})
