/**
 * The HTTP surface over real HTTP: the whole pipeline (`pipeline(config)`)
 * on 127.0.0.1 port 0, mail sent in with nodemailer, summaries relayed to a
 * recording upstream (smtp-server), and every endpoint asked with node's
 * `http` client (so `Host`, `Origin` and `Sec-Fetch-Site` are ours to set).
 */
import { Context, Duration, Effect, Exit, Layer, Logger, Redacted, Scope } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { simpleParser } from "mailparser"
import nodemailer from "nodemailer"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { core, pipeline, processServices } from "../src/layers/Main.ts"
import type { RunningConfig } from "../src/services/runtime/AppConfig.ts"
import { Cluster } from "../src/services/cluster/Cluster.ts"
import { Http } from "../src/services/http/Http.ts"
import { Relay } from "../src/services/delivery/Relay.ts"
import { SmtpListener } from "../src/services/smtp/SmtpListener.ts"
import { eventually } from "./support/failmail.ts"
import { clusterInMemory, memoryCluster } from "./support/cluster.ts"
import { freePort } from "./support/replicas.ts"
import { memoryStorage } from "./support/pipeline.ts"
import { startUpstream, type Upstream } from "./support/upstream.ts"
import { tempDir } from "./support/tempdir.ts"
import { testConfig } from "./support/config.ts"

// ---------------------------------------------------------------------------
// Harness

interface Running {
  readonly smtpPort: number
  readonly httpPort: number
  /** Its replica id (see Cluster). */
  readonly self: string
  readonly logs: Array<string>
  readonly close: () => Promise<void>
}

/** HTTP on, relaying to the upstream on `upstreamPort`, batches held ten minutes (the API sees them pending). */
const configFor = (dir: string, upstreamPort: number, overrides: Partial<RunningConfig> = {}): RunningConfig =>
  testConfig(dir, {
    bindHttp: "127.0.0.1:0",
    relayAddr: `127.0.0.1:${upstreamPort}`,
    waitPeriod: Duration.minutes(10),
    maxWait: Duration.minutes(10),
    relayTimeout: Duration.seconds(5),
    shutdownTimeout: Duration.seconds(1),
    ...overrides
  })

/** Builds `pipeline(config)` (or `services`, the same graph on other storage) in its own scope; fails with the start error's message. */
const start = async (config: RunningConfig, services: ReturnType<typeof pipeline> = pipeline(config)): Promise<Running> => {
  const logs: Array<string> = []
  const capture = Logger.logfmtLogger.pipe(Logger.map((line) => void logs.push(line)))
  const layer = services.pipe(Layer.provide(Logger.replace(Logger.defaultLogger, capture)))
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.extend(Layer.toRuntime(layer), scope))
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  if (Exit.isFailure(exit)) {
    await close()
    const failure = exit.cause._tag === "Fail" ? (exit.cause.error as { message?: string }).message : String(exit.cause)
    throw new Error(failure)
  }
  return {
    smtpPort: Context.get(exit.value.context, SmtpListener).port,
    httpPort: Context.get(exit.value.context, Http).port,
    self: Context.get(exit.value.context, Cluster).self,
    logs,
    close
  }
}

interface Answer {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly text: string
  readonly json: () => any
}

/** One HTTP request to 127.0.0.1:`port` (with `body`, a JSON one; a string is sent as it is). */
const request = (port: number, method: string, url: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> =>
  new Promise((resolve, reject) => {
    if (body !== undefined) headers = { "content-type": "application/json", ...headers }
    const req = http.request({ host: "127.0.0.1", port, method, path: url, headers, agent: false }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) })
      })
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body))
  })

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

// ---------------------------------------------------------------------------

