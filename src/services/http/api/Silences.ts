/** Handlers of the `silences` group (`src/domain/api/Silences.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Clock, Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { createRefused, stateNotSaved } from "../../../domain/api/Errors.ts"
import { SilenceNotFound, silenceOf } from "../../../domain/api/Silences.ts"
import { Batcher } from "../../batching/Batcher.ts"
import { Silences } from "../../silences/Silences.ts"

/** The `silences` handlers. */
export const SilencesLive = HttpApiBuilder.group(FailmailApi, "silences", (handlers) =>
  Effect.gen(function* () {
    const silences = yield* Silences
    const batcher = yield* Batcher
    return handlers
      .handle("create", ({ payload }) =>
        silences.create(payload).pipe(
          Effect.map((silence) => ({ id: silence.id })),
          Effect.mapError(createRefused)
        )
      )
      .handle("list", () =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const held = yield* batcher.silenced
          return (yield* silences.list).map((silence) => silenceOf(silence, now, held.get(silence.id) ?? 0))
        })
      )
      .handle("end", ({ path }) =>
        Effect.flatMap(Effect.zip(Effect.mapError(silences.end(path.id), stateNotSaved), Clock.currentTimeMillis), ([silence, now]) =>
          silence === undefined
            ? Effect.fail(new SilenceNotFound({ error: "no such silence", id: path.id }))
            : Effect.succeed(silenceOf(silence, now, 0))
        )
      )
  })
)
