/**
 * The cluster's shared state in PostgreSQL (`--store postgres://…`): the
 * replicas' heartbeats, the sender lease, the claims of summaries, and the
 * messages stored by every replica as the sender follows them. Tables come
 * from the store's versioned migrations (`postgres/Schema.ts`, version 2).
 *
 * - The lease is one row, taken or renewed by one conditional UPDATE
 *   (atomic: two replicas asking at once, one gets it). Times are the
 *   replicas' `Clock` times: their clocks are assumed to agree within a
 *   second (NTP); a skew moves the moment of a takeover, never lets two
 *   replicas send (every claim checks holder and generation).
 * - A claim locks the lease row (`FOR UPDATE`) while it checks it and
 *   records the summary: a takeover waits for the claim's commit, and a
 *   claim after a takeover sees the new holder and fails.
 * - Recording a summary sent deletes its messages in the same transaction,
 *   so a new sender never finds a summary sent whose messages are pending.
 * - Arrivals: `seq` (a bigserial) is assigned at INSERT, not at COMMIT, so
 *   a row with a lower seq can become visible after a higher one. Each look
 *   re-reads the ids of {@link MARGIN_ROWS} rows behind the last seq seen
 *   (the sender drops those it has), and every {@link FULL_EVERY}th look
 *   lists every pending id: a message whose INSERT took longer than that
 *   margin to commit is still taken in, at most that many looks late.
 *
 * It uses a small connection pool of its own, so renewing the lease never
 * waits behind the store's writes under load.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Duration, Effect, Layer, type Redacted } from "effect"
import { StartError } from "../../domain/settings/Errors.ts"
import * as Lease from "../../domain/cluster/Lease.ts"
import type { Replica } from "../../domain/cluster/Replica.ts"
import { type Claim, type ClaimedPart, Cluster, type ClusterBackend, ClusterError, Fenced, messageIdsOf } from "./Cluster.ts"
import * as Schema from "../store/postgres/Schema.ts"
import { mayBeTaken } from "../store/postgres/PostgresStore.ts"
import { SpoolError } from "../store/Store.ts"

/** How many rows behind the last seq seen each look at new arrivals reads again. */
export const MARGIN_ROWS = 4096

/** Every how many looks the sender lists every pending message. */
export const FULL_EVERY = 30

/** How long a replica silent for that long stays listed. */
const FORGET_REPLICA_MS = 24 * 60 * 60 * 1000

/** How long a summary recorded sent is kept. */
const KEEP_SENT_MS = 24 * 60 * 60 * 1000

/** The error PostgreSQL's driver gave, rather than `@effect/sql`'s generic wrapper. */
const reasonOf = (error: SqlError): unknown => error.cause ?? error

const failing = (operation: string) => Effect.mapError((error: SqlError) => new ClusterError({ operation, cause: reasonOf(error) }))

interface LeaseRow {
  readonly holder: string
  /** bigints come back as text. */
  readonly generation: string
  readonly expires_ms: string
}

const leaseOf = (row: LeaseRow): Lease.Lease => ({
  holder: row.holder,
  generation: Number(row.generation),
  expiresAt: Number(row.expires_ms)
})

interface ReplicaRow {
  readonly id: string
  readonly hostname: string
  readonly smtp: string
  readonly http: string
  readonly version: string
  readonly heartbeat_ms: string
}

interface ClaimRow {
  readonly summary_id: string
  readonly recipients: ReadonlyArray<string>
  readonly parts: ReadonlyArray<ClaimedPart>
}


