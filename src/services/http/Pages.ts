/**
 * The dashboard, on the API's router (so credentials, the cross-site check,
 * 404 and 405 apply alike):
 *
 * - `GET /` — the page (`templates/dashboard/page.hbs`);
 * - `GET /batch?key=…` — one pending batch's messages, each with a download
 *   link (404 when no batch with that key is pending);
 * - `GET /fragments` — its live parts, rendered by the same partials, which
 *   the page script swaps in every 2 s;
 * - `GET /static/{file}` — its style and script;
 * - `GET /silence?t=…` — the page of a one-click silence link from a
 *   summary: it asks for confirmation; `POST /silence` (a form carrying the
 *   signed token) creates the silence. A link that was changed or is older
 *   than 7 days is refused (403).
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import { Clock, Effect, Option } from "effect"
import * as crypto from "node:crypto"
import * as Configuration from "../../domain/settings/Configuration.ts"
import { batchPageView, contentSecurityPolicy, type LinkPageView, linkPageView, type PageInput } from "../../domain/http/DashboardView.ts"
import { VERSION } from "../../domain/settings/Version.ts"
import * as SilenceLink from "../../domain/silences/SilenceLink.ts"
import { createRefused, statusOf } from "../../domain/api/Errors.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { Batcher } from "../batching/Batcher.ts"
import { Dashboard } from "./Dashboard.ts"
import { Expectations } from "../expectations/Expectations.ts"
import { History } from "../delivery/History.ts"
import { Outbox } from "../delivery/Outbox.ts"
import { SilenceLinks } from "../silences/SilenceLinks.ts"
import { Silences } from "../silences/Silences.ts"
import { currentStats } from "./api/Stats.ts"

const HTML = "text/html; charset=utf-8"

/** A fresh nonce for one page's inline script and style. */
const freshNonce = (): string => crypto.randomBytes(16).toString("base64url")

/**
 * A page a person reads: its inline script and style run only with `nonce`,
 * its forms post only to `formAction` (nowhere unless named), it is never
 * framed and its address never leaks as a referrer.
 */
const htmlPage = (body: string, nonce: string, status = 200, formAction?: string) =>
  HttpServerResponse.text(body, {
    status,
    contentType: HTML,
    headers: {
      "content-security-policy": contentSecurityPolicy(nonce, formAction),
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY"
    }
  })

/** The dashboard's routes. */
export const PagesLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function* () {
    const dashboard = yield* Dashboard
    const batcher = yield* Batcher
    const outbox = yield* Outbox
    const history = yield* History
    const silences = yield* Silences
    const expectations = yield* Expectations
    const links = yield* SilenceLinks
    const config = Configuration.redacted(yield* AppConfig)
    const context = yield* Effect.context<Batcher | History>()

    const input = (nonce: string): Effect.Effect<PageInput> =>
      Effect.gen(function* () {
        const held = yield* batcher.silenced
        return {
          stats: yield* currentStats,
          batches: yield* batcher.snapshot,
          held: yield* outbox.snapshot,
          summaries: history.recent(),
          silences: (yield* silences.list).map((silence) => ({ silence, held: held.get(silence.id) ?? 0 })),
          expectations: yield* expectations.list,
          config,
          nonce
        }
      }).pipe(Effect.provide(context))

    const linkAnswer = (view: (nonce: string) => LinkPageView, status: number) => {
      const nonce = freshNonce()
      return htmlPage(dashboard.linkPage(view(nonce)), nonce, status, "'self'")
    }

    /** The claim of a link's token, or the page that refuses it. */
    const checkToken = (token: string | undefined, now: number) => {
      const claim = token === undefined ? { refused: "this link has no token" } : links.verify(token, now)
      return SilenceLink.isRefused(claim)
        ? { refused: linkAnswer((nonce) => linkPageView({ state: "refused", reason: claim.refused }, now, nonce), 403) }
        : { claim }
    }

    yield* router.get(
      SilenceLink.LINK_PATH,
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const token = new URL(request.url, "http://failmail.invalid").searchParams.get("t") ?? undefined
        const now = yield* Clock.currentTimeMillis
        const checked = checkToken(token, now)
        if ("refused" in checked) return checked.refused
        return linkAnswer((nonce) => linkPageView({ state: "confirm", claim: checked.claim, token: token ?? "" }, now, nonce), 200)
      })
    )
    yield* router.post(
      SilenceLink.LINK_PATH,
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => UrlParams.empty)
        const field = (name: string) => Option.getOrUndefined(UrlParams.getFirst(form, name))
        const now = yield* Clock.currentTimeMillis
        const checked = checkToken(field("t"), now)
        if ("refused" in checked) return checked.refused
        const created = yield* Effect.either(
          silences.create({
            match: checked.claim.match as Record<string, string>,
            for: `${checked.claim.forMs}ms`,
            comment: field("comment") || "from a summary's silence link",
            author: field("author") ?? ""
          })
        )
        if (created._tag === "Left") {
          const refused = createRefused(created.left)
          return linkAnswer((nonce) => linkPageView({ state: "refused", reason: refused.error }, now, nonce), statusOf(refused))
        }
        return linkAnswer((nonce) => linkPageView({ state: "created", silence: created.right }, now, nonce), 201)
      })
    )

    yield* router.get(
      "/",
      Effect.suspend(() => {
        const nonce = freshNonce()
        return Effect.map(input(nonce), (page) => htmlPage(dashboard.page(page), nonce))
      })
    )
    yield* router.get(
      "/batch",
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const key = new URL(request.url, "http://failmail.invalid").searchParams.get("key")
        if (key === null) {
          return HttpServerResponse.text("which batch? ask batch?key=<batch key>\n", { status: 400, contentType: "text/plain; charset=utf-8" })
        }
        const [messages, now] = yield* Effect.zip(batcher.messages(key), Clock.currentTimeMillis)
        const nonce = freshNonce()
        return htmlPage(
          dashboard.batchPage(batchPageView({ key, messages, now, version: VERSION, nonce })),
          nonce,
          messages === undefined ? 404 : 200
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
