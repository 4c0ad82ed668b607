/**
 * The dashboard, on the API's router (so credentials, the cross-site check,
 * 404 and 405 apply alike):
 *
 * - `GET /` — the page (`templates/dashboard/page.hbs`);
 * - `GET /fragments` — its live parts, rendered by the same partials, which
 *   the page script swaps in every 2 s;
 * - `GET /static/{file}` — its style and script.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as Configuration from "../../domain/Configuration.ts"
import { contentSecurityPolicy, type PageInput } from "../../domain/DashboardView.ts"
import { AppConfig } from "../AppConfig.ts"
import { Batcher } from "../Batcher.ts"
import { Dashboard } from "../Dashboard.ts"
import { History } from "../History.ts"
import { currentStats } from "./Stats.ts"

const HTML = "text/html; charset=utf-8"

/** The dashboard's routes. */
export const PagesLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function* () {
    const dashboard = yield* Dashboard
    const batcher = yield* Batcher
    const history = yield* History
    const config = Configuration.redacted(yield* AppConfig)
    const context = yield* Effect.context<Batcher | History>()

    const input = (nonce: string): Effect.Effect<PageInput> =>
      Effect.map(Effect.zip(currentStats, batcher.snapshot), ([stats, batches]) => ({
        stats,
        batches,
        summaries: history.recent(),
        config,
        nonce
      })).pipe(Effect.provide(context))

    yield* router.get(
      "/",
      Effect.suspend(() => {
        const nonce = crypto.randomBytes(16).toString("base64url")
        return Effect.map(input(nonce), (page) =>
          HttpServerResponse.text(dashboard.page(page), {
            contentType: HTML,
            headers: {
              "content-security-policy": contentSecurityPolicy(nonce),
              "referrer-policy": "no-referrer",
              "x-frame-options": "DENY"
            }
          })
        )
      })
    )
    yield* router.get(
      "/fragments",
      Effect.map(input(""), (page) => HttpServerResponse.text(dashboard.fragments(page), { contentType: HTML }))
    )
    for (const [name, file] of dashboard.staticFiles) {
      const response = HttpServerResponse.uint8Array(file.body, {
        contentType: file.contentType,
        headers: { "cache-control": "no-cache" }
      })
      yield* router.get(`/static/${name}`, Effect.succeed(response))
    }
  })
)
