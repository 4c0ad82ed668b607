/**
 * What the PostgreSQL store does beyond the shared contract
 * (Store.contract.test.ts runs that on it too): migrations raced by
 * replicas, shared commits, the database going away and coming back.
 * A real PostgreSQL, started by the test.
 */
import { it as effectIt } from "@effect/vitest"
import { Chunk, Clock, Context, Duration, Effect, Either, Fiber, Layer, Redacted, TestClock } from "effect"
import { describe, expect, it } from "vitest"
import { layerOf } from "../src/services/store/postgres/PostgresStore.ts"
import { Store } from "../src/services/store/Store.ts"
import { put } from "./support/effects.ts"
import { eventually } from "./support/failmail.ts"
import { postgresForFile } from "./support/postgresFile.ts"

const postgres = postgresForFile()

const fields = {
  envelope: { mailFrom: "app@example.org", rcptTo: ["ops@example.com"] },
  keys: { fingerprint: "f", batchKey: "", groupKey: "disk full" },
  subject: "disk full",
  sender: "app@example.org",
  size: 5
}
const raw = new TextEncoder().encode("hello")

/** Runs `use` with a store on the database at `url`, closed afterwards. */
const withStore = <A, E>(url: string, use: (store: Context.Tag.Service<Store>) => Effect.Effect<A, E>) =>
  Effect.runPromise(
    Effect.scoped(
      Layer.build(layerOf(Redacted.make(url))).pipe(Effect.flatMap((context) => use(Context.get(context, Store))))
    )
  )

const databaseOf = (url: string) => new URL(url).pathname.slice(1)

describe("the PostgreSQL store", () => {
  it("migrates an empty database once when several replicas start on it at once", async () => {
    const url = await postgres().createDatabase()
    const ready = await Promise.all([1, 2, 3].map(() => withStore(url, (store) => store.checkHealth)))
    expect(ready).toEqual([true, true, true])
    expect(await postgres().query(databaseOf(url), "SELECT version FROM failmail_schema_migrations ORDER BY version")).toEqual(["1", "2"])
  })

  it("refuses a database a newer failmail migrated, saying so", async () => {
    const url = await postgres().createDatabase()
    await withStore(url, () => Effect.void)
    await postgres().query(databaseOf(url), "INSERT INTO failmail_schema_migrations (version, name) VALUES (99, 'future')")
    const refused = await withStore(url, () => Effect.void).then(
      () => "started",
      (error: unknown) => String(error)
    )
    expect(refused).toContain("newer than this failmail knows")
    expect(refused).not.toContain(postgres().password)
  })

  it("writes concurrent puts together, in fewer transactions than messages", async () => {
    const url = await postgres().createDatabase()
    const stored = await withStore(url, (store) =>
      Effect.forEach(Array.from({ length: 50 }), () => put(store, fields, raw), { concurrency: "unbounded" })
    )
    expect(new Set(stored.map((record) => record.id)).size).toBe(50)
    const database = databaseOf(url)
    expect(await postgres().query(database, "SELECT count(*) FROM failmail_messages")).toEqual(["50"])
    // Rows written by one transaction share its id (xmin).
    const transactions = Number((await postgres().query(database, "SELECT count(DISTINCT xmin::text) FROM failmail_messages"))[0])
    expect(transactions).toBeLessThan(50)
  })

  effectIt.scoped("fails a put with SpoolError once the database has not answered for 10 s (a network cut), and takes puts again once it answers", () =>
    Effect.gen(function* () {
      const url = yield* Effect.promise(() => postgres().createDatabase())
      const store = Context.get(yield* Layer.build(layerOf(Redacted.make(url))), Store)
      yield* put(store, fields, raw)
      yield* Effect.acquireRelease(Effect.sync(postgres().freeze), () => Effect.sync(postgres().thaw))
      const waiting = yield* Effect.fork(put(store, fields, raw))
      // Once the INSERT waits for its answer, its deadline is 10 s away.
      const deadline = (yield* Clock.currentTimeMillis) + 10_000
      while (!Chunk.some(yield* TestClock.sleeps(), (at) => at === deadline)) yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      yield* TestClock.adjust(Duration.seconds(10))
      const failed = yield* Effect.flip(Fiber.join(waiting))
      expect(failed.message).toContain("no answer from the database within 10s")
      postgres().thaw()
      const after = yield* put(store, fields, raw)
      expect((yield* store.recover).map((record) => record.id)).toContain(after.id)
    }),
    60_000
  )

  it("fails puts while the database is down, and takes them again once it is back", async () => {
    const url = await postgres().createDatabase()
    await withStore(url, (store) =>
      Effect.gen(function* () {
        const before = yield* put(store, fields, raw)
        yield* Effect.promise(() => postgres().stop({ mode: "immediate" }))
        const during = yield* Effect.either(put(store, fields, raw))
        expect(Either.isLeft(during) && during.left._tag).toBe("SpoolError")
        expect(yield* store.checkHealth).toBe(false)
        // Summarized meanwhile: its row cannot be deleted now, but it is not recovered again.
        yield* store.remove([before.id])
        yield* Effect.promise(() => postgres().start())
        const after = yield* put(store, fields, raw)
        expect((yield* store.recover).map((record) => record.id)).toEqual([after.id])
        yield* Effect.promise(() => eventually("health again", () => Effect.runPromise(store.checkHealth)))
        yield* Effect.promise(() =>
          eventually("the summarized row deleted", async () =>
            (await postgres().query(databaseOf(url), "SELECT id FROM failmail_messages")).join() === after.id
          )
        )
      })
    )
  }, 60_000)
})
