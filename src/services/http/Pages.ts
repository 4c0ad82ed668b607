/** The dashboard page, on the API's router (so credentials, the cross-site check, 404 and 405 apply alike). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as Configuration from "../../domain/Configuration.ts"
import * as Dashboard from "../../domain/Dashboard.ts"
import { VERSION } from "../../domain/Version.ts"
import { AppConfig } from "../AppConfig.ts"
import { Batcher } from "../Batcher.ts"
import { History } from "../History.ts"
import { currentStats } from "./Stats.ts"

/** `GET /`: the dashboard. */
export const PagesLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const batcher = yield* Batcher
    const history = yield* History
    const shownConfig = Configuration.redacted(config)
    const context = yield* Effect.context<Batcher | History>()
    const dashboard = Effect.gen(function* () {
      const stats = yield* currentStats
      const batches = yield* batcher.snapshot
      const nonce = crypto.randomBytes(16).toString("base64")
      const page = Dashboard.renderDashboard({
        now: stats.now,
        version: VERSION,
        stats,
        batches,
        summaries: history.recent(),
        config: shownConfig,
        nonce
      })
      return HttpServerResponse.text(page, {
        contentType: "text/html; charset=utf-8",
        headers: {
          "content-security-policy": Dashboard.contentSecurityPolicy(nonce),
          "referrer-policy": "no-referrer",
          "x-frame-options": "DENY"
        }
      })
    }).pipe(Effect.provide(context))
    yield* router.get("/", dashboard)
  })
)
