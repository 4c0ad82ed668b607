/** `GET /api/summaries`: the last summaries failmail made, newest first, with their delivery status. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { rfc3339, type SummaryRecord } from "../Status.ts"
import { Time } from "./Fields.ts"

/** One summary. */
export const Summary = Schema.Struct({
  id: Schema.NonNegativeInt,
  batchKey: Schema.String,
  subject: Schema.String,
  recipients: Schema.Array(Schema.String),
  messageCount: Schema.NonNegativeInt,
  groupCount: Schema.NonNegativeInt,
  status: Schema.Literal("sending", "retrying", "delivered", "failed"),
  attempts: Schema.NonNegativeInt,
  error: Schema.String.annotations({ description: "the last relay error, empty when none" }),
  failedPath: Schema.String.annotations({ description: "where it was filed when relaying gave up, empty otherwise" }),
  messageId: Schema.String.annotations({ description: "its Message-ID (empty for one recorded before threads were)" }),
  thread: Schema.String.annotations({
    description: "the Message-ID of the first summary of its thread (its own when it starts one; the others carry it in In-Reply-To and References)"
  }),
  createdAt: Time,
  updatedAt: Time
}).annotations({ identifier: "Summary" })

/** One summary as it goes out. */
export type Summary = typeof Summary.Type

/** A summary for the API. */
export const summaryOf = (summary: SummaryRecord): Summary => ({
  id: summary.id,
  batchKey: summary.batchKey,
  subject: summary.subject,
  recipients: [...summary.recipients],
  messageCount: summary.messageCount,
  groupCount: summary.groupCount,
  status: summary.status,
  attempts: summary.attempts,
  error: summary.error,
  failedPath: summary.failedPath,
  messageId: summary.messageId,
  thread: summary.thread,
  createdAt: rfc3339(summary.createdAt),
  updatedAt: rfc3339(summary.updatedAt)
})

/** The `summaries` endpoint group. */
export class SummariesApi extends HttpApiGroup.make("summaries").add(
  HttpApiEndpoint.get("list", "/api/summaries")
    .addSuccess(Schema.Array(Summary))
    .annotate(OpenApi.Summary, "The last 100 summaries, newest first")
) {}