describe("HTTP API", () => {
  let dir = ""
  let upstream: Upstream
  let failmail: Running
  let port = 0
  const get = (url: string, headers: Record<string, string> = {}) => request(port, "GET", url, headers)
  const post = (url: string, headers: Record<string, string> = {}) => request(port, "POST", url, headers)
  const postJson = (url: string, body: unknown) => request(port, "POST", url, {}, body)
  const del = (url: string) => request(port, "DELETE", url)

  const send = async (subject: string, split: string | undefined, to = "ops@example.com") => {
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: failmail.smtpPort, secure: false, ignoreTLS: true })
    try {
      await transport.sendMail({
        from: "app@example.org",
        to,
        subject,
        text: `body of ${subject}`,
        headers: split === undefined ? {} : { "X-Failmail-Split": split }
      })
    } finally {
      transport.close()
    }
  }

  const summaries = async (): Promise<Array<any>> => (await get("/api/summaries")).json()
  const delivered = (key: string) =>
    eventually(
      `summary of ${JSON.stringify(key)} delivered`,
      async () => (await summaries()).find((s) => s.batchKey === key && s.status === "delivered"),
      10_000
    )

  beforeAll(async () => {
    dir = tempDir("failmail-http-")
    upstream = await startUpstream()
    failmail = await start(configFor(dir, upstream.port))
    port = failmail.httpPort
  })

  afterAll(async () => {
    await failmail?.close()
    await upstream?.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("listens on the port it reports", () => {
    expect(port).toBeGreaterThan(0)
    expect(failmail.logs.some((line) => line.includes(`message="listening on 127.0.0.1:${port}"`) && line.includes("component=http"))).toBe(true)
  })

  it("the first requests, sent together before anything was asked, are all answered (the app is built on the first)", async () => {
    const answers = await Promise.all(["/readyz", "/healthz", "/", "/metrics", "/api/stats"].map((url) => get(url)))
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200])
    expect(answers[0]?.json()).toEqual({ status: "ok", smtp: true, spool: true })
  })

  it("healthz and readyz are 200 while the listener and spool are fine", async () => {
    for (const url of ["/healthz", "/readyz"]) {
      const answer = await get(url)
      expect(answer.status).toBe(200)
      expect(answer.headers["content-type"]).toMatch(/^application\/json/)
      expect(answer.json()).toEqual({ status: "ok", smtp: true, spool: true })
    }
  })

  it("GET /api/cluster on the embedded store: one replica, this one, the sender", async () => {
    const answer = await get("/api/cluster")
    expect(answer.status).toBe(200)
    const cluster = answer.json()
    expect(cluster.sender).toBe(cluster.self)
    expect(cluster.replicas).toEqual([
      {
        id: cluster.self,
        hostname: os.hostname(),
        smtp: expect.any(String),
        http: expect.stringMatching(/^127\.0\.0\.1:/),
        version: expect.stringMatching(/^\d+\.\d+\.\d+/),
        lastHeartbeat: expect.stringMatching(RFC3339),
        sender: true,
        self: true
      }
    ])
  })

  it("stats before any mail: zero counts and Go's zero time", async () => {
    const answer = await get("/api/stats")
    expect(answer.status).toBe(200)
    expect(answer.headers["content-type"]).toMatch(/^application\/json/)
    expect(answer.headers["cache-control"]).toBe("no-store")
    const stats = answer.json()
    expect(stats).toMatchObject({ ActiveBatches: 0, ActiveMessages: 0, LastReceived: "0001-01-01T00:00:00Z", Received: 0 })
    expect(stats.Version).toMatch(/^\d+\.\d+\.\d+/)
    expect(stats.StartedAt).toMatch(RFC3339)
    expect(await (await get("/api/batches")).json()).toEqual([])
    expect(await (await get("/api/summaries")).json()).toEqual([])
  })

  it("lists pending batches with recipients, groups and due times", async () => {
    const before = Date.now()
    const team = "ops@example.com, Dev@Example.com"
    await send("disk full on db1", "alpha", team)
    await send("disk full on db1", "alpha", team)
    await send("cpu hot on db2", "alpha", team)
    await send("web down", "beta")
    await send("no split header", undefined)

    const stats = (await get("/api/stats")).json()
    expect(stats).toMatchObject({ ActiveBatches: 3, ActiveMessages: 5, Received: 5 })
    expect(stats.LastReceived).toMatch(RFC3339)
    expect(Date.parse(stats.LastReceived)).toBeGreaterThanOrEqual(before - 1000)
    expect(stats.LastAccepted).toBe(stats.LastReceived)

    const batches: Array<any> = (await get("/api/batches")).json()
    expect(batches.map((b) => b.key).sort()).toEqual(["", "alpha", "beta"])
    const alpha = batches.find((b) => b.key === "alpha")
    expect(alpha).toMatchObject({
      recipients: ["dev@example.com", "ops@example.com"],
      messageCount: 3,
      groupCount: 2,
      groups: [
        { subject: "disk full on db1", count: 2 },
        { subject: "cpu hot on db2", count: 1 }
      ]
    })
    expect(alpha.firstAt).toMatch(RFC3339)
    expect(alpha.lastAt).toMatch(RFC3339)
    // wait-period and max-wait are both 10 minutes: due 10 minutes after the first message
    expect(Date.parse(alpha.dueAt) - Date.parse(alpha.firstAt)).toBe(10 * 60_000)
    expect(alpha.dueInMs).toBeGreaterThan(9 * 60_000)
  })

  it("lists a pending batch's messages and downloads each one raw as message/rfc822; unknown or unsafe ids are refused", async () => {
    const answer = await get("/api/batches/alpha/messages")
    expect(answer.status).toBe(200)
    const messages: Array<any> = answer.json()
    expect(messages.map((message) => message.subject)).toEqual(["disk full on db1", "disk full on db1", "cpu hot on db2"])
    expect(messages[2]).toMatchObject({
      id: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
      sender: "app@example.org",
      recipients: ["dev@example.com", "ops@example.com"],
      size: expect.any(Number)
    })
    expect(messages[2].receivedAt).toMatch(RFC3339)

    const raw = await get(`/api/messages/${messages[2].id}/raw`)
    expect(raw.status).toBe(200)
    expect(raw.headers["content-type"]).toBe("message/rfc822")
    expect(raw.headers["content-disposition"]).toBe(`attachment; filename="${messages[2].id}.eml"`)
    expect(Buffer.byteLength(raw.text)).toBe(messages[2].size)
    expect((await simpleParser(raw.text)).subject).toBe("cpu hot on db2")

    // The dashboard's page of the batch links to each download.
    const batchPage = await get("/batch?key=alpha")
    expect(batchPage.status).toBe(200)
    expect(batchPage.headers["content-type"]).toBe("text/html; charset=utf-8")
    expect(batchPage.headers["content-security-policy"]).toMatch(/default-src 'none'/)
    expect(batchPage.text).toContain(`href="api/messages/${messages[2].id}/raw"`)
    expect((await get("/batch?key=nope")).status).toBe(404)
    expect((await get("/batch")).status).toBe(400)

    // The default batch (empty key) through the query form.
    const byQuery = await get("/api/batches/messages?key=")
    expect(byQuery.status).toBe(200)
    expect(byQuery.json().map((message: any) => message.subject)).toEqual(["no split header"])

    const notPending = await get("/api/batches/nope/messages")
    expect(notPending.status).toBe(404)
    expect(notPending.json()).toEqual({ error: "no pending batch with this key", key: "nope" })
    const unknown = await get("/api/messages/00000000000001-1-00000001/raw")
    expect(unknown.status).toBe(404)
    expect(unknown.json()).toEqual({ error: "no held message with this id", id: "00000000000001-1-00000001" })
    for (const unsafe of ["..%2F..%2F..%2Fetc%2Fpasswd", "..", "%2E%2E", ".hidden", "x.eml", "a%00b"]) {
      const refused = await get(`/api/messages/${unsafe}/raw`)
      expect(refused.status, unsafe).toBe(400)
    }
  })

  it("previews other expressions over what is pending, changing nothing; a bad one is 400 naming its field", async () => {
    const preview = (body: unknown) => request(port, "POST", "/api/preview", {}, body)
    const batchesBefore = (await get("/api/batches")).text.replace(/"dueInMs":\d+/g, "")

    const running = await preview({})
    expect(running.status, running.text).toBe(200)
    expect(running.json().messages).toBe(5)
    expect(running.json().summaries.map((summary: any) => [summary.batchKey, summary.subject, summary.recipients])).toEqual([
      ["alpha", "[failmail] 3 instances of 2 messages", ["dev@example.com", "ops@example.com"]],
      ["beta", "[failmail] 1 instance: web down", ["ops@example.com"]],
      ["", "[failmail] 1 instance: no split header", ["ops@example.com"]]
    ])

    const other = await preview({ batchExpr: "{{lower (match \"^\\w+\" subject)}}", groupExpr: '{{match "(" subject}}' })
    expect(other.status, other.text).toBe(200)
    const answer = other.json()
    expect(answer.summaries.map((summary: any) => summary.batchKey).sort()).toEqual(["cpu", "disk", "no", "web"])
    const disk = answer.summaries.find((summary: any) => summary.batchKey === "disk")
    expect(disk).toMatchObject({ subject: "[failmail] 2 instances: disk full on db1", messages: 2, groups: [{ key: "", count: 2 }] })
    expect(disk.firstAt).toMatch(RFC3339)
    expect(answer.failures).toHaveLength(5)
    expect(answer.failures[0].errors).toEqual([expect.stringMatching(/^group-expr: invalid regular expression "\(": /)])
    expect(answer.unreadable).toEqual([])

    const bad = await preview({ groupExpr: "{{#if" })
    expect(bad.status).toBe(400)
    expect(bad.json()).toMatchObject({ issues: [{ path: ["groupExpr"], message: expect.stringContaining('group-expr: invalid expression "{{#if"') }] })
    expect((await preview({ batchExpr: 7 })).json()).toMatchObject({ issues: [{ path: ["batchExpr"] }] })

    expect((await get("/api/batches")).text.replace(/"dueInMs":\d+/g, "")).toBe(batchesBefore)
    expect((await get("/api/stats")).json()).toMatchObject({ ActiveBatches: 3, ActiveMessages: 5 })
  })

  it("flushes one batch by key, then reports it delivered", async () => {
    const answer = await post("/api/batches/alpha/flush")
    expect(answer.status).toBe(200)
    expect(answer.headers["content-type"]).toMatch(/^application\/json/)
    expect(answer.json()).toEqual({ flushed: true, key: "alpha" })

    const summary = await delivered("alpha")
    expect(summary).toMatchObject({ messageCount: 3, groupCount: 2, attempts: 1, error: "" })
    expect(summary.subject).toContain("[failmail]")
    expect(summary.recipients).toEqual(["dev@example.com", "ops@example.com"])
    expect(summary.createdAt).toMatch(RFC3339)
    await eventually(
      "the summary upstream",
      () => upstream.deliveries.some((m) => m.raw.toString("utf8").includes("X-Failmail-Batch: alpha")),
      10_000
    )

    const batches: Array<any> = (await get("/api/batches")).json()
    expect(batches.map((b) => b.key).sort()).toEqual(["", "beta"])
    const stats = (await get("/api/stats")).json()
    expect(stats).toMatchObject({ ActiveBatches: 2, ActiveMessages: 2, SummariesDelivered: 1 })
  })

  it("lists the groups it reported, most recently seen first, and what the relay budget holds back", async () => {
    const groups = await eventually(
      "alpha's groups remembered",
      async () => {
        const list: Array<any> = (await get("/api/groups")).json()
        return list.filter((g) => g.batchKey === "alpha").length === 2 ? list : undefined
      },
      10_000
    )
    expect(groups.filter((g) => g.batchKey === "alpha").map((g) => [g.groupKey, g.instances, g.reports]).sort()).toEqual([
      ["cpu hot on db2", 1, 1],
      ["disk full on db1", 2, 1]
    ])
    expect(groups[0].lastReported).toMatch(RFC3339)
    expect((await get("/api/held")).json()).toEqual([])
  })

  it("a batch that is not pending is 404", async () => {
    const answer = await post("/api/batches/alpha/flush")
    expect(answer.status).toBe(404)
    expect(answer.json()).toMatchObject({ error: expect.any(String), key: "alpha" })
  })

  it("flushes the default (empty) batch key with ?key=", async () => {
    expect((await post("/api/batches/flush")).status).toBe(400)
    const answer = await post("/api/batches/flush?key=")
    expect(answer.status).toBe(200)
    expect(answer.json()).toEqual({ flushed: true, key: "" })
    await delivered("")
  })

  it("flushes keys that need URL-encoding, in the path and in the query", async () => {
    await send("odd key 1", "a/b c?&%")
    await send("odd key 2", "ünï #1=2")
    const inPath = await post(`/api/batches/${encodeURIComponent("a/b c?&%")}/flush`)
    expect(inPath.status).toBe(200)
    expect(inPath.json()).toEqual({ flushed: true, key: "a/b c?&%" })
    await delivered("a/b c?&%")
    // whatever key the header decoded to, the API hands it back and accepts it again
    const other: string = ((await get("/api/batches")).json() as Array<any>).find((b) => b.groups[0].subject === "odd key 2").key
    const inQuery = await post(`/api/batches/flush?key=${encodeURIComponent(other)}`)
    expect(inQuery.json()).toEqual({ flushed: true, key: other })
    await delivered(other)
  })

  it("flushes everything", async () => {
    await send("another", "gamma")
    const answer = await post("/api/flush")
    expect(answer.status).toBe(200)
    expect(answer.json()).toEqual({ flushed: 2 })
    await delivered("beta")
    await delivered("gamma")
    expect((await get("/api/batches")).json()).toEqual([])
    expect((await post("/api/flush")).json()).toEqual({ flushed: 0 })
    const stats = (await get("/api/stats")).json()
    expect(stats).toMatchObject({ ActiveBatches: 0, ActiveMessages: 0, SummariesDelivered: 6, SummariesFailed: 0 })
    // as in the original, LastReceived is the latest pending arrival: none after a flush
    expect(stats.LastReceived).toBe("0001-01-01T00:00:00Z")
    expect(stats.LastAccepted).toMatch(RFC3339)
    const list = await summaries()
    // both batches went out concurrently, so either may be the newest
    expect(list.slice(0, 2).map((summary) => summary.batchKey).sort()).toEqual(["beta", "gamma"])
    expect(list).toHaveLength(6)
  })

  it("serves the dashboard as HTML with a CSP", async () => {
    await send("<script>alert(1)</script>", "<b>evil</b>")
    const answer = await get("/")
    expect(answer.status).toBe(200)
    expect(answer.headers["content-type"]).toBe("text/html; charset=utf-8")
    expect(answer.headers["content-security-policy"]).toMatch(/script-src 'nonce-/)
    expect(answer.headers["x-content-type-options"]).toBe("nosniff")
    expect(answer.text).toContain("Pending batches")
    expect(answer.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;")
    expect(answer.text).not.toContain("<script>alert(1)</script>")
    expect(answer.text).not.toContain("<b>evil</b>")
    expect(answer.text).toContain("message-store")
    const head = await request(port, "HEAD", "/")
    expect(head.status).toBe(200)
    expect(head.text).toBe("")
  })

  it("serves the dashboard's live parts and its own style and script, which the CSP lets in by nonce", async () => {
    const page = await get("/")
    const nonce = /script-src 'nonce-([^']+)'/.exec(String(page.headers["content-security-policy"]))?.[1]
    expect(page.text).toContain(`<script src="static/dashboard.js" nonce="${nonce}" defer>`)
    expect(page.text).toContain(`<link rel="stylesheet" href="static/dashboard.css" nonce="${nonce}">`)

    const fragments = await get("/fragments")
    expect(fragments.status).toBe(200)
    expect(fragments.headers["content-type"]).toBe("text/html; charset=utf-8")
    expect(fragments.headers["cache-control"]).toBe("no-store")
    expect(fragments.text).toContain(`<template data-fragment="batches">`)
    expect(fragments.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;")
    expect(fragments.text).not.toContain("<script>alert(1)</script>")

    for (const [file, type] of [["dashboard.js", "text/javascript"], ["dashboard.css", "text/css"]] as const) {
      const answer = await get(`/static/${file}`)
      expect(answer.status, file).toBe(200)
      expect(answer.headers["content-type"]).toBe(`${type}; charset=utf-8`)
      expect(answer.headers["x-content-type-options"]).toBe("nosniff")
      expect(answer.text.length).toBeGreaterThan(500)
    }
    expect((await get("/static/nope.js")).status).toBe(404)
    expect((await post("/fragments")).headers["allow"]).toBe("GET, HEAD")
  })

  it("serves its OpenAPI document, and a bad request is 400 naming the field", async () => {
    const answer = await get("/api/openapi.json")
    expect(answer.status).toBe(200)
    expect(answer.headers["content-type"]).toMatch(/^application\/json/)
    const spec = answer.json()
    expect(spec.openapi).toMatch(/^3\./)
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(["/api/stats", "/api/batches/{key}/flush", "/api/flush"]))
    // HTTP Basic, needed with --credentials; the probes never need it.
    expect(spec.components.securitySchemes.basic).toMatchObject({ type: "http", scheme: "basic" })
    expect(spec.security).toEqual([{ basic: [] }, {}])
    expect(spec.paths["/healthz"].get.security).toEqual([{}])
    expect(spec.paths["/api/stats"].get.security).toBeUndefined()
    expect((await post("/api/openapi.json")).status).toBe(405)

    const bad = await post("/api/batches/flush")
    expect(bad.status).toBe(400)
    expect(bad.headers["content-type"]).toMatch(/^application\/json/)
    expect(bad.json()).toMatchObject({ issues: [{ path: ["key"], message: expect.any(String) }] })
    expect(bad.json().message).toContain("key")
  })

  it("creates, lists and ends silences; a bad one is 400 naming the field", async () => {
    const created = await postJson("/api/silences", { match: { subject: "^never sent" }, for: "1h", comment: "known", author: "ann" })
    expect(created.status).toBe(201)
    const id = created.json().id as string
    expect(id).toMatch(/^[0-9a-f]+$/)
    const listed = (await get("/api/silences")).json()
    expect(listed).toContainEqual(
      expect.objectContaining({ id, match: { subject: "^never sent" }, comment: "known", author: "ann", active: true, heldMessages: 0 })
    )
    expect(listed.find((s: any) => s.id === id).endsAt).toMatch(RFC3339)

    const bad = async (body: unknown) => {
      const answer = await postJson("/api/silences", body)
      expect(answer.status, JSON.stringify(body)).toBe(400)
      return JSON.stringify(answer.json())
    }
    expect(await bad({ match: {}, for: "1h" })).toContain('"field":"match"')
    expect(await bad({ match: { subject: "(" }, for: "1h" })).toContain('"field":"match.subject"')
    expect(await bad({ match: { subject: "x" } })).toContain('"field":"for"')
    expect(await bad({ match: { subject: "x" }, for: "1h", until: "2099-01-01T00:00:00Z" })).toContain('"field":"for"')
    expect(await bad({ match: { subject: "x" }, until: "2001-01-01T00:00:00Z" })).toContain('"field":"until"')
    expect(await bad({ match: { subject: "x" }, for: "1h", colour: "red" })).toContain("colour")

    const ended = await del(`/api/silences/${id}`)
    expect(ended.status).toBe(200)
    expect(ended.json()).toMatchObject({ id, active: false })
    expect((await get("/api/silences")).json().find((s: any) => s.id === id)).toMatchObject({ active: false })
    const unknown = await del("/api/silences/nope")
    expect(unknown.status).toBe(404)
    expect(unknown.json()).toEqual({ error: "no such silence", id: "nope" })
    expect((await get("/api/stats")).json()).toHaveProperty("Silenced", 0)
  })

  it("creates, lists and deletes expectations; a bad one is 400 naming the field", async () => {
    const created = await postJson("/api/expectations", {
      name: "nightly backup",
      match: { subject: "^backup OK" },
      every: "24h",
      to: ["ops@example.com"]
    })
    expect(created.status).toBe(201)
    const id = created.json().id as string
    expect((await get("/api/expectations")).json()).toContainEqual(
      expect.objectContaining({ id, name: "nightly backup", every: "24h0m0s", to: ["ops@example.com"], lastMetAt: "", missing: false })
    )
    const bad = await postJson("/api/expectations", { name: "x", match: { subject: "x" }, every: "soon", to: ["ops@example.com"] })
    expect(bad.status).toBe(400)
    expect(bad.json()).toEqual({ error: expect.stringMatching(/^every: /), field: "every" })
    expect((await del(`/api/expectations/${id}`)).status).toBe(200)
    const gone = await del(`/api/expectations/${id}`)
    expect(gone.status).toBe(404)
    expect(gone.json()).toEqual({ error: "no such expectation", id })
    expect((await get("/api/expectations")).json()).toEqual([])
  })

  it("exposes Prometheus metrics", async () => {
    const answer = await get("/metrics")
    expect(answer.status).toBe(200)
    expect(answer.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(answer.text).toContain("failmail_messages_received_total 9")
    expect(answer.text).toContain("failmail_pending_batches 1")
    expect(answer.text).toContain("failmail_summaries_sent_total")
    expect(answer.text).toContain('failmail_held_summaries{reason="budget"} 0')
    expect(answer.text).toContain("failmail_relay_budget_remaining")
  })

  it("unknown paths are 404, known paths with another method 405 with Allow", async () => {
    const page = await get("/nope")
    expect(page.status).toBe(404)
    expect(page.headers["content-type"]).toMatch(/^text\/plain/)
    const api = await get("/api/nope")
    expect(api.status).toBe(404)
    expect(api.headers["content-type"]).toMatch(/^application\/json/)
    expect(api.json()).toEqual({ error: "not found" })
    expect((await post("/api/batches/x/y/flush")).status).toBe(404)

    const cases: ReadonlyArray<readonly [string, string, string]> = [
      ["GET", "/api/flush", "POST"],
      ["GET", "/api/batches/x/flush", "POST"],
      ["GET", "/api/batches/flush", "POST"],
      ["POST", "/api/stats", "GET, HEAD"],
      ["POST", "/api/batches", "GET, HEAD"],
      ["PUT", "/api/summaries", "GET, HEAD"],
      ["DELETE", "/", "GET, HEAD"],
      ["POST", "/metrics", "GET, HEAD"],
      ["POST", "/healthz", "GET, HEAD"]
    ]
    for (const [method, url, allow] of cases) {
      const answer = await request(port, method, url)
      expect(answer.status, `${method} ${url}`).toBe(405)
      expect(answer.headers["allow"], `${method} ${url}`).toBe(allow)
      expect(answer.headers["content-type"]).toMatch(/^application\/json/)
    }
  })

  it("refuses cross-site POSTs with 403 and accepts same-origin ones", async () => {
    const host = `127.0.0.1:${port}`
    const refused = [
      { origin: "http://evil.example" },
      { origin: `http://127.0.0.1:${port + 1}` },
      { origin: "null" },
      { "sec-fetch-site": "cross-site" },
      { origin: `http://${host}`, "sec-fetch-site": "cross-site" }
    ]
    for (const headers of refused) {
      const answer = await post("/api/flush", headers)
      expect(answer.status, JSON.stringify(headers)).toBe(403)
      expect(answer.json()).toEqual({ error: "cross-site request refused" })
      expect((await post("/api/batches/flush?key=x", headers)).status).toBe(403)
    }
    // The refused requests did nothing: the pending batch is still there.
    expect((await get("/api/batches")).json()).toHaveLength(1)
    // GETs are never refused.
    expect((await get("/api/stats", { origin: "http://evil.example", "sec-fetch-site": "cross-site" })).status).toBe(200)

    for (const headers of [{ origin: `http://${host}`, "sec-fetch-site": "same-origin" }, { "sec-fetch-site": "none" }, {}]) {
      expect((await post("/api/flush", headers)).status, JSON.stringify(headers)).toBe(200)
    }
  })
})

