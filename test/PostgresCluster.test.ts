/**
 * The cluster backend contract (`support/clusterContract.ts`) on a real
 * PostgreSQL, started by the test; and what only PostgreSQL has: its
 * tables come with the store's migrations, raced by replicas.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { Context, Effect, Layer, Redacted, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { backend } from "../src/services/cluster/PostgresCluster.ts"
import { layerOf } from "../src/services/store/postgres/PostgresStore.ts"
import { Store } from "../src/services/store/Store.ts"
import { type BackendUnderTest, backendContract } from "./support/clusterContract.ts"
import { postgresForFile } from "./support/postgresFile.ts"

const postgres = postgresForFile()

/** The backend and the store on the database at `url`. */
const openOn = (url: string) =>
  Effect.gen(function* () {
    const store = Context.get(yield* Layer.build(layerOf(Redacted.make(url))), Store)
    const client = yield* Layer.build(PgClient.layer({ url: Redacted.make(url), maxConnections: 5 }))
    return { store, backend: yield* Effect.provide(backend, client) }
  }).pipe(Effect.orDie)

const fresh: Effect.Effect<BackendUnderTest, never, Scope.Scope> = Effect.flatMap(
  Effect.promise(() => postgres().createDatabase()),
  openOn
)

backendContract("PostgreSQL", fresh)

describe("the cluster's tables in PostgreSQL", () => {
  it("come with the store's migrations, once, when replicas start at once on an empty database", async () => {
    const url = await postgres().createDatabase()
    const clients = [1, 2, 3].map(() =>
      Effect.runPromise(
        Effect.scoped(
          Effect.flatMap(Layer.build(PgClient.layer({ url: Redacted.make(url) })), (client) =>
            Effect.flatMap(Effect.provide(backend, client), (opened) => opened.lease)
          )
        )
      )
    )
    const leases = await Promise.all(clients)
    expect(leases.map((lease) => lease.holder)).toEqual(["", "", ""])
    const database = new URL(url).pathname.slice(1)
    expect(await postgres().query(database, "SELECT version FROM failmail_schema_migrations ORDER BY version")).toEqual(["1", "2"])
  })
})
