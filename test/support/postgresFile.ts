/** One private PostgreSQL for a vitest file (kept apart from `postgres.ts`, which the bench loads without vitest). */
import { afterAll, beforeAll } from "@effect/vitest"
import { type Postgres, startPostgres } from "./postgres.ts"

/**
 * Starts a private PostgreSQL before this file's tests and stops it after
 * them; the function returned gives it to the tests.
 */
export const postgresForFile = (): (() => Postgres) => {
  let postgres: Postgres | undefined
  beforeAll(async () => {
    postgres = await startPostgres()
  }, 600_000)
  afterAll(async () => {
    await postgres?.close()
  })
  return () => {
    if (postgres === undefined) throw new Error("PostgreSQL did not start")
    return postgres
  }
}