describe("HTTP when the state cannot be saved", () => {
  let dir = ""
  let upstream: Upstream
  let failmail: Running
  const storage = memoryStorage()
  const postJson = (url: string, body: unknown) => request(failmail.httpPort, "POST", url, {}, body)
  const get = (url: string) => request(failmail.httpPort, "GET", url)
  const del = (url: string) => request(failmail.httpPort, "DELETE", url)

  beforeAll(async () => {
    dir = tempDir("failmail-http-state-")
    upstream = await startUpstream()
    const config = configFor(dir, upstream.port)
    const services = Http.Default.pipe(
      Layer.provideMerge(SmtpListener.Default),
      Layer.provideMerge(core(config, Relay.Default, storage.layer)),
      Layer.provideMerge(processServices)
    )
    failmail = await start(config, services)
  })

  afterAll(async () => {
    await failmail?.close()
    await upstream?.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  const silence = { match: { subject: "^disk full" }, for: "1h" }
  const expectation = { name: "nightly backup", match: { subject: "^backup OK" }, every: "24h", to: ["ops@example.com"] }

  it("creating a silence or an expectation is 503 with a JSON error, and nothing is kept", async () => {
    storage.state.unwritable = true
    for (const [url, body] of [["/api/silences", silence], ["/api/expectations", expectation]] as const) {
      const answer = await postJson(url, body)
      expect(answer.status, url).toBe(503)
      expect(answer.headers["content-type"]).toMatch(/^application\/json/)
      expect(answer.json()).toEqual({
        error: expect.stringMatching(/^the state could not be saved, nothing changed: state write (silences|expectations): unwritable/)
      })
      expect((await get(url)).json()).toEqual([])
    }
    expect(failmail.logs.some((line) => line.includes("silences not saved, change refused"))).toBe(true)
  })

  it("ending a silence or deleting an expectation that cannot be saved is 503, and it stays", async () => {
    storage.state.unwritable = false
    const silenceId = (await postJson("/api/silences", silence)).json().id as string
    const expectationId = (await postJson("/api/expectations", expectation)).json().id as string
    storage.state.unwritable = true
    expect((await del(`/api/silences/${silenceId}`)).status).toBe(503)
    expect((await get("/api/silences")).json()).toEqual([expect.objectContaining({ id: silenceId, active: true })])
    expect((await del(`/api/expectations/${expectationId}`)).status).toBe(503)
    expect((await get("/api/expectations")).json()).toEqual([expect.objectContaining({ id: expectationId })])
    storage.state.unwritable = false
    expect((await del(`/api/silences/${silenceId}`)).status).toBe(200)
    expect((await del(`/api/expectations/${expectationId}`)).status).toBe(200)
    expect(JSON.parse(storage.state.documents.get("expectations") ?? "")).toEqual([])
  })
})

describe("one view: a replica that does not send asks the sender", () => {
  let dir = ""
  let upstream: Upstream
  let sender: Running
  let follower: Running
  const storage = memoryStorage()
  const cluster = memoryCluster()
  const links = { sender: { cut: false }, follower: { cut: false } }
  const auth = { authorization: `Basic ${Buffer.from("admin:pa:ss").toString("base64")}` }
  const silence = { match: { subject: "^disk full" }, for: "1h", comment: "maintenance" }

  /** A replica of the in-memory cluster on the shared in-memory store, reaching the cluster through `link`, its HTTP on a port of its own. */
  const replica = async (config: RunningConfig, link: { cut: boolean }) => {
    const httpPort = await freePort()
    const own = { ...config, bindHttp: `127.0.0.1:${httpPort}` }
    return start(
      own,
      Http.Default.pipe(
        Layer.provideMerge(SmtpListener.Default),
        Layer.provideMerge(core(own, Relay.Default, storage.layer, clusterInMemory(cluster, link))),
        Layer.provideMerge(processServices)
      )
    )
  }

  /** The value of a metric on a replica's `/metrics`. */
  const metric = async (replica: Running, name: string) => {
    const text = (await request(replica.httpPort, "GET", "/metrics", auth)).text
    return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1])
  }

  beforeAll(async () => {
    dir = tempDir("failmail-http-view-")
    upstream = await startUpstream()
    const config = configFor(dir, upstream.port, { credentials: Redacted.make("admin:pa:ss"), allowUnencryptedAuth: true })
    sender = await replica(config, links.sender)
    await eventually("the first replica to take the lease", () => cluster.lease.holder === sender.self)
    follower = await replica(config, links.follower)
  })

  afterAll(async () => {
    await follower?.close()
    await sender?.close()
    await upstream?.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("a silence created through the follower is created on the sender, and both list it", async () => {
    const created = await request(follower.httpPort, "POST", "/api/silences", auth, silence)
    expect(created.status).toBe(201)
    const id = created.json().id as string
    for (const port of [sender.httpPort, follower.httpPort]) {
      const listed = await request(port, "GET", "/api/silences", auth)
      expect(listed.status).toBe(200)
      expect(listed.json()).toEqual([expect.objectContaining({ id, comment: "maintenance", active: true })])
    }
    // The dashboard's fragments and a DELETE go the same way.
    expect((await request(follower.httpPort, "GET", "/fragments", auth)).text).toContain("maintenance")
    expect((await request(follower.httpPort, "DELETE", `/api/silences/${id}`, auth)).status).toBe(200)
    expect((await request(sender.httpPort, "GET", "/api/silences", auth)).json()).toEqual([expect.objectContaining({ id, active: false })])
  })

  it("the credentials are checked by the follower, and passed on", async () => {
    expect((await request(follower.httpPort, "GET", "/api/silences")).status).toBe(401)
    const wrong = { authorization: `Basic ${Buffer.from("admin:nope").toString("base64")}` }
    expect((await request(follower.httpPort, "GET", "/api/silences", wrong)).status).toBe(401)
  })

  it("/metrics is each replica's own: failmail_sender says which sends, the pending and spooled gauges are the cluster's on it and 0 on the other", async () => {
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: follower.smtpPort,
      secure: false,
      ignoreTLS: true,
      auth: { user: "admin", pass: "pa:ss" }
    })
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "taken by the follower", text: "x" })
    transport.close()
    await eventually("the sender to take in the follower's message", async () => (await metric(sender, "failmail_pending_messages")) === 1)
    expect(await metric(sender, "failmail_spooled_messages")).toBe(1)
    expect(await metric(sender, "failmail_sender")).toBe(1)
    expect(await metric(follower, "failmail_sender")).toBe(0)
    expect(await metric(follower, "failmail_pending_messages")).toBe(0)
    expect(await metric(follower, "failmail_spooled_messages")).toBe(0)
    expect(await metric(follower, "failmail_messages_received_total")).toBe(1)
    const batches = (await request(follower.httpPort, "GET", "/api/batches", auth)).json()
    expect(batches).toEqual([expect.objectContaining({ messageCount: 1 })])
  })

  it("503 saying why when the sender does not answer; the probes and /metrics answer meanwhile", async () => {
    const closed = net.createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const deadPort = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    // The sender's heartbeats stop; the cluster says it sends and listens where nothing answers.
    links.sender.cut = true
    cluster.lease = { ...cluster.lease, expiresAt: Date.now() + 3_600_000 }
    const entry = cluster.replicas.get(sender.self)
    if (entry !== undefined) cluster.replicas.set(sender.self, { ...entry, http: `127.0.0.1:${deadPort}` })
    const refused = await request(follower.httpPort, "GET", "/api/batches", auth)
    expect(refused.status).toBe(503)
    expect(refused.headers["retry-after"]).toBe("5")
    expect(refused.json().error).toContain(`the sender (replica ${sender.self} at 127.0.0.1:${deadPort}) did not answer`)
    for (const route of ["/healthz", "/readyz", "/metrics"]) {
      expect((await request(follower.httpPort, "GET", route, auth)).status, route).toBe(200)
    }
  })

  it("503 saying why when the cluster's state cannot be read", async () => {
    links.follower.cut = true
    const page = await request(follower.httpPort, "GET", "/", auth)
    expect(page.status).toBe(503)
    expect(page.text).toContain("the cluster's state cannot be read")
  })
})