/** The backend over the connected database (migrated first: replicas may start before any store did). */
export const backend: Effect.Effect<ClusterBackend, SqlError | Schema.SchemaTooNew, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* Schema.migrate

  const heartbeat = (replica: Replica) =>
    sql
      .withTransaction(
        Effect.zipRight(
          sql.unsafe(
            `INSERT INTO failmail_replicas (id, hostname, smtp, http, version, heartbeat_ms) VALUES ($1, $2, $3, $4, $5, $6)
              ON CONFLICT (id) DO UPDATE SET hostname = EXCLUDED.hostname, smtp = EXCLUDED.smtp, http = EXCLUDED.http,
                version = EXCLUDED.version, heartbeat_ms = EXCLUDED.heartbeat_ms`,
            [replica.id, replica.hostname, replica.smtp, replica.http, replica.version, replica.heartbeatAt]
          ),
          sql.unsafe(`DELETE FROM failmail_replicas WHERE heartbeat_ms < $1`, [replica.heartbeatAt - FORGET_REPLICA_MS])
        )
      )
      .pipe(Effect.asVoid, failing("heartbeat"))

  const leave = (replica: string) =>
    sql.unsafe(`DELETE FROM failmail_replicas WHERE id = $1`, [replica]).pipe(Effect.asVoid, failing("leave"))

  const acquire = (replica: string, now: number) =>
    sql
      .unsafe<LeaseRow>(
        // SET reads the row as it was: the generation moves on only when the holder changes.
        `UPDATE failmail_lease SET generation = generation + (holder <> $1)::int, holder = $1, expires_ms = $2 + $3
          WHERE name = 'sender' AND (holder = $1 OR expires_ms <= $2)
          RETURNING holder, generation, expires_ms`,
        [replica, now, Lease.TTL_MS]
      )
      .pipe(
        Effect.map((rows) => (rows[0] === undefined ? undefined : leaseOf(rows[0]))),
        failing("acquire the lease")
      )

  const release = (held: Lease.Lease) =>
    sql
      .unsafe(`UPDATE failmail_lease SET expires_ms = 0 WHERE name = 'sender' AND holder = $1 AND generation = $2`, [
        held.holder,
        held.generation
      ])
      .pipe(Effect.asVoid, failing("release the lease"))

  const lease = sql
    .unsafe<LeaseRow>(`SELECT holder, generation, expires_ms FROM failmail_lease WHERE name = 'sender'`)
    .pipe(
      Effect.map((rows) => (rows[0] === undefined ? { holder: "", generation: 0, expiresAt: 0 } : leaseOf(rows[0]))),
      failing("read the lease")
    )

  const replicas = sql
    .unsafe<ReplicaRow>(`SELECT id, hostname, smtp, http, version, heartbeat_ms FROM failmail_replicas ORDER BY id`)
    .pipe(
      Effect.map((rows) =>
        rows.map(
          (row): Replica => ({
            id: row.id,
            hostname: row.hostname,
            smtp: row.smtp,
            http: row.http,
            version: row.version,
            heartbeatAt: Number(row.heartbeat_ms)
          })
        )
      ),
      failing("list the replicas")
    )

  const claim = (held: Lease.Lease, now: number, claimed: Claim): Effect.Effect<void, Fenced | ClusterError> =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const holding = yield* sql.unsafe(
            `SELECT 1 FROM failmail_lease WHERE name = 'sender' AND holder = $1 AND generation = $2 AND expires_ms > $3 FOR UPDATE`,
            [held.holder, held.generation, now]
          )
          if (holding.length === 0) return yield* new Fenced({ replica: held.holder })
          yield* sql.unsafe(
            `INSERT INTO failmail_summaries (summary_id, state, recipients, parts, holder, generation, claimed_ms)
              VALUES ($1, 'sending', $2::jsonb, $3::jsonb, $4, $5, $6)
              ON CONFLICT (summary_id) DO UPDATE SET state = 'sending', recipients = EXCLUDED.recipients, parts = EXCLUDED.parts,
                holder = EXCLUDED.holder, generation = EXCLUDED.generation, claimed_ms = EXCLUDED.claimed_ms, sent_ms = NULL`,
            [claimed.summaryId, JSON.stringify(claimed.recipients), JSON.stringify(claimed.parts), held.holder, held.generation, now]
          )
        })
      )
      .pipe(Effect.catchTag("SqlError", (error) => Effect.fail(new ClusterError({ operation: "claim", cause: reasonOf(error) }))))

  const recordSentRemovingMessages = (claimed: Claim) =>
    Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) =>
      sql.withTransaction(
        Effect.all([
          sql.unsafe(`DELETE FROM failmail_messages WHERE id = ANY($1::text[])`, [messageIdsOf(claimed)]),
          sql.unsafe(`UPDATE failmail_summaries SET state = 'sent', sent_ms = $2 WHERE summary_id = $1`, [claimed.summaryId, now]),
          sql.unsafe(`DELETE FROM failmail_summaries WHERE state = 'sent' AND sent_ms < $1`, [now - KEEP_SENT_MS])
        ])
      )
    ).pipe(Effect.asVoid, failing("record a summary sent"))

  const unfinished = sql
    .unsafe<ClaimRow>(`SELECT summary_id, recipients, parts FROM failmail_summaries WHERE state = 'sending' ORDER BY claimed_ms`)
    .pipe(
      Effect.map((rows) => rows.map((row): Claim => ({ summaryId: row.summary_id, recipients: row.recipients, parts: row.parts }))),
      failing("list unfinished claims")
    )

  let looks = 0
  const arrivals = (after: number, taken: (id: string) => boolean) =>
    Effect.gen(function* () {
      const full = looks++ % FULL_EVERY === 0
      const rows = yield* sql.unsafe<{ readonly id: string; readonly seq: string }>(
        full ? `SELECT id, seq FROM failmail_messages` : `SELECT id, seq FROM failmail_messages WHERE seq > $1`,
        full ? [] : [after - MARGIN_ROWS]
      )
      const next = rows.reduce((max, row) => Math.max(max, Number(row.seq)), after)
      const wanted = rows.map((row) => row.id).filter((id) => !taken(id) && mayBeTaken(id))
      const records =
        wanted.length === 0
          ? []
          : yield* sql.unsafe<Schema.MessageRow>(
              `SELECT ${Schema.RECORD_COLUMNS}
                FROM failmail_messages WHERE id = ANY($1::text[]) ORDER BY received_at, id COLLATE "C"`,
              [wanted]
            )
      return {
        records: records.map(Schema.recordOf),
        next,
        present: full ? rows.map((row) => row.id) : undefined
      }
    }).pipe(Effect.mapError((error) => new SpoolError({ operation: "follow arrivals", cause: reasonOf(error) })))

  return { heartbeat, leave, acquire, release, lease, replicas, claim, recordSentRemovingMessages, unfinished, arrivals } satisfies ClusterBackend
})

/**
 * The cluster in the database at `url`, on a pool of its own. Not reaching
 * the database at start is an error at start, as for the store.
 */
export const layerOf = (url: Redacted.Redacted<string>) =>
  Cluster.fromBackend(backend).pipe(
    Layer.provide(
      PgClient.layer({ url, applicationName: "failmail-cluster", connectTimeout: Duration.seconds(5), idleTimeout: Duration.minutes(1), maxConnections: 2 })
    ),
    Layer.mapError((error) => {
      const reason = error._tag === "SqlError" ? reasonOf(error) : error
      return new StartError({ message: `cluster state in PostgreSQL: ${reason instanceof Error ? reason.message : String(reason)}` })
    })
  )
