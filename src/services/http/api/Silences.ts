/** Handlers of the `silences` group (`src/domain/api/Silences.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Clock, Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { InvalidField, SilenceNotFound, silenceOf, StateNotSaved, stateNotSaved } from "../../../domain/api/Silences.ts"
import type { FieldError } from "../../../domain/silences/Matchers.ts"
import { Batcher } from "../../batching/Batcher.ts"
import { Silences } from "../../silences/Silences.ts"
import { StateError } from "../../store/Store.ts"

/** A refused create request as the API answers it: 503 when the state could not be saved, else 400 naming the wrong field. */
export const createRefused = (error: FieldError | StateError): InvalidField | StateNotSaved =>
  error instanceof StateError ? stateNotSaved(error) : new InvalidField({ error: `${error.field}: ${error.message}`, field: error.field })

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
