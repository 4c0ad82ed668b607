/**
 * How the API's errors are made, and the field errors the groups that
 * create things share (silences, expectations).
 *
 * Every API error is a `Schema.TaggedError` carrying its HTTP status
 * (`HttpApiSchema.annotations({ status })`): a handler fails with one, code
 * tells them apart by `_tag`, and the router answers with that status. An
 * endpoint declares it with {@link answer}, so its body is its fields alone:
 * `_tag` names the error in code, not on the wire, and the answers stay the
 * JSON objects the API has always given (`{"error": …, "field": …}`).
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { Predicate, Schema } from "effect"
import type { FieldError } from "../silences/Matchers.ts"

/** An API error class: a `Schema.TaggedError` with these fields beside its `_tag`. */
type ErrorClass<Self, Tag extends string, Fields extends Schema.Struct.Fields> = Schema.TaggedErrorClass<
  Self,
  Tag,
  { readonly _tag: Schema.tag<Tag> } & Fields
>

/**
 * The answer an endpoint declares for an error (`.addError(answer(NotFound))`):
 * the error's fields as a JSON object, without its `_tag`, with the error's
 * HTTP status and its name in the OpenAPI document.
 */
export const answer = <Self, Tag extends string, Fields extends Schema.Struct.Fields>(
  error: ErrorClass<Self, Tag, Fields>
): Schema.Schema<Self, Schema.Struct.Encoded<Fields>> => {
  const known = answers.get(error)
  if (known !== undefined) return known as Schema.Schema<Self, Schema.Struct.Encoded<Fields>>
  const { _tag, ...fields } = error.fields
  const body = Schema.encodedSchema(Schema.Struct(fields)) as unknown as Schema.Schema<object>
  const tagged = error as unknown as Schema.Schema<Self, { readonly _tag: string }>
  const made = Schema.transform(body, tagged, {
    strict: false,
    decode: (fields) => ({ ...fields, _tag: error._tag }),
    encode: ({ _tag, ...fields }) => fields
  }).annotations({ identifier: error.identifier, ...HttpApiSchema.annotations({ status: HttpApiSchema.getStatusError(error) }) })
  answers.set(error, made)
  return made as unknown as Schema.Schema<Self, Schema.Struct.Encoded<Fields>>
}

/** One answer per error class, so an error several endpoints declare is one schema (one OpenAPI component). */
const answers = new WeakMap<object, Schema.Schema.Any>()

/** A request field that is wrong (400), named in `field`. */
export class InvalidField extends Schema.TaggedError<InvalidField>()(
  "InvalidField",
  { error: Schema.String, field: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** The change could not be saved durably, so it was not made (503). */
export class StateNotSaved extends Schema.TaggedError<StateNotSaved>()(
  "StateNotSaved",
  { error: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** The state store's failure, as far as the API needs it (the store's `StateError`). */
export interface StateFailure {
  readonly _tag: "StateError"
  readonly message: string
}

/** The 503 answer for a change the state store refused. */
export const stateNotSaved = (error: { readonly message: string }): StateNotSaved =>
  new StateNotSaved({ error: `the state could not be saved, nothing changed: ${error.message}` })

/** The 400 answer for a wrong request field, saying which and why. */
export const invalidField = (error: FieldError): InvalidField =>
  new InvalidField({ error: `${error.field}: ${error.message}`, field: error.field })

/** A refused create, as the API answers it: 503 when the state could not be saved, else 400 naming the wrong field. */
export const createRefused = (error: FieldError | StateFailure): InvalidField | StateNotSaved =>
  Predicate.isTagged(error, "StateError") ? stateNotSaved(error) : invalidField(error)

/** The HTTP status an API error is answered with: the one its class carries. */
export const statusOf = (error: InvalidField | StateNotSaved): number =>
  HttpApiSchema.getStatusError(error._tag === "StateNotSaved" ? StateNotSaved : InvalidField)
