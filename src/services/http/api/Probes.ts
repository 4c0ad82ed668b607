/** Handlers of the `probes` group (`src/domain/api/Probes.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { Unhealthy } from "../../../domain/api/Probes.ts"
import { refusing } from "../../../domain/store/RecentWrites.ts"
import { SmtpListener } from "../../smtp/SmtpListener.ts"
import { Metrics } from "../../runtime/Metrics.ts"
import { Store } from "../../store/Store.ts"

/** The `probes` handlers. */
export const ProbesLive = HttpApiBuilder.group(FailmailApi, "probes", (handlers) =>
  Effect.gen(function* () {
    const smtpListener = yield* SmtpListener
    const store = yield* Store
    const metrics = yield* Metrics
    /** Whether the spool takes messages: its probe write succeeds and intake's recent writes mostly did. */
    const spoolTakes = Effect.gen(function* () {
      const probed = yield* store.checkHealth
      return probed && !refusing(yield* smtpListener.recentWrites)
    })
    // Liveness: the process answers and listens. A full disk or a database down is no reason to restart it.
    const live = Effect.gen(function* () {
      const smtp = yield* smtpListener.listening
      const spool = yield* spoolTakes
      if (!smtp) return yield* Effect.fail(new Unhealthy({ status: "unavailable", smtp, spool }))
      return { status: "ok" as const, smtp, spool }
    })
    // Readiness: new mail sent here now would be stored.
    const ready = Effect.gen(function* () {
      const smtp = yield* smtpListener.listening
      const spool = yield* spoolTakes
      if (!(smtp && spool)) return yield* Effect.fail(new Unhealthy({ status: "unavailable", smtp, spool }))
      return { status: "ok" as const, smtp, spool }
    })
    return handlers
      .handle("healthz", () => live)
      .handle("readyz", () => ready)
      .handle("metrics", () =>
        Effect.map(Effect.promise(() => metrics.registry.metrics()), (text) =>
          // the registry's own content type, which the API description names
          HttpServerResponse.text(text, { contentType: metrics.registry.contentType })
        )
      )
  })
)
