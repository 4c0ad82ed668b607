/**
 * What only the embedded store's spool on disk has (its contract with every
 * other layer is in `Store.contract.test.ts`; its log format in
 * `MessageLog.test.ts`): file modes, start-up and write failures of the file
 * system, the health probe.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { openEmbeddedStore, putMessage as put } from "./support/pipeline.ts"
import { fillDisk, freeDisk } from "./support/diskFull.ts"
import { heldIn, leftoversIn } from "./support/spool.ts"
import { scopedTempDir } from "./support/tempdir.ts"

const tempDir = scopedTempDir("failmail-spool-")

describe("Embedded store: the spool on disk", () => {
  it.scoped("writes segments 0600 in 0700 directories", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const spool = yield* openEmbeddedStore(path.join(root, "incoming"))
      yield* put(spool, "secret")
      const log = path.join(root, "incoming", "log")
      const segments = fs.readdirSync(log)
      expect(segments).toEqual(["000001.seg"])
      expect(fs.statSync(path.join(log, "000001.seg")).mode & 0o777).toBe(0o600)
      expect(fs.statSync(log).mode & 0o777).toBe(0o700)
    })
  )

  it.scoped("fails with SpoolError at start when the directory cannot be made", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const file = path.join(root, "a-file")
      fs.writeFileSync(file, "not a directory")
      const exit = yield* Effect.exit(openEmbeddedStore(path.join(file, "incoming")))
      expect(exit).toMatchObject({ _tag: "Failure" })
      const error = Exit.isFailure(exit) ? exit.cause : undefined
      expect(JSON.stringify(error)).toContain("SpoolError")
    })
  )

  it.scoped("puts that fail on a full disk leave nothing behind, and the next put after it is freed is kept", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const spool = yield* openEmbeddedStore(root)
      const kept = yield* put(spool, "before")
      yield* Effect.acquireUseRelease(
        Effect.sync(() => fillDisk()),
        () =>
          Effect.forEach(["first", "second", "third"], (subject) =>
            Effect.map(Effect.flip(put(spool, subject)), (error) => expect(error.message).toMatch(/^spool write: /))
          ),
        () => Effect.sync(() => freeDisk())
      )
      expect(leftoversIn(root)).toEqual([])
      const after = yield* put(spool, "after")
      expect(heldIn(root)).toEqual([kept, after])
    })
  )

  it.scoped("health is probed on disk, so it recovers with the disk and not with the next message", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const spool = yield* openEmbeddedStore(root)
      expect(yield* spool.checkHealth).toBe(true)

      // Broken: the answer stands for one second, then the probe sees it.
      yield* Effect.acquireUseRelease(
        Effect.sync(() => fillDisk()),
        () =>
          Effect.gen(function* () {
            yield* TestClock.adjust(Duration.millis(999))
            expect(yield* spool.checkHealth).toBe(true)
            yield* TestClock.adjust(Duration.millis(1))
            expect(yield* spool.checkHealth).toBe(false)
          }),
        () => Effect.sync(() => freeDisk())
      )

      // Repaired, nothing stored in between: healthy again once the cached answer expires.
      expect(yield* spool.checkHealth).toBe(false)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* spool.checkHealth).toBe(true)

      // The probe leaves no file anywhere.
      expect(leftoversIn(root)).toEqual([])
      expect(heldIn(root)).toEqual([])
    })
  )
})
