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
    /** What both probes report: the listener, and whether the spool takes messages (its probe write succeeds and intake's recent writes mostly did). */
    const state = Effect.gen(function* () {
      const smtp = yield* smtpListener.listening
      const spool = (yield* store.checkHealth) && !refusing(yield* smtpListener.recentWrites)
      return { smtp, spool }
    })
    /** 200 with the state when `passes` holds of it, 503 otherwise. */
    const probe = (passes: (state: { readonly smtp: boolean; readonly spool: boolean }) => boolean) =>
      Effect.flatMap(state, (now) =>
        passes(now) ? Effect.succeed({ status: "ok" as const, ...now }) : Effect.fail(new Unhealthy({ status: "unavailable", ...now }))
      )
    return handlers
      // Liveness: the process answers and listens. A full disk or a database down is no reason to restart it.
      .handle("healthz", () => probe(({ smtp }) => smtp))
      // Readiness: mail sent here now would be stored.
      .handle("readyz", () => probe(({ smtp, spool }) => smtp && spool))
      .handle("metrics", () =>
        Effect.map(Effect.promise(() => metrics.registry.metrics()), (text) =>
          // the registry's own content type, which the API description names
          HttpServerResponse.text(text, { contentType: metrics.registry.contentType })
        )
      )
  })
)