describe("one view with --bind-http port 0", () => {
  it("each replica announces the HTTP port it bound, not its setting, so a follower reaches the sender", async () => {
    const dir = tempDir("failmail-http-port0-")
    const upstream = await startUpstream()
    const storage = memoryStorage()
    const cluster = memoryCluster()
    const replica = (config: RunningConfig) =>
      start(
        config,
        Http.Default.pipe(
          Layer.provideMerge(SmtpListener.Default),
          Layer.provideMerge(core(config, Relay.Default, storage.layer, clusterInMemory(cluster))),
          Layer.provideMerge(processServices)
        )
      )
    const config = configFor(dir, upstream.port, { bindHttp: "127.0.0.1:0" })
    const sender = await replica(config)
    try {
      await eventually("the first replica to take the lease", () => cluster.lease.holder === sender.self)
      const follower = await replica(config)
      try {
        for (const running of [sender, follower]) {
          await eventually(`replica ${running.self} to announce its bound port`, () => cluster.replicas.get(running.self)?.http === `127.0.0.1:${running.httpPort}`)
        }
        const forwarded = await request(follower.httpPort, "GET", "/api/batches")
        expect(forwarded.status).toBe(200)
        expect(forwarded.json()).toEqual([])
      } finally {
        await follower.close()
      }
    } finally {
      await sender.close()
      await upstream.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("HTTP with --credentials", () => {
  let dir = ""
  let upstream: Upstream
  let failmail: Running
  const basic = (userPass: string) => ({ authorization: `Basic ${Buffer.from(userPass).toString("base64")}` })

  beforeAll(async () => {
    dir = tempDir("failmail-http-auth-")
    upstream = await startUpstream()
    failmail = await start(configFor(dir, upstream.port, { credentials: Redacted.make("admin:s3cr:et"), allowUnencryptedAuth: true }))
  })

  afterAll(async () => {
    await failmail?.close()
    await upstream?.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("asks for Basic auth on everything but the probes", async () => {
    for (const [method, url] of [
      ["GET", "/"],
      ["GET", "/api/stats"],
      ["GET", "/api/batches"],
      ["GET", "/api/summaries"],
      ["GET", "/api/openapi.json"],
      ["GET", "/fragments"],
      ["GET", "/static/dashboard.js"],
      ["GET", "/metrics"],
      ["POST", "/api/flush"],
      ["POST", "/api/batches/x/flush"],
      ["GET", "/nope"]
    ] as const) {
      for (const headers of [{}, basic("admin:wrong"), basic("admin:s3cr"), basic("other:s3cr:et"), { authorization: "Bearer x" }]) {
        const answer = await request(failmail.httpPort, method, url, headers)
        expect(answer.status, `${method} ${url} ${JSON.stringify(headers)}`).toBe(401)
        expect(answer.headers["www-authenticate"]).toMatch(/^Basic realm="failmail"/)
      }
    }
  })

  it("lets the right credentials in", async () => {
    const auth = basic("admin:s3cr:et")
    expect((await request(failmail.httpPort, "GET", "/", auth)).status).toBe(200)
    expect((await request(failmail.httpPort, "GET", "/api/stats", auth)).json()).toMatchObject({ ActiveBatches: 0 })
    expect((await request(failmail.httpPort, "GET", "/metrics", auth)).text).toContain("failmail_messages_received_total")
    expect((await request(failmail.httpPort, "POST", "/api/flush", auth)).json()).toEqual({ flushed: 0 })
    expect((await request(failmail.httpPort, "GET", "/nope", auth)).status).toBe(404)
    // Cross-site is still refused, authenticated or not.
    expect((await request(failmail.httpPort, "POST", "/api/flush", { ...auth, origin: "http://evil.example" })).status).toBe(403)
  })

  it("keeps healthz and readyz open", async () => {
    expect((await request(failmail.httpPort, "GET", "/healthz")).status).toBe(200)
    expect((await request(failmail.httpPort, "GET", "/readyz")).status).toBe(200)
  })
})

/** One raw HTTP request over a socket, `Host` (or its absence) exactly as given; resolves with the status and body. */
const rawRequest = (port: number, lines: ReadonlyArray<string>): Promise<{ readonly status: number; readonly body: string }> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => socket.write([...lines, "Connection: close", "", ""].join("\r\n")))
    const chunks: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", reject)
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8")
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(text)
      if (status === null) return reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`))
      resolve({ status: Number(status[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) })
    })
  })

describe("HTTP Host check (DNS rebinding)", () => {
  let dir = ""
  let upstream: Upstream
  let failmail: Running
  const ask = (method: string, url: string, host: string | undefined, extra: ReadonlyArray<string> = []) =>
    rawRequest(failmail.httpPort, [`${method} ${url} HTTP/1.${host === undefined ? 0 : 1}`, ...(host === undefined ? [] : [`Host: ${host}`]), ...extra])

  beforeAll(async () => {
    dir = tempDir("failmail-http-host-")
    upstream = await startUpstream()
    failmail = await start(configFor(dir, upstream.port, { externalUrl: "https://failmail.example.com/ops/" }))
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: failmail.smtpPort, secure: false, ignoreTLS: true })
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "pending", text: "body" })
    transport.close()
  })

  afterAll(async () => {
    await failmail?.close()
    await upstream?.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("refuses a foreign Host with 421 and says why, even same-origin, and does nothing", async () => {
    const evil = `evil.example:${failmail.httpPort}`
    for (const [method, url] of [["GET", "/"], ["GET", "/api/batches"], ["GET", "/api/stats"], ["GET", "/metrics"]] as const) {
      const answer = await ask(method, url, evil)
      expect(answer.status, `${method} ${url}`).toBe(421)
      expect(answer.body).toContain(`does not answer to the host "${evil}"`)
    }
    // A rebound page's POST carries a matching Origin: the Origin check alone would let it through.
    const flush = await ask("POST", "/api/flush", evil, [`Origin: http://${evil}`, "Content-Length: 0"])
    expect(flush.status).toBe(421)
    expect((await ask("GET", "/api/batches", `127.0.0.1:${failmail.httpPort}`)).body).toContain('"pending"')
    expect((await ask("GET", "/api/stats", undefined)).status).toBe(421)
  })

  it("answers to localhost, IP literals, and the --external-url host, with or without a port", async () => {
    for (const host of [
      `localhost:${failmail.httpPort}`,
      "localhost",
      `127.0.0.1:${failmail.httpPort}`,
      `[::1]:${failmail.httpPort}`,
      "10.0.0.5:18025",
      "failmail.example.com",
      "FAILMAIL.example.com:443"
    ]) {
      expect((await ask("GET", "/api/stats", host)).status, host).toBe(200)
    }
  })

  it("answers the probes whatever the Host (a load balancer or container health check may use any name)", async () => {
    for (const host of ["evil.example", "failmail-container:8025", undefined]) {
      expect((await ask("GET", "/healthz", host)).status, String(host)).toBe(200)
      expect((await ask("GET", "/readyz", host)).status, String(host)).toBe(200)
    }
  })
})

describe("HTTP listener lifecycle", () => {
  it("is off with an empty --bind-http, and a taken port is a start error", async () => {
    const dir = tempDir("failmail-http-bind-")
    const upstream = await startUpstream()
    const blocker = http.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve()))
    const taken = (blocker.address() as AddressInfo).port
    try {
      const off = await start(configFor(path.join(dir, "off"), upstream.port, { bindHttp: "" }))
      expect(off.httpPort).toBe(0)
      await off.close()

      await expect(start(configFor(path.join(dir, "taken"), upstream.port, { bindHttp: `127.0.0.1:${taken}` }))).rejects.toThrow(
        `bind-http 127.0.0.1:${taken}: address already in use`
      )
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()))
      await upstream.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("stops serving when its scope closes", async () => {
    const dir = tempDir("failmail-http-stop-")
    const upstream = await startUpstream()
    try {
      const running = await start(configFor(dir, upstream.port))
      expect((await request(running.httpPort, "GET", "/healthz")).status).toBe(200)
      await running.close()
      await expect(request(running.httpPort, "GET", "/healthz")).rejects.toThrow(/ECONNREFUSED/)
    } finally {
      await upstream.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

/** An HTML attribute's text as a browser reads it (Handlebars escapes `&`, `=`, quotes and the like). */
const unescapeHtml = (text: string): string =>
  text.replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16))).replaceAll("&amp;", "&")

describe("one-click silence links in summaries", () => {
  let dir = ""
  let upstream: Upstream
  let failmail: Running

  beforeAll(async () => {
    dir = tempDir("failmail-links-")
    upstream = await startUpstream()
    failmail = await start(configFor(dir, upstream.port, { externalUrl: "http://failmail.test/ops" }))
  })

  afterAll(async () => {
    await failmail?.close()
    await upstream?.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("each group of the HTML part links to a confirmation page; only its POST, with the signed token, creates the silence", async () => {
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: failmail.smtpPort, secure: false, ignoreTLS: true })
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "disk full on db1", text: "97%" })
    transport.close()
    const port = failmail.httpPort
    expect((await request(port, "POST", "/api/flush")).status).toBe(200)
    await eventually("the summary", () => upstream.deliveries.length === 1, 10_000)
    const html = (await simpleParser(upstream.deliveries[0]!.raw)).html as string
    const links = [...html.matchAll(/<a href="([^"]+)"[^>]*>(silence [^<]+)<\/a>/g)].map((m) => ({ url: unescapeHtml(m[1]!), label: m[2] }))
    expect(links.map((link) => link.label)).toEqual(["silence 1 h", "silence 24 h"])
    const url = new URL(links[0]!.url)
    expect(`${url.origin}${url.pathname}`).toBe("http://failmail.test/ops/silence")
    const target = `/silence${url.search}`

    // GET only asks (a mail scanner following the link changes nothing)
    const confirm = await request(port, "GET", target)
    expect(confirm.status, confirm.text).toBe(200)
    expect(confirm.headers["content-security-policy"]).toContain("form-action 'self'")
    expect(confirm.text).toContain("Silence these alerts for 1h 00m?")
    expect((await request(port, "GET", "/api/silences")).json()).toEqual([])

    const token = url.searchParams.get("t")!
    const form = { "content-type": "application/x-www-form-urlencoded" }
    const tampered = token.replace(/^(.)/, (c) => (c === "A" ? "B" : "A"))
    const refused = await request(port, "POST", "/silence", form, `t=${encodeURIComponent(tampered)}`)
    expect(refused.status).toBe(403)
    expect(refused.text).toContain("signature does not match")
    expect((await request(port, "POST", "/silence", form, "comment=x")).status).toBe(403)
    expect((await request(port, "POST", "/silence", { ...form, origin: "http://evil.example" }, `t=${encodeURIComponent(token)}`)).status).toBe(403)
    expect((await request(port, "GET", "/api/silences")).json()).toEqual([])

    const created = await request(port, "POST", "/silence", form, `t=${encodeURIComponent(token)}&comment=on+it&author=ann`)
    expect(created.status).toBe(201)
    expect(created.text).toContain("Silenced for 1h 00m")
    const silences = (await request(port, "GET", "/api/silences")).json()
    expect(silences).toEqual([
      expect.objectContaining({ match: { batch: "^$", group: "^disk full on db1$" }, comment: "on it", author: "ann", active: true })
    ])
  })
})
