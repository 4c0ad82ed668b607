/**
 * The maildir contract (`--fail-dir`, `--all-dir`), run against both
 * implementations of the one service interface: the real one on disk
 * (`Maildir.Default`) and the in-memory one the TestClock pipeline tests use
 * (`support/memory.ts`). Then what only the disk has: the maildir layout and
 * its modes (alerts can carry secrets).
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, type Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Maildir, MaildirError } from "../src/services/delivery/Maildir.ts"
import { filesIn, maildirInMemory, memoryMaildirs } from "./support/memory.ts"
import { rawMessage } from "./support/pipeline.ts"
import { scopedTempDir } from "./support/tempdir.ts"

const tempDir = scopedTempDir("failmail-maildir-")

/** Maildirs as the contract sees them. */
interface Maildirs {
  readonly maildir: Maildir
  /** A maildir to deliver to. */
  readonly dir: string
  /** The messages in `dir`, oldest first: path and bytes. */
  readonly messages: () => ReadonlyArray<{ readonly path: string; readonly raw: Buffer }>
  /** Makes `dir` impossible to write. */
  readonly breakDir: () => void
}

const serviceOf = <E>(layer: Layer.Layer<Maildir, E>) => Effect.map(Layer.build(layer), (context) => Context.get(context, Maildir))

const onDisk: Effect.Effect<Maildirs, never, Scope.Scope> = Effect.gen(function* () {
  const dir = path.join(yield* tempDir, "failed")
  const inNew = () => (fs.existsSync(path.join(dir, "new")) ? fs.readdirSync(path.join(dir, "new")).sort() : [])
  return {
    maildir: yield* serviceOf(Maildir.Default),
    dir,
    messages: () =>
      inNew().map((name) => {
        const file = path.join(dir, "new", name)
        return { path: file, raw: fs.readFileSync(file) }
      }),
    // A read-only directory does not stop root: a regular file in its place does.
    breakDir: () => fs.writeFileSync(dir, "a file where the maildir should be")
  }
})

const inMemory: Effect.Effect<Maildirs, never, Scope.Scope> = Effect.gen(function* () {
  const contents = memoryMaildirs()
  const dir = "/failmail-test/failed"
  return {
    maildir: yield* serviceOf(maildirInMemory(contents)),
    dir,
    messages: () => filesIn(contents, dir),
    breakDir: () => void contents.unwritable.add(dir)
  }
})

for (const [name, make] of [["on disk", onDisk], ["in memory", inMemory]] as const) {
  describe(`Maildir contract, ${name}`, () => {
    it.scoped("delivers each message as a new file under new/, byte for byte, and says where", () =>
      Effect.gen(function* () {
        const { maildir, dir, messages } = yield* make
        const first = rawMessage({ subject: "first" })
        const second = rawMessage({ subject: "second", body: "8-bit: \u00e9\r\n.leading dot" })
        const paths = [yield* maildir.deliver(dir, first), yield* maildir.deliver(dir, second)]
        expect(new Set(paths).size).toBe(2)
        for (const file of paths) expect(path.dirname(file)).toBe(path.join(dir, "new"))
        const stored = messages()
        expect(stored.map((message) => message.path).sort()).toEqual([...paths].sort())
        expect(stored.map((message) => message.raw.toString("utf8")).sort()).toEqual(
          [first, second].map((raw) => raw.toString("utf8")).sort()
        )
      })
    )

    it.scoped("fails with MaildirError naming the maildir when it cannot be written", () =>
      Effect.gen(function* () {
        const { maildir, dir, messages, breakDir } = yield* make
        breakDir()
        const error = yield* Effect.flip(maildir.deliver(dir, rawMessage({ subject: "nowhere" })))
        expect(error).toBeInstanceOf(MaildirError)
        expect(error.message).toContain(`maildir ${dir}`)
        expect(messages()).toEqual([])
      })
    )
  })
}

describe("Maildir on disk", () => {
  it.scoped("writes files 0600 in 0700 directories, and leaves nothing in tmp/", () =>
    Effect.gen(function* () {
      const { maildir, dir } = yield* onDisk
      const file = yield* maildir.deliver(dir, rawMessage({ subject: "secret" }))
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      for (const sub of ["", "new", "tmp", "cur"]) {
        expect(fs.statSync(path.join(dir, sub)).mode & 0o777, `${sub}/`).toBe(0o700)
      }
      expect(fs.readdirSync(path.join(dir, "tmp"))).toEqual([])
    })
  )
})
