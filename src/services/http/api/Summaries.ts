/** Handlers of the `summaries` group (`src/domain/api/Summaries.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { summaryOf } from "../../../domain/api/Summaries.ts"
import { History } from "../../delivery/History.ts"

/** The `summaries` handlers. */
export const SummariesLive = HttpApiBuilder.group(FailmailApi, "summaries", (handlers) =>
  Effect.gen(function* () {
    const history = yield* History
    return handlers.handle("list", () => Effect.sync(() => history.recent().map(summaryOf)))
  })
)
