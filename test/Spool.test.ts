/**
 * What only the embedded store's spool on disk has (its contract with every
 * other layer is in `Store.contract.test.ts`): file modes, start-up and write
 * failures of the file system, the health probe.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig } from "../src/services/AppConfig.ts"
import { EmbeddedStore } from "../src/services/EmbeddedStore.ts"
import { Store } from "../src/services/Store.ts"
import { putMessage as put, testConfig } from "./support/pipeline.ts"
import { scopedTempDir } from "./support/tempdir.ts"

const tempDir = scopedTempDir("failmail-spool-")

const openSpool = (messageStore: string) =>
  Effect.map(
    Layer.build(EmbeddedStore.pipe(Layer.provide(AppConfig.layer(testConfig(path.dirname(messageStore), { messageStore }))))),
    (context) => Context.get(context, Store)
  )

describe("Embedded store: the spool on disk", () => {
  it.scoped("writes files 0600 in 0700 directories", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const spool = yield* openSpool(path.join(root, "incoming"))
      const record = yield* put(spool, "secret")
      const file = path.join(root, "incoming", "msg", `${record.id}.eml`)
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      expect(fs.statSync(path.join(root, "incoming", "msg")).mode & 0o777).toBe(0o700)
      expect(fs.statSync(path.join(root, "incoming", "tmp")).mode & 0o777).toBe(0o700)
    })
  )

  it.scoped("fails with SpoolError at start when the directory cannot be made", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const file = path.join(root, "a-file")
      fs.writeFileSync(file, "not a directory")
      const exit = yield* Effect.exit(openSpool(path.join(file, "incoming")))
      expect(exit).toMatchObject({ _tag: "Failure" })
      const error = Exit.isFailure(exit) ? exit.cause : undefined
      expect(JSON.stringify(error)).toContain("SpoolError")
    })
  )

  it.scoped("a write that fails at the rename leaves nothing behind in tmp/", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const spool = yield* openSpool(root)
      const messages = path.join(root, "msg")
      fs.renameSync(messages, `${messages}.away`)
      fs.writeFileSync(messages, "in the way")
      for (const subject of ["first", "second", "third"]) {
        const error = yield* Effect.flip(put(spool, subject))
        expect(error.message).toMatch(/^spool write: /)
      }
      expect(fs.readdirSync(path.join(root, "tmp"))).toEqual([])
    })
  )

  it.scoped("health is probed on disk, so it recovers with the disk and not with the next message", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const spool = yield* openSpool(root)
      const messages = path.join(root, "msg")
      expect(yield* spool.checkHealth).toBe(true)

      // Broken: the answer stands for one second, then the probe sees it.
      fs.renameSync(messages, `${messages}.away`)
      fs.writeFileSync(messages, "in the way")
      yield* TestClock.adjust(Duration.millis(999))
      expect(yield* spool.checkHealth).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* spool.checkHealth).toBe(false)

      // Repaired, nothing stored in between: healthy again once the cached answer expires.
      fs.rmSync(messages)
      fs.renameSync(`${messages}.away`, messages)
      expect(yield* spool.checkHealth).toBe(false)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* spool.checkHealth).toBe(true)

      // The probe leaves no file anywhere.
      expect(fs.readdirSync(path.join(root, "tmp"))).toEqual([])
      expect(fs.readdirSync(messages)).toEqual([])
    })
  )
})
