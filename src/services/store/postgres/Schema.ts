/**
 * The PostgreSQL schema of failmail's store, and its versioned migrations,
 * run by failmail itself when it connects.
 *
 * Several replicas may start at once on an empty database: each migrates in
 * one transaction that first takes a transaction-scoped advisory lock, so
 * they migrate one after the other, and the later ones find the work done
 * (`failmail_schema_migrations` lists every version applied). A database
 * migrated by a newer failmail than this one is refused rather than used
 * with a schema this version does not know.
 *
 * Every table name starts with `failmail_`, so the store can share a
 * database with other applications.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Data, Effect } from "effect"
import type { SpoolRecord } from "../Store.ts"

/** One step of the schema: applied once, in version order, in the migrating transaction. */
interface Migration {
  readonly version: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

/** Every migration, oldest first. Never edit one that was released: add the next. */
export const migrations: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: "messages and documents",
    statements: [
      // `seq` numbers the rows as they are inserted, so a replica can follow new arrivals
      // (`seq > last seen`, minding transactions still in flight).
      `CREATE TABLE failmail_messages (
        id text PRIMARY KEY,
        seq bigserial NOT NULL UNIQUE,
        received_at timestamptz NOT NULL,
        envelope jsonb NOT NULL,
        keys jsonb NOT NULL,
        subject text NOT NULL,
        sender text NOT NULL,
        size integer NOT NULL,
        raw bytea NOT NULL
      )`,
      `CREATE INDEX failmail_messages_arrival ON failmail_messages (received_at, id COLLATE "C")`,
      // `version` counts the saves of a document, for replicas that compare before they overwrite.
      `CREATE TABLE failmail_documents (
        name text PRIMARY KEY,
        value jsonb NOT NULL,
        version bigint NOT NULL DEFAULT 1,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`
    ]
  },
  {
    version: 2,
    name: "replicas, the sender lease and summary claims",
    statements: [
      // Times in these tables are the replicas' Clock times, in ms since the epoch (see PostgresCluster).
      `CREATE TABLE failmail_replicas (
        id text PRIMARY KEY,
        hostname text NOT NULL,
        smtp text NOT NULL,
        http text NOT NULL,
        version text NOT NULL,
        heartbeat_ms bigint NOT NULL
      )`,
      // One row: who sends, since which change of hands, until when without a renewal.
      `CREATE TABLE failmail_lease (
        name text PRIMARY KEY,
        holder text NOT NULL,
        generation bigint NOT NULL,
        expires_ms bigint NOT NULL
      )`,
      `INSERT INTO failmail_lease (name, holder, generation, expires_ms) VALUES ('sender', '', 0, 0)`,
      // A summary being sent (claimed before its relay) or sent (recorded after it), under its Message-ID's local part.
      `CREATE TABLE failmail_summaries (
        summary_id text PRIMARY KEY,
        state text NOT NULL CHECK (state IN ('sending', 'sent')),
        recipients jsonb NOT NULL,
        parts jsonb NOT NULL,
        holder text NOT NULL,
        generation bigint NOT NULL,
        claimed_ms bigint NOT NULL,
        sent_ms bigint
      )`,
      `CREATE INDEX failmail_summaries_sending ON failmail_summaries (claimed_ms) WHERE state = 'sending'`,
      `CREATE INDEX failmail_summaries_sent ON failmail_summaries (sent_ms) WHERE state = 'sent'`
    ]
  }
]

/** The schema version this failmail works with. */
export const currentVersion = migrations.reduce((latest, migration) => Math.max(latest, migration.version), 0)

/** The database holds a schema newer than this failmail knows. */
export class SchemaTooNew extends Data.TaggedError("SchemaTooNew")<{ readonly found: number; readonly known: number }> {
  override get message(): string {
    return `the database schema is at version ${this.found}, newer than this failmail knows (${this.known}): run a newer failmail`
  }
}

/**
 * failmail's advisory locks take two keys: failmail's own first
 * (`0x6661696c`, "fail" in ASCII), then which lock.
 */
export const ADVISORY_LOCK_CLASS = 1717660012

/** The second key of the lock taken while migrating. */
const MIGRATION_LOCK = 1

/**
 * Brings the schema to {@link currentVersion}; returns the versions it
 * applied (none when another replica, or an earlier start, did).
 */
export const migrate: Effect.Effect<ReadonlyArray<number>, SqlError | SchemaTooNew, SqlClient.SqlClient> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        yield* sql.unsafe(`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_CLASS}, ${MIGRATION_LOCK})`)
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS failmail_schema_migrations (
          version integer PRIMARY KEY,
          name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`)
        const rows = yield* sql.unsafe<{ readonly version: number }>(`SELECT version FROM failmail_schema_migrations`)
        const applied = new Set(rows.map((row) => row.version))
        const found = Math.max(0, ...applied)
        if (found > currentVersion) return yield* new SchemaTooNew({ found, known: currentVersion })
        const missing = migrations.filter((migration) => !applied.has(migration.version))
        for (const migration of missing) {
          for (const statement of migration.statements) yield* sql.unsafe(statement)
          yield* sql.unsafe(`INSERT INTO failmail_schema_migrations (version, name) VALUES ($1, $2)`, [
            migration.version,
            migration.name
          ])
        }
        return missing.map((migration) => migration.version)
      })
    )
  }
)

/** The columns of `failmail_messages` that make a {@link SpoolRecord}, as {@link RECORD_COLUMNS} selects them. */
export interface MessageRow {
  readonly id: string
  /** Milliseconds since the epoch (a bigint, which the driver gives as text). */
  readonly received_ms: string
  readonly envelope: SpoolRecord["envelope"]
  readonly keys: SpoolRecord["keys"]
  readonly subject: string
  readonly sender: string
  readonly size: number
}

/** The select list giving a {@link MessageRow}. */
export const RECORD_COLUMNS =
  "id, (extract(epoch FROM received_at) * 1000)::bigint AS received_ms, envelope, keys, subject, sender, size"

/** The stored record of a row. */
export const recordOf = (row: MessageRow): SpoolRecord => ({
  id: row.id,
  receivedAt: Number(row.received_ms),
  envelope: row.envelope,
  keys: row.keys,
  subject: row.subject,
  sender: row.sender,
  size: row.size
})
