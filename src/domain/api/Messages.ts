/**
 * What is held, message by message:
 *
 * - `GET /api/batches/{key}/messages` — the messages of a pending batch, in
 *   arrival order (key URL-encoded);
 * - `GET /api/batches/messages?key=…` — the same, and it also reaches the
 *   default batch, whose key is the empty string (`?key=`);
 * - `GET /api/messages/{id}/raw` — one held message exactly as received,
 *   as `message/rfc822` (a download).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import type { PendingMessage } from "../batching/Batching.ts"
import { isSpoolId } from "../message/Message.ts"
import { rfc3339 } from "../Status.ts"
import { BatchNotPending } from "./Batches.ts"
import { answer } from "./Errors.ts"
import { BatchKeyParam } from "./Fields.ts"

/** A message id as the API takes it: letters, digits, `-` and `_` (so it names nothing but a held message). */
export const MessageId = Schema.String.pipe(
  Schema.filter((id) => isSpoolId(id) || "a message id is 1 to 128 letters, digits, - and _")
).annotations({ description: "a held message's id (from GET /api/batches/{key}/messages)" })

/** One held message. */
export const HeldMessage = Schema.Struct({
  id: Schema.String,
  receivedAt: Schema.String.annotations({ description: "when failmail stored it (RFC 3339, UTC)" }),
  subject: Schema.String,
  sender: Schema.String.annotations({ description: "envelope sender, or the From header for the null sender" }),
  recipients: Schema.Array(Schema.String).annotations({ description: "envelope recipients, lower-cased" }),
  size: Schema.NonNegativeInt.annotations({ description: "bytes, as received" })
}).annotations({ identifier: "HeldMessage" })

/** One held message as it goes out. */
export type HeldMessage = typeof HeldMessage.Type

/** A pending message for the API. */
export const heldMessageOf = (message: PendingMessage): HeldMessage => ({
  id: message.id,
  receivedAt: rfc3339(message.receivedAt),
  subject: message.subject,
  sender: message.sender,
  recipients: [...message.recipients],
  size: message.size
})

/** No held message has this id (404). */
export class MessageNotHeld extends Schema.TaggedError<MessageNotHeld>()(
  "MessageNotHeld",
  { error: Schema.String, id: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** A held message could not be read (a failing disk): 500. */
export class MessageUnreadable extends Schema.TaggedError<MessageUnreadable>()(
  "MessageUnreadable",
  { error: Schema.String, id: Schema.String },
  HttpApiSchema.annotations({ status: 500 })
) {}

/** The raw message: `message/rfc822`. */
export const RawMessage = HttpApiSchema.Uint8Array({ contentType: "message/rfc822" })

/** The file name a downloaded message is saved under. */
export const downloadName = (id: string): string => `${id}.eml`

/** The `messages` endpoint group. */
export class MessagesApi extends HttpApiGroup.make("messages")
  .add(
    HttpApiEndpoint.get("ofBatch", "/api/batches/:key/messages")
      .setPath(BatchKeyParam)
      .addSuccess(Schema.Array(HeldMessage))
      .addError(answer(BatchNotPending))
      .annotate(OpenApi.Summary, "The messages of a pending batch, in arrival order (use the query form for the default batch)")
  )
  .add(
    HttpApiEndpoint.get("ofBatchByQuery", "/api/batches/messages")
      .setUrlParams(BatchKeyParam)
      .addSuccess(Schema.Array(HeldMessage))
      .addError(answer(BatchNotPending))
      .annotate(OpenApi.Summary, "The messages of a pending batch; ?key= reaches the default batch")
  )
  .add(
    HttpApiEndpoint.get("raw", "/api/messages/:id/raw")
      .setPath(Schema.Struct({ id: MessageId }))
      .addSuccess(RawMessage)
      .addError(answer(MessageNotHeld))
      .addError(answer(MessageUnreadable))
      .annotate(OpenApi.Summary, "One held message exactly as received (message/rfc822)")
  ) {}
