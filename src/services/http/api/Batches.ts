/** Handlers of the `batches` group (`src/domain/api/Batches.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Clock, Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { BatchNotPending, batchesOf } from "../../../domain/api/Batches.ts"
import { Batcher } from "../../batching/Batcher.ts"

/** The `batches` handlers. */
export const BatchesLive = HttpApiBuilder.group(FailmailApi, "batches", (handlers) =>
  Effect.gen(function* () {
    const batcher = yield* Batcher
    const flushOne = (key: string) =>
      Effect.flatMap(batcher.flush(key), (flushed) =>
        flushed
          ? Effect.succeed({ flushed: true as const, key })
          : Effect.fail(new BatchNotPending({ error: "no pending batch with this key", key }))
      )
    return handlers
      .handle("list", () => Effect.zipWith(batcher.snapshot, Clock.currentTimeMillis, batchesOf))
      .handle("flush", ({ path }) => flushOne(path.key))
      .handle("flushByQuery", ({ urlParams }) => flushOne(urlParams.key))
      .handle("flushAll", () => Effect.map(batcher.flushAll, (flushed) => ({ flushed })))
  })
)
