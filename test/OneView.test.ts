/** Which requests a replica that does not send forwards, and where (src/domain/cluster/OneView.ts). */
import { describe, expect, it } from "vitest"
import { FORWARDED_BY, httpAddressOf, needsSender, senderRoute } from "../src/domain/cluster/OneView.ts"

const replica = (id: string, http: string, hostname = `${id}.example`) => ({ id, hostname, http })

describe("needsSender", () => {
  it("the dashboard, its fragments, the silence links and the JSON API are the sender's", () => {
    for (const path of ["/", "/fragments", "/batch", "/api/batches", "/api/summaries", "/api/silences", "/api/silences/abc", "/api/stats", "/silence"]) {
      expect(needsSender(path, undefined), path).toBe(true)
    }
  })

  it("the probes, /metrics, /api/cluster, the OpenAPI document and static files are answered by every replica itself", () => {
    for (const path of ["/healthz", "/readyz", "/metrics", "/api/cluster", "/api/openapi.json", "/static/dashboard.js"]) {
      expect(needsSender(path, undefined), path).toBe(false)
    }
  })

  it(`a request forwarded once (${FORWARDED_BY}) is answered where it arrives, never forwarded again`, () => {
    expect(needsSender("/api/batches", "a1")).toBe(false)
  })
})

describe("senderRoute", () => {
  const replicas = [replica("a", "10.0.0.1:8025"), replica("b", ":8025"), replica("c", "")]

  it("the sender answers itself", () => {
    expect(senderRoute({ self: "a", sender: "a", replicas })).toEqual({ _tag: "Here" })
  })

  it("another replica forwards to the sender's --bind-http, by its host name when it listens on every interface", () => {
    expect(senderRoute({ self: "b", sender: "a", replicas })).toEqual({ _tag: "Forward", sender: "a", target: { host: "10.0.0.1", port: 8025 } })
    expect(senderRoute({ self: "a", sender: "b", replicas })).toEqual({ _tag: "Forward", sender: "b", target: { host: "b.example", port: 8025 } })
    expect(httpAddressOf(replica("d", "0.0.0.0:9000", "d.internal"))).toEqual({ host: "d.internal", port: 9000 })
    expect(httpAddressOf(replica("e", "[::1]:9000"))).toEqual({ host: "::1", port: 9000 })
  })

  it("no sender, an unknown one, or one without a usable HTTP address: unavailable, saying why", () => {
    const reasonOf = (route: ReturnType<typeof senderRoute>) => (route._tag === "Unavailable" ? route.reason : "")
    expect(reasonOf(senderRoute({ self: "a", sender: undefined, replicas }))).toContain("no replica holds the sender lease")
    expect(reasonOf(senderRoute({ self: "a", sender: "z", replicas }))).toContain("replica z")
    expect(reasonOf(senderRoute({ self: "a", sender: "c", replicas }))).toContain("no HTTP listener")
    expect(reasonOf(senderRoute({ self: "a", sender: "p", replicas: [replica("p", "127.0.0.1:0")] }))).toContain("port 0")
  })

  it("a loopback address is used only on the same machine: on another it would reach this replica", () => {
    const onOne = [replica("a", "localhost:8025", "one.example"), replica("b", "127.0.0.1:9000", "one.example"), replica("c", "localhost:8025", "two.example")]
    expect(senderRoute({ self: "a", sender: "b", replicas: onOne })).toEqual({ _tag: "Forward", sender: "b", target: { host: "127.0.0.1", port: 9000 } })
    const refused = senderRoute({ self: "a", sender: "c", replicas: onOne })
    expect(refused._tag === "Unavailable" ? refused.reason : "").toContain("which other machines cannot reach")
  })
})
