/** Handlers of the `preview` group (`src/domain/api/Preview.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect, Logger, LogLevel } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { previewAnswerOf } from "../../../domain/api/Preview.ts"
import { AppConfig } from "../../runtime/AppConfig.ts"
import * as MailSource from "../../store/MailSource.ts"
import * as Previewer from "../../../commands/Previewer.ts"
import { Store } from "../../store/Store.ts"

/** The `preview` handlers. */
export const PreviewLive = HttpApiBuilder.group(FailmailApi, "preview", (handlers) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* Store
    return handlers.handle("preview", ({ payload }) =>
      Effect.gen(function* () {
        const candidates = yield* MailSource.pending
        const expressions = { batchExpr: payload.batchExpr ?? config.batchExpr, groupExpr: payload.groupExpr ?? config.groupExpr }
        return previewAnswerOf(yield* Previewer.preview(candidates).pipe(Effect.provide(Previewer.layerFor({ ...config, ...expressions }))))
      }).pipe(
        Effect.provideService(Store, store),
        // A failed expression is in the answer; logging it would read as trouble with real mail.
        Logger.withMinimumLogLevel(LogLevel.Error),
        // The payload's expressions compiled when it was decoded, and the spool is readable when failmail runs.
        Effect.orDie
      )
    )
  })
)
