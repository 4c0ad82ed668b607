/**
 * Silences (see `src/domain/silences/Silence.ts`):
 *
 * - `POST /api/silences` `{"match": {field: regexp}, "for" | "until", "comment", "author"}`
 *   → `201 {"id"}`; a bad request is `400 {"error", "field"}` naming the field;
 *   `503 {"error"}` when it could not be saved durably (nothing is created);
 * - `GET /api/silences` — those in force and those ended in the last 24 h, newest first;
 * - `DELETE /api/silences/{id}` — ends one now (`503` and still in force if the end could not be saved).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { MATCH_FIELDS } from "../silences/Matchers.ts"
import * as Silence from "../silences/Silence.ts"
import { rfc3339 } from "../Status.ts"
import { answer, InvalidField, StateNotSaved } from "./Errors.ts"
import { Time } from "./Fields.ts"

/** Matchers as sent: field → regular expression. */
export const MatchersIn = Schema.Record({ key: Schema.String, value: Schema.String }).annotations({
  description: `regular expressions (JavaScript syntax) on ${MATCH_FIELDS.join(", ")}; all must match; "to" matches when any recipient does`
})

/** Unknown fields are refused, so a typo does not silently do something else. */
const strict = { parseOptions: { onExcessProperty: "error" } } as const

/** A request to create a silence. */
export const SilenceRequest = Schema.Struct({
  match: MatchersIn,
  for: Schema.optional(Schema.String.annotations({ description: "how long, as a Go duration (1h, 30m)" })),
  until: Schema.optional(Time.annotations({ description: "until when (RFC 3339)" })),
  comment: Schema.optional(Schema.String),
  author: Schema.optional(Schema.String)
}).annotations({ identifier: "SilenceRequest", ...strict })

/** A created object's id (201). */
export const Created = Schema.Struct({ id: Schema.String }).annotations({ identifier: "Created" })

/** No silence with this id (404). */
export class SilenceNotFound extends Schema.TaggedError<SilenceNotFound>()(
  "SilenceNotFound",
  { error: Schema.String, id: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** A silence as listed. */
export const SilenceOut = Schema.Struct({
  id: Schema.String,
  match: MatchersIn,
  startsAt: Time,
  endsAt: Time,
  comment: Schema.String,
  author: Schema.String,
  active: Schema.Boolean,
  heldMessages: Schema.NonNegativeInt.annotations({ description: "messages it holds back now" })
}).annotations({ identifier: "Silence" })

/** A silence as it goes out. */
export type SilenceOut = typeof SilenceOut.Type

/** A silence for the API. */
export const silenceOf = (silence: Silence.Silence, now: number, held: number): SilenceOut => ({
  id: silence.id,
  match: { ...silence.match } as Record<string, string>,
  startsAt: rfc3339(silence.startsAt),
  endsAt: rfc3339(silence.endsAt),
  comment: silence.comment,
  author: silence.author,
  active: Silence.isActive(silence, now),
  heldMessages: held
})

/** The `silences` endpoint group. */
export class SilencesApi extends HttpApiGroup.make("silences")
  .add(
    HttpApiEndpoint.post("create", "/api/silences")
      .setPayload(SilenceRequest)
      .addSuccess(Created, { status: 201 })
      .addError(answer(InvalidField))
      .addError(answer(StateNotSaved))
      .annotate(OpenApi.Summary, "Silence the messages matchers select, for a while or until a time")
  )
  .add(
    HttpApiEndpoint.get("list", "/api/silences")
      .addSuccess(Schema.Array(SilenceOut))
      .annotate(OpenApi.Summary, "Silences in force and those ended in the last 24 hours, newest first")
  )
  .add(
    HttpApiEndpoint.del("end", "/api/silences/:id")
      .setPath(Schema.Struct({ id: Schema.String }))
      .addSuccess(SilenceOut)
      .addError(answer(SilenceNotFound))
      .addError(answer(StateNotSaved))
      .annotate(OpenApi.Summary, "End a silence now (what it held is summarized)")
  ) {}
