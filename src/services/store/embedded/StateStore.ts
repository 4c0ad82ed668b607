/**
 * The state half of the embedded {@link Store}: small durable state, beside the spool under
 * `<message-store>/state/`: the relay budget's send log, the memory of
 * reported groups, silences, expectations and the link-signing
 * key. Each kind of state is one named document, a JSON snapshot in
 * `<name>.json`.
 *
 * A save writes the whole document to a temporary file with O_DSYNC,
 * renames it over the old one and syncs the directory, so after a crash the
 * document is the old or the new one, never a mix; `save` resolves once the
 * new one is on disk. Saves of one document are coalesced: while one is
 * being written, later ones wait and the latest value is written next, once
 * for all of them — so a burst of updates costs two writes, not one each.
 * Nothing here runs on the SMTP ingest path: the budget and the memory are
 * saved by the outgoing side, once per summary at most.
 *
 * Why JSON snapshots rather than SQLite: the documents are small and bounded
 * (the budget log holds at most one period's sends, the memory at most
 * 5,000 groups), a snapshot of the largest one is written in milliseconds
 * (docs/operations.md, "Files"), and SQLite would bring a native dependency whose commits
 * block the event loop.
 */
import { Effect, type Scope } from "effect"
import * as fsCallback from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { AppConfig } from "../../runtime/AppConfig.ts"
import { makeDirectories, writeDurably } from "../DurableFile.ts"
import { StateError, type StoreShape } from "../Store.ts"

const NAME = /^[a-z][a-z0-9-]*$/

/** The document a file of `<message-store>/state/` holds (`<name>.json`), or `undefined` if it holds none. */
export const documentNameOf = (file: string): string | undefined => {
  const name = file.endsWith(".json") ? file.slice(0, -".json".length) : ""
  return NAME.test(name) ? name : undefined
}

/** Syncs a directory, so a rename into it survives a crash. */
const syncDirectory = async (dir: string) => {
  const handle = await fs.open(dir, fsCallback.constants.O_RDONLY)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Writes the latest value of one document, one write at a time, coalescing
 * the values that arrive meanwhile. A value is serialized only when it is
 * written, so a burst of saves costs at most two serializations. (The
 * PostgreSQL store coalesces its saves with it too.)
 */
export const makeWriter = (write: (text: string) => Promise<void>) => {
  let latest: { readonly value: () => unknown; readonly ticket: number } | undefined
  let requested = 0
  let written = 0
  let running: Promise<void> | undefined
  let failure: { readonly ticket: number; readonly error: unknown } | undefined
  const writeLatest = async () => {
    const current = latest
    if (current === undefined) return
    try {
      await write(JSON.stringify(current.value()))
      written = Math.max(written, current.ticket)
    } catch (error) {
      failure = { ticket: current.ticket, error }
    }
  }
  return async (value: () => unknown): Promise<void> => {
    const ticket = ++requested
    latest = { value, ticket }
    while (written < ticket) {
      if (failure !== undefined && failure.ticket >= ticket) throw failure.error
      if (running === undefined) {
        running = writeLatest().finally(() => {
          running = undefined
        })
      }
      await running
    }
  }
}

/** The named-state half of a {@link StoreShape}. */
export type StateDocuments = Pick<StoreShape, "load" | "save">

/** Opens the named durable documents under `<message-store>/state/` (the state half of the embedded store). */
export const makeStateDocuments: Effect.Effect<StateDocuments, StateError, AppConfig | Scope.Scope> = Effect.gen(function* () {
  const config = yield* AppConfig
  const dir = path.join(path.resolve(config.messageStore), "state")
  yield* Effect.tryPromise({
    try: () => makeDirectories(dir),
    catch: (cause) => new StateError({ operation: `open ${dir}`, cause })
  })
  const writers = new Map<string, (value: () => unknown) => Promise<void>>()
  const fileOf = (name: string) => {
    if (!NAME.test(name)) throw new Error(`invalid state name "${name}"`)
    return path.join(dir, `${name}.json`)
  }
  let temporaries = 0
  const writerOf = (name: string) => {
    let writer = writers.get(name)
    if (writer === undefined) {
      const file = fileOf(name)
      writer = makeWriter(async (text) => {
        const tmp = path.join(dir, `.${name}.${process.pid}.${++temporaries}.tmp`)
        await writeDurably(tmp, file, [Buffer.from(text, "utf8")])
        await syncDirectory(dir)
      })
      writers.set(name, writer)
    }
    return writer
  }

  // Leftovers of writes a crash interrupted (their documents are the previous, complete ones).
  yield* Effect.promise(async () => {
    for (const name of await fs.readdir(dir).catch(() => [])) {
      if (name.endsWith(".tmp")) await fs.rm(path.join(dir, name), { force: true })
    }
  })

  const load = (name: string): Effect.Effect<unknown, StateError> =>
    Effect.tryPromise({
      try: async () => {
        const text = await fs.readFile(fileOf(name), "utf8").catch((error: NodeJS.ErrnoException) => {
          if (error.code === "ENOENT") return undefined
          throw error
        })
        return text === undefined ? undefined : (JSON.parse(text) as unknown)
      },
      catch: (cause) => new StateError({ operation: `read ${name}`, cause })
    })

  const save = (name: string, value: () => unknown): Effect.Effect<void, StateError> =>
    Effect.tryPromise({
      try: () => writerOf(name)(value),
      catch: (cause) => new StateError({ operation: `write ${name}`, cause })
    })

  return { load, save }
})
