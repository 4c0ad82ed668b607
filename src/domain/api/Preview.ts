/**
 * Expression preview for the dashboard:
 *
 * - `POST /api/preview` with `{"batchExpr"?, "groupExpr"?}` — the summaries
 *   those expressions (each defaults to the running one) would make of what
 *   is pending now, as `failmail preview` prints them for a spool. An
 *   expression that does not compile is 400 naming its field. Nothing
 *   changes.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Either, Schema } from "effect"
import * as Expression from "../message/Expression.ts"
import type * as Preview from "../batching/Preview.ts"
import { rfc3339 } from "../Status.ts"
import { Time } from "./Fields.ts"

/** An expression that compiles; the message of one that does not names the setting (`batch-expr: …`). */
const ExpressionText = (setting: string) =>
  Schema.String.pipe(
    Schema.filter((source) => Either.match(Expression.compile(source, setting), { onLeft: (problem) => problem, onRight: () => true }))
  ).annotations({ description: `a --${setting} expression (default: the running one)` })

/** What to preview. */
export const PreviewRequest = Schema.Struct({
  batchExpr: Schema.optionalWith(ExpressionText("batch-expr"), { exact: true }),
  groupExpr: Schema.optionalWith(ExpressionText("group-expr"), { exact: true })
}).annotations({ identifier: "PreviewRequest" })

/** The summaries the expressions would make. */
export const PreviewAnswer = Schema.Struct({
  messages: Schema.NonNegativeInt.annotations({ description: "pending messages looked at" }),
  summaries: Schema.Array(
    Schema.Struct({
      subject: Schema.String.annotations({ description: "the subject exactly as it would be sent" }),
      recipients: Schema.Array(Schema.String),
      batchKey: Schema.String,
      messages: Schema.NonNegativeInt,
      firstAt: Time,
      lastAt: Time,
      groups: Schema.Array(Schema.Struct({ key: Schema.String, subject: Schema.String, count: Schema.NonNegativeInt }))
    })
  ),
  failures: Schema.Array(
    Schema.Struct({
      id: Schema.String.annotations({ description: "spool id of the message" }),
      subject: Schema.String,
      errors: Schema.Array(Schema.String).annotations({ description: "why an expression failed on it (its key is then empty)" })
    })
  ),
  unreadable: Schema.Array(Schema.Struct({ id: Schema.String, error: Schema.String }))
}).annotations({ identifier: "PreviewAnswer" })

/** The preview as it goes out. */
export const previewAnswerOf = (preview: Preview.Preview): typeof PreviewAnswer.Type => ({
  messages: preview.messageCount,
  summaries: preview.summaries.map((summary) => ({
    subject: summary.subject,
    recipients: [...summary.recipients],
    batchKey: summary.batchKey,
    messages: summary.messageCount,
    firstAt: rfc3339(summary.firstAt),
    lastAt: rfc3339(summary.lastAt),
    groups: summary.groups.map((group) => ({ ...group }))
  })),
  failures: preview.failures.map((failure) => ({ ...failure, errors: [...failure.errors] })),
  unreadable: preview.unreadable.map((file) => ({ ...file }))
})

/** The `preview` endpoint group. */
export class PreviewApi extends HttpApiGroup.make("preview").add(
  HttpApiEndpoint.post("preview", "/api/preview")
    .setPayload(PreviewRequest)
    .addSuccess(PreviewAnswer)
    .annotate(OpenApi.Summary, "The summaries these expressions would make of what is pending (changes nothing)")
) {}
