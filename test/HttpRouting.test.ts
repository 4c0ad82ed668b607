/**
 * The answers Http adds around the API's router, without a socket: 405 with
 * `Allow` derived from the routes, 404 in the path's language, and 400 (not
 * an empty answer or a 500) for a body that does not parse.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import { RequestError, RouteNotFound } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { answerRoutingErrors, methodNotAllowed } from "../src/services/http/App.ts"

const routes = HttpRouter.empty.pipe(
  HttpRouter.get("/api/things", Effect.succeed(HttpServerResponse.empty())),
  HttpRouter.post("/api/things", Effect.succeed(HttpServerResponse.empty())),
  HttpRouter.del("/api/things/:id", Effect.succeed(HttpServerResponse.empty()))
).routes

/** Runs `app` wrapped by answerRoutingErrors for one request; the answer's status, headers and body. */
const answer = async (
  method: string,
  url: string,
  app: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse, unknown>,
  headers: Record<string, string> = {}
) => {
  const request = HttpServerRequest.fromWeb(new Request(`http://127.0.0.1${url}`, { method, headers }))
  const wrapped = answerRoutingErrors(methodNotAllowed(routes))(Effect.flatMap(HttpServerRequest.HttpServerRequest, app))
  const response = await Effect.runPromise(Effect.provideService(wrapped, HttpServerRequest.HttpServerRequest, request))
  const web = HttpServerResponse.toWeb(response)
  return { status: web.status, headers: Object.fromEntries(web.headers), text: await web.text() }
}

const notFound = (request: HttpServerRequest.HttpServerRequest) => Effect.fail(new RouteNotFound({ request }))

describe("answers around the API's router", () => {
  it("a known path with another method is 405 with every method its routes allow", async () => {
    const put = await answer("PUT", "/api/things", notFound)
    expect(put.status).toBe(405)
    expect(put.headers["allow"]).toBe("GET, HEAD, POST")
    expect(JSON.parse(put.text)).toEqual({ error: "method PUT not allowed" })
    expect((await answer("GET", "/api/things/42", notFound)).headers["allow"]).toBe("DELETE")
  })

  it("an unknown path is 404: JSON under /api/, text elsewhere", async () => {
    const api = await answer("GET", "/api/nothing", notFound)
    expect(api.status).toBe(404)
    expect(JSON.parse(api.text)).toEqual({ error: "not found" })
    const page = await answer("GET", "/nothing", notFound)
    expect(page.status).toBe(404)
    expect(page.headers["content-type"]).toMatch(/^text\/plain/)
  })

  it("a body that does not parse is 400 with a JSON error, other defects stay defects", async () => {
    const bad = await answer(
      "POST",
      "/api/things",
      (request) => Effect.die(new RequestError({ request, reason: "Decode", description: "Unexpected end of JSON input" })),
      { "content-type": "application/json" }
    )
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.text)).toEqual({ error: "the request body cannot be read as application/json" })
    await expect(answer("POST", "/api/things", () => Effect.die(new Error("boom")))).rejects.toThrow("boom")
  })
})
