/** Handlers of the `probes` group (`src/domain/api/Probes.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { Unhealthy } from "../../../domain/api/Probes.ts"
import { SmtpListener } from "../../smtp/SmtpListener.ts"
import { Metrics } from "../../runtime/Metrics.ts"
import { Store } from "../../store/Store.ts"

/** The `probes` handlers. */
export const ProbesLive = HttpApiBuilder.group(FailmailApi, "probes", (handlers) =>
  Effect.gen(function* () {
    const smtpListener = yield* SmtpListener
    const store = yield* Store
    const metrics = yield* Metrics
    const health = Effect.gen(function* () {
      const smtp = yield* smtpListener.listening
      const spoolOk = yield* store.checkHealth
      if (!(smtp && spoolOk)) return yield* Effect.fail(new Unhealthy({ status: "unavailable", smtp, spool: spoolOk }))
      return { status: "ok" as const, smtp, spool: spoolOk }
    })
    return handlers
      .handle("healthz", () => health)
      .handle("readyz", () => health)
      .handle("metrics", () =>
        Effect.map(Effect.promise(() => metrics.registry.metrics()), (text) =>
          // the registry's own content type, which the API description names
          HttpServerResponse.text(text, { contentType: metrics.registry.contentType })
        )
      )
  })
)
