/** Handlers of the `messages` group (`src/domain/api/Messages.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { BatchNotPending } from "../../../domain/api/Batches.ts"
import { downloadName, heldMessageOf, MessageNotHeld, MessageUnreadable } from "../../../domain/api/Messages.ts"
import { Batcher } from "../../batching/Batcher.ts"
import { Store } from "../../store/Store.ts"

/** The `messages` handlers. */
export const MessagesLive = HttpApiBuilder.group(FailmailApi, "messages", (handlers) =>
  Effect.gen(function* () {
    const batcher = yield* Batcher
    const store = yield* Store
    const ofBatch = (key: string) =>
      Effect.flatMap(batcher.messages(key), (messages) =>
        messages === undefined
          ? Effect.fail(new BatchNotPending({ error: "no pending batch with this key", key }))
          : Effect.succeed(messages.map(heldMessageOf))
      )
    return handlers
      .handle("ofBatch", ({ path }) => ofBatch(path.key))
      .handle("ofBatchByQuery", ({ urlParams }) => ofBatch(urlParams.key))
      .handleRaw("raw", ({ path }) =>
        store.readRaw(path.id).pipe(
          Effect.map((raw) =>
            HttpServerResponse.uint8Array(raw, {
              contentType: "message/rfc822",
              headers: { "content-disposition": `attachment; filename="${downloadName(path.id)}"` }
            })
          ),
          Effect.catchAll((error): Effect.Effect<never, MessageNotHeld | MessageUnreadable> =>
            error.isMissing
              ? Effect.fail(new MessageNotHeld({ error: "no held message with this id", id: path.id }))
              : Effect.logError(`cannot serve message ${path.id}: ${error.message}`).pipe(
                  Effect.zipRight(Effect.fail(new MessageUnreadable({ error: error.message, id: path.id })))
                )
          )
        )
      )
  })
)
