/** Handlers of the `expectations` group (`src/domain/api/Expectations.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { createRefused, stateNotSaved } from "../../../domain/api/Errors.ts"
import { ExpectationNotFound, expectationOf } from "../../../domain/api/Expectations.ts"
import { Expectations } from "../../expectations/Expectations.ts"

/** The `expectations` handlers. */
export const ExpectationsLive = HttpApiBuilder.group(FailmailApi, "expectations", (handlers) =>
  Effect.gen(function* () {
    const expectations = yield* Expectations
    return handlers
      .handle("create", ({ payload }) =>
        expectations.create(payload).pipe(
          Effect.map((expectation) => ({ id: expectation.id })),
          Effect.mapError(createRefused)
        )
      )
      .handle("list", () => Effect.map(expectations.list, (list) => list.map(expectationOf)))
      .handle("remove", ({ path }) =>
        Effect.flatMap(Effect.mapError(expectations.remove(path.id), stateNotSaved), (removed) =>
          removed
            ? Effect.succeed({ deleted: true as const, id: path.id })
            : Effect.fail(new ExpectationNotFound({ error: "no such expectation", id: path.id }))
        )
      )
  })
)
