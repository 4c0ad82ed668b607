/**
 * Expected mail (see `src/domain/expectations/Expectation.ts`):
 *
 * - `POST /api/expectations` `{"name", "match", "every", "to"}` → `201 {"id"}`;
 *   a bad request is `400 {"error", "field"}` naming the field; `503 {"error"}`
 *   when it could not be saved durably (nothing is created);
 * - `GET /api/expectations` — every expectation, with when it was last met;
 * - `DELETE /api/expectations/{id}` — deletes one (`503` and kept if that could not be saved).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Duration, Schema } from "effect"
import * as Expectation from "../expectations/Expectation.ts"
import * as GoDuration from "../settings/GoDuration.ts"
import { rfc3339 } from "../Status.ts"
import { answer, InvalidField, StateNotSaved } from "./Errors.ts"
import { Created, MatchersIn } from "./Silences.ts"

const Time = Schema.String.annotations({ description: "RFC 3339, UTC; empty when it never happened" })

/** A request to create an expectation. */
export const ExpectationRequest = Schema.Struct({
  name: Schema.String,
  match: MatchersIn,
  every: Schema.String.annotations({ description: "the longest a matching message may be absent, as a Go duration (24h)" }),
  to: Schema.Array(Schema.String).annotations({ description: "who gets the missing and back notices" })
}).annotations({ identifier: "ExpectationRequest", parseOptions: { onExcessProperty: "error" } })

/** No expectation with this id (404). */
export class ExpectationNotFound extends Schema.TaggedError<ExpectationNotFound>()(
  "ExpectationNotFound",
  { error: Schema.String, id: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** An expectation as listed. */
export const ExpectationOut = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  match: MatchersIn,
  every: Schema.String,
  to: Schema.Array(Schema.String),
  createdAt: Time,
  lastMetAt: Time,
  dueAt: Time.annotations({ description: "when it is missing unless a matching message arrives" }),
  missing: Schema.Boolean,
  missingSince: Time
}).annotations({ identifier: "Expectation" })

/** An expectation as it goes out. */
export type ExpectationOut = typeof ExpectationOut.Type

const timeOrEmpty = (ms: number): string => (ms > 0 ? rfc3339(ms) : "")

/** An expectation for the API. */
export const expectationOf = (expectation: Expectation.Expectation): ExpectationOut => ({
  id: expectation.id,
  name: expectation.name,
  match: { ...expectation.match } as Record<string, string>,
  every: GoDuration.format(Duration.millis(expectation.everyMs)),
  to: [...expectation.to],
  createdAt: rfc3339(expectation.createdAt),
  lastMetAt: timeOrEmpty(expectation.lastMetAt),
  dueAt: rfc3339(Expectation.deadline(expectation)),
  missing: expectation.missingSince > 0,
  missingSince: timeOrEmpty(expectation.missingSince)
})

/** The `expectations` endpoint group. */
export class ExpectationsApi extends HttpApiGroup.make("expectations")
  .add(
    HttpApiEndpoint.post("create", "/api/expectations")
      .setPayload(ExpectationRequest)
      .addSuccess(Created, { status: 201 })
      .addError(answer(InvalidField))
      .addError(answer(StateNotSaved))
      .annotate(OpenApi.Summary, "Expect a message at least every so often; notify when it is missing")
  )
  .add(
    HttpApiEndpoint.get("list", "/api/expectations")
      .addSuccess(Schema.Array(ExpectationOut))
      .annotate(OpenApi.Summary, "Every expectation, with when it was last met")
  )
  .add(
    HttpApiEndpoint.del("remove", "/api/expectations/:id")
      .setPath(Schema.Struct({ id: Schema.String }))
      .addSuccess(Schema.Struct({ deleted: Schema.Literal(true), id: Schema.String }))
      .addError(answer(ExpectationNotFound))
      .addError(answer(StateNotSaved))
      .annotate(OpenApi.Summary, "Delete an expectation")
  ) {}
