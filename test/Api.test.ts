/**
 * The API's answers as pure functions (the original's stats fields, RFC 3339
 * times, batches soonest due first) and the API's description: every
 * endpoint is in the OpenAPI document with its errors' statuses.
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Effect, Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { FailmailApi } from "../src/domain/api/Api.ts"
import { Batch, BatchNotPending, batchOf, batchesOf } from "../src/domain/api/Batches.ts"
import { ClusterInfo, clusterInfoOf, ClusterUnavailable } from "../src/domain/api/Cluster.ts"
import { answer, createRefused, InvalidField, StateNotSaved, statusOf } from "../src/domain/api/Errors.ts"
import { ExpectationNotFound } from "../src/domain/api/Expectations.ts"
import { MessageNotHeld, MessageUnreadable } from "../src/domain/api/Messages.ts"
import { Unhealthy } from "../src/domain/api/Probes.ts"
import { SilenceNotFound } from "../src/domain/api/Silences.ts"
import { Stats, statsOf } from "../src/domain/api/Stats.ts"
import { Summary, summaryOf } from "../src/domain/api/Summaries.ts"
import { batch, summary, T0, totals } from "./support/status.ts"

describe("JSON shapes", () => {
  it("stats carry the original's fields, LastReceived (latest pending arrival) in RFC 3339", () => {
    const counts = { batches: 2, messages: 7, silenced: 3, lastAt: T0 + 45_000 }
    const stats = statsOf({ now: T0 + 90_000, version: "0.1.0", counts, totals })
    expect(stats).toMatchObject({
      ActiveBatches: 2,
      ActiveMessages: 7,
      LastReceived: "2026-11-25T08:30:45.000Z",
      LastAccepted: "2026-11-25T08:31:00.000Z",
      Received: 5,
      Rejected: 1,
      Silenced: 3,
      SummariesDelivered: 2,
      SummariesFailed: 1,
      StartedAt: "2026-11-25T08:30:00.000Z",
      UptimeSeconds: 90,
      Version: "0.1.0"
    })
    // what goes out is exactly what the function built, in the original's field order
    expect(Object.keys(Schema.encodeSync(Stats)(stats))).toEqual([
      "ActiveBatches",
      "ActiveMessages",
      "LastReceived",
      "LastAccepted",
      "Received",
      "Rejected",
      "Silenced",
      "SummariesDelivered",
      "SummariesFailed",
      "StartedAt",
      "Now",
      "UptimeSeconds",
      "Version"
    ])
  })

  it("LastReceived is Go's zero time whenever nothing is pending, as in the original", () => {
    const idle = { batches: 0, messages: 0, silenced: 0, lastAt: 0 }
    const before = statsOf({ now: T0, version: "0.1.0", counts: idle, totals: { ...totals, lastReceivedAt: 0 } })
    expect(before).toMatchObject({ LastReceived: "0001-01-01T00:00:00Z", LastAccepted: "0001-01-01T00:00:00Z" })
    const afterFlush = statsOf({ now: T0 + 90_000, version: "0.1.0", counts: idle, totals })
    expect(afterFlush).toMatchObject({ LastReceived: "0001-01-01T00:00:00Z", LastAccepted: "2026-11-25T08:31:00.000Z" })
  })

  it("batches are listed soonest due first, with times and time left", () => {
    const list = batchesOf([batch({ key: "late", dueAt: T0 + 500_000 }), batch({ key: "soon" })], T0 + 100_000)
    expect(list.map((b) => b.key)).toEqual(["soon", "late"])
    expect(list[0]).toMatchObject({
      messageCount: 3,
      groupCount: 2,
      firstAt: "2026-11-25T08:30:10.000Z",
      dueAt: "2026-11-25T08:32:00.000Z",
      dueInMs: 20_000
    })
    expect(batchOf(batch(), T0 + 999_000).dueInMs).toBe(0)
    expect(Schema.encodeSync(Schema.Array(Batch))(list)).toEqual(list)
  })

  it("summaries keep status, error and times", () => {
    const answer = summaryOf(summary({ status: "retrying", attempts: 2, error: "421 busy" }))
    expect(answer).toEqual({
      id: 7,
      batchKey: "web",
      subject: "[failmail] 2 instances: timeout",
      recipients: ["ops@example.com"],
      messageCount: 2,
      groupCount: 1,
      status: "retrying",
      attempts: 2,
      error: "421 busy",
      failedPath: "",
      messageId: "<7@test>",
      thread: "<7@test>",
      createdAt: "2026-11-25T08:30:30.000Z",
      updatedAt: "2026-11-25T08:30:31.000Z"
    })
    expect(Schema.encodeSync(Summary)(answer)).toEqual(answer)
  })
})

describe("the cluster", () => {
  const replica = (id: string, heartbeatAt: number) => ({ id, hostname: `host-${id}`, smtp: "0.0.0.0:25", http: "0.0.0.0:8025", version: "0.1.0", heartbeatAt })

  it("lists the replicas most recently heard from first, marking the sender and the one answering", () => {
    const info = clusterInfoOf({ self: "b", sender: "a", replicas: [replica("a", T0 + 1000), replica("b", T0 + 3000), replica("c", T0)] })
    expect(info.self).toBe("b")
    expect(info.sender).toBe("a")
    expect(info.replicas.map((r) => [r.id, r.lastHeartbeat, r.sender, r.self])).toEqual([
      ["b", "2026-11-25T08:30:03.000Z", false, true],
      ["a", "2026-11-25T08:30:01.000Z", true, false],
      ["c", "2026-11-25T08:30:00.000Z", false, false]
    ])
    expect(Schema.encodeSync(ClusterInfo)(info)).toEqual(info)
  })

  it("names no sender while none holds the lease", () => {
    expect(clusterInfoOf({ self: "a", sender: undefined, replicas: [replica("a", T0)] })).toMatchObject({ sender: null })
  })
})

describe("error answers", () => {
  it("are plain JSON objects in the shapes the API always had (no _tag)", () => {
    expect(Schema.encodeSync(answer(BatchNotPending))(new BatchNotPending({ error: "no pending batch with this key", key: "db" }))).toEqual({
      error: "no pending batch with this key",
      key: "db"
    })
    expect(Schema.encodeSync(answer(Unhealthy))(new Unhealthy({ status: "unavailable", smtp: true, spool: false }))).toEqual({
      status: "unavailable",
      smtp: true,
      spool: false
    })
    expect(Schema.encodeSync(answer(InvalidField))(new InvalidField({ error: "for: bad", field: "for" }))).toEqual({ error: "for: bad", field: "for" })
    expect(Schema.encodeSync(answer(StateNotSaved))(new StateNotSaved({ error: "disk full" }))).toEqual({ error: "disk full" })
  })

  it.each([
    [BatchNotPending, 404],
    [MessageNotHeld, 404],
    [MessageUnreadable, 500],
    [SilenceNotFound, 404],
    [ExpectationNotFound, 404],
    [InvalidField, 400],
    [StateNotSaved, 503],
    [ClusterUnavailable, 503],
    [Unhealthy, 503]
  ] as const)("%s is a tagged error carrying HTTP status %i, and its answer the same", (error, status) => {
    expect(HttpApiSchema.getStatusError(error)).toBe(status)
    expect(HttpApiSchema.getStatusError(answer(error as never))).toBe(status)
    expect(error._tag).toBe(error.identifier)
  })

  it("are told apart by their tag in the error channel", async () => {
    const caught = await Effect.runPromise(
      Effect.fail(new SilenceNotFound({ error: "no such silence", id: "s1" })).pipe(
        Effect.catchTag("SilenceNotFound", (error) => Effect.succeed(error.id))
      )
    )
    expect(caught).toBe("s1")
  })

  it("a body decodes back to its error", () => {
    const decoded = Schema.decodeUnknownEither(answer(BatchNotPending))({ error: "gone", key: "db" })
    expect(Either.isRight(decoded) && decoded.right instanceof BatchNotPending && decoded.right._tag).toBe("BatchNotPending")
  })

  it("a refused create is 400 naming the field, or 503 when the state could not be saved", () => {
    const invalid = createRefused({ field: "match.subject", message: "not a regular expression" })
    expect(invalid).toBeInstanceOf(InvalidField)
    expect({ ...invalid }).toEqual({ _tag: "InvalidField", error: "match.subject: not a regular expression", field: "match.subject" })
    expect(statusOf(invalid)).toBe(400)
    const unsaved = createRefused({ _tag: "StateError", message: "state write silences: EROFS" })
    expect({ ...unsaved }).toEqual({ _tag: "StateNotSaved", error: "the state could not be saved, nothing changed: state write silences: EROFS" })
    expect(statusOf(unsaved)).toBe(503)
  })
})

describe("OpenAPI document", () => {
  const spec = OpenApi.fromApi(FailmailApi)
  const operation = (path: string, method: "get" | "post") => (spec.paths[path] as Record<string, any> | undefined)?.[method]

  it("describes every endpoint, with OpenAPI path parameters", () => {
    expect(spec.info).toMatchObject({ title: "failmail", version: expect.stringMatching(/^\d+\.\d+\.\d+/) })
    for (const [path, method] of [
      ["/api/stats", "get"],
      ["/api/batches", "get"],
      ["/api/batches/{key}/flush", "post"],
      ["/api/batches/flush", "post"],
      ["/api/flush", "post"],
      ["/api/batches/{key}/messages", "get"],
      ["/api/batches/messages", "get"],
      ["/api/messages/{id}/raw", "get"],
      ["/api/summaries", "get"],
      ["/healthz", "get"],
      ["/readyz", "get"],
      ["/metrics", "get"],
      ["/api/cluster", "get"]
    ] as const) {
      expect(operation(path, method), `${method} ${path}`).toBeDefined()
    }
  })

  it("names each error with its status: 404 for a batch not pending, 400 for a bad request, 503 when unhealthy", () => {
    expect(Object.keys(operation("/api/batches/{key}/flush", "post").responses).sort()).toEqual(["200", "400", "404"])
    const byQuery = operation("/api/batches/flush", "post")
    expect(byQuery.parameters).toEqual([expect.objectContaining({ name: "key", in: "query", required: true })])
    expect(Object.keys(operation("/healthz", "get").responses).sort()).toEqual(["200", "400", "503"])
    expect(Object.keys(operation("/api/cluster", "get").responses).sort()).toEqual(["200", "400", "503"])
    expect(Object.keys(operation("/metrics", "get").responses["200"].content)).toEqual(["text/plain; version=0.0.4; charset=utf-8"])
    const raw = operation("/api/messages/{id}/raw", "get")
    expect(Object.keys(raw.responses).sort()).toEqual(["200", "400", "404", "500"])
    expect(Object.keys(raw.responses["200"].content)).toEqual(["message/rfc822"])
  })
})
