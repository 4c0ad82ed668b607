/**
 * The durable state store on disk: documents survive a new store on the same
 * directory (a restart), a burst of saves is coalesced and the last value
 * wins, and a leftover temporary file of an interrupted write is ignored.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig } from "../src/services/AppConfig.ts"
import { StateStore } from "../src/services/StateStore.ts"
import { testConfig } from "./support/pipeline.ts"
import { scopedTempDir } from "./support/tempdir.ts"

const tempDir = scopedTempDir("failmail-state-")

const storeIn = (dir: string) =>
  Effect.provide(StateStore, StateStore.Default.pipe(Layer.provide(AppConfig.layer(testConfig(dir, { messageStore: dir })))))

describe("StateStore (disk)", () => {
  it.scopedLive("a document saved by one store is read by the next on the same directory", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const first = yield* storeIn(dir)
      expect(yield* first.load("budget")).toBeUndefined()
      yield* first.save("budget", () => ({ sends: [1, 2, 3] }))
      const second = yield* storeIn(dir)
      expect(yield* second.load("budget")).toEqual({ sends: [1, 2, 3] })
      expect(fs.readdirSync(path.join(dir, "state"))).toEqual(["budget.json"])
    })
  )

  it.scopedLive("a burst of saves is coalesced: the last value wins, and few values are serialized", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = yield* storeIn(dir)
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
      const first = yield* storeIn(dir)
      yield* first.save("groups", () => ({ v: 1 }))
      fs.writeFileSync(path.join(dir, "state", ".groups.1.1.tmp"), '{"v": 2, "cut')
      const second = yield* storeIn(dir)
      expect(yield* second.load("groups")).toEqual({ v: 1 })
      expect(fs.readdirSync(path.join(dir, "state"))).toEqual(["groups.json"])
    })
  )
})
