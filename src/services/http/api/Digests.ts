/** Handlers of the `digests` group (`src/domain/api/Digests.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { heldOf, rememberedGroupOf } from "../../../domain/api/Digests.ts"
import { GroupMemory } from "../../batching/GroupMemory.ts"
import { Outbox } from "../../delivery/Outbox.ts"

/** The `digests` handlers. */
export const DigestsLive = HttpApiBuilder.group(FailmailApi, "digests", (handlers) =>
  Effect.gen(function* () {
    const memory = yield* GroupMemory
    const outbox = yield* Outbox
    return handlers
      .handle("groups", () => Effect.map(memory.list, (records) => records.map(rememberedGroupOf)))
      .handle("held", () => Effect.map(outbox.snapshot, (held) => held.map(heldOf)))
  })
)
