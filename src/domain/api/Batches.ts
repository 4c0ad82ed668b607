/**
 * Pending batches: list them, and send one or all of them now.
 *
 * - `GET /api/batches` — pending batches, soonest due first;
 * - `POST /api/batches/{key}/flush` — send one now (key URL-encoded);
 * - `POST /api/batches/flush?key=…` — the same, and it also reaches the
 *   default batch, whose key is the empty string (`?key=`);
 * - `POST /api/flush` — send every pending batch now.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { type BatchSnapshot, rfc3339 } from "../Status.ts"
import { answer } from "./Errors.ts"
import { BatchKey, BatchKeyParam, Time } from "./Fields.ts"


/** One pending batch. */
export const Batch = Schema.Struct({
  key: BatchKey,
  recipients: Schema.Array(Schema.String),
  messageCount: Schema.NonNegativeInt,
  groupCount: Schema.NonNegativeInt,
  groups: Schema.Array(Schema.Struct({ key: Schema.String, subject: Schema.String, count: Schema.NonNegativeInt })),
  firstAt: Time,
  lastAt: Time,
  dueAt: Time.annotations({ description: "when the summary will be sent (RFC 3339, UTC)" }),
  dueInMs: Schema.NonNegativeInt.annotations({ description: "milliseconds until dueAt (0 when due)" }),
  held: Schema.Literal("", "repeat").annotations({
    description: "repeat: it came due but waits for --repeat-interval (every group reported lately, nothing new) until dueAt"
  })
}).annotations({ identifier: "Batch" })

/** One pending batch as it goes out. */
export type Batch = typeof Batch.Type

/** A pending batch for the API. */
export const batchOf = (batch: BatchSnapshot, now: number): Batch => ({
  key: batch.key,
  recipients: [...batch.recipients],
  messageCount: batch.messageCount,
  groupCount: batch.groups.length,
  groups: batch.groups.map((group) => ({ key: group.key, subject: group.subject, count: group.count })),
  firstAt: rfc3339(batch.firstAt),
  lastAt: rfc3339(batch.lastAt),
  dueAt: rfc3339(batch.dueAt),
  dueInMs: Math.max(0, batch.dueAt - now),
  held: batch.held
})

/** Pending batches, soonest due first. */
export const soonestFirst = (batches: ReadonlyArray<BatchSnapshot>): ReadonlyArray<BatchSnapshot> =>
  [...batches].sort((a, b) => a.dueAt - b.dueAt)

/** Pending batches for the API, soonest due first. */
export const batchesOf = (batches: ReadonlyArray<BatchSnapshot>, now: number): ReadonlyArray<Batch> =>
  soonestFirst(batches).map((batch) => batchOf(batch, now))

/** The answer to flushing one batch. */
export const Flushed = Schema.Struct({ flushed: Schema.Literal(true), key: BatchKey }).annotations({ identifier: "Flushed" })

/** The answer to flushing every batch: how many were sent. */
export const FlushedAll = Schema.Struct({ flushed: Schema.NonNegativeInt }).annotations({ identifier: "FlushedAll" })

/** No batch with this key is pending (404). */
export class BatchNotPending extends Schema.TaggedError<BatchNotPending>()(
  "BatchNotPending",
  { error: Schema.String, key: BatchKey },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** The `batches` endpoint group. */
export class BatchesApi extends HttpApiGroup.make("batches")
  .add(
    HttpApiEndpoint.get("list", "/api/batches")
      .addSuccess(Schema.Array(Batch))
      .annotate(OpenApi.Summary, "Pending batches, soonest due first")
  )
  .add(
    HttpApiEndpoint.post("flush", "/api/batches/:key/flush")
      .setPath(BatchKeyParam)
      .addSuccess(Flushed)
      .addError(answer(BatchNotPending))
      .annotate(OpenApi.Summary, "Send one batch now (key URL-encoded; use the query form for the default batch)")
  )
  .add(
    HttpApiEndpoint.post("flushByQuery", "/api/batches/flush")
      .setUrlParams(BatchKeyParam)
      .addSuccess(Flushed)
      .addError(answer(BatchNotPending))
      .annotate(OpenApi.Summary, "Send one batch now; ?key= reaches the default batch")
  )
  .add(
    HttpApiEndpoint.post("flushAll", "/api/flush")
      .addSuccess(FlushedAll)
      .annotate(OpenApi.Summary, "Send every pending batch now")
  ) {}
