/**
 * `monitoring/` against a real Prometheus (Debian's `prometheus`, see
 * support/prometheus.ts) scraping a running failmail: the target is up, the
 * rules load with their annotations and runbooks, every metric name the rules
 * and the dashboard read exists in the scrape (so a renamed metric breaks this
 * test, not a pager), and every dashboard panel's query parses and returns a
 * series. One Prometheus and one failmail serve the whole file.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import nodemailer from "nodemailer"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, GATHER, startFailmail, type Failmail } from "./support/failmail.ts"
import { tempDir } from "./support/tempdir.ts"
import { metricNamesIn, startPrometheus, type Prometheus } from "./support/prometheus.ts"
import { startUpstream, type Upstream } from "./support/upstream.ts"

const root = path.resolve(import.meta.dirname, "..")
const monitoring = path.join(root, "monitoring")

interface Panel {
  readonly title: string
  readonly targets: ReadonlyArray<{ readonly expr: string; readonly refId: string }>
}
const dashboard = JSON.parse(fs.readFileSync(path.join(monitoring, "grafana-dashboard.json"), "utf8")) as { readonly panels: ReadonlyArray<Panel> }

/** A dashboard query as Grafana sends it: its variables replaced (every instance; a rate window a few scrapes wide). */
const asSent = (expr: string): string => expr.replaceAll("$__rate_interval", "15s").replaceAll("$instance", ".+")

interface Rule {
  readonly name: string
  readonly query: string
  readonly health: string
  readonly annotations: Readonly<Record<string, string>>
}
interface Series {
  readonly metric: Readonly<Record<string, string>>
  readonly value: readonly [number, string]
}

let dir = ""
let upstream: Upstream | undefined
let failmail: Failmail | undefined
let prometheus: Prometheus | undefined
/** When the message the test sends arrived, bounded (seconds). */
let sentAfter = 0
let sentBefore = 0

const query = (expr: string) => (prometheus as Prometheus).api<{ resultType: string; result: ReadonlyArray<Series> }>("query", { query: expr })

beforeAll(async () => {
  dir = tempDir("failmail-prometheus-")
  upstream = await startUpstream()
  // Batches wait an hour, so the message sent below stays pending until the test flushes it.
  failmail = await startFailmail({ relayAddr: upstream.address, bindHttp: "127.0.0.1:0", ...GATHER })
  prometheus = await startPrometheus({
    dir,
    job: "failmail",
    targets: [`127.0.0.1:${failmail.httpPort}`],
    ruleFiles: [path.join(monitoring, "alerts.yml")]
  })
  await eventually(
    "the target up",
    async () => {
      const { activeTargets } = await (prometheus as Prometheus).api<{ activeTargets: ReadonlyArray<{ health: string; lastError: string }> }>("targets")
      if (activeTargets[0]?.health === "up") return true
      throw new Error(JSON.stringify(activeTargets))
    },
    20_000,
    250
  )
  // Sent after the first scrape, so the intake's counter moves under Prometheus's eyes.
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: failmail.port, secure: false, ignoreTLS: true })
  sentAfter = Math.floor(Date.now() / 1000)
  await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "disk full on db1", text: "97%" })
  sentBefore = Math.ceil(Date.now() / 1000)
  transport.close()
  // Bounded: a few scrapes a second apart, enough for rate() over the dashboard's 15 s window.
  await eventually("a rate of the intake over two scrapes", async () => (await query("rate(failmail_messages_received_total[15s]) > 0")).result.length > 0, 30_000, 250)
}, 60_000)

afterAll(async () => {
  await prometheus?.stop()
  await failmail?.dispose()
  await upstream?.close()
  if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
})

describe("a real Prometheus scraping failmail", () => {
  it("sees the target up", async () => {
    const targets = await (prometheus as Prometheus).api<{ activeTargets: ReadonlyArray<{ health: string; labels: Record<string, string>; lastError: string }> }>(
      "targets"
    )
    expect(targets.activeTargets).toEqual([
      expect.objectContaining({ health: "up", lastError: "", labels: { job: "failmail", instance: `127.0.0.1:${failmail?.httpPort}` } })
    ])
    expect((await query('up{job="failmail"}')).result.map((series) => series.value[1])).toEqual(["1"])
  })

  it("loads every rule healthy, each with a summary, a description and a runbook that docs/monitoring.md has", async () => {
    const { groups } = await (prometheus as Prometheus).api<{ groups: ReadonlyArray<{ rules: ReadonlyArray<Rule> }> }>("rules")
    const rules = groups.flatMap((group) => group.rules)
    expect(rules.length).toBeGreaterThanOrEqual(10)
    const anchors = new Set(
      [...fs.readFileSync(path.join(root, "docs", "monitoring.md"), "utf8").matchAll(/^#+ (.+)$/gm)].map((heading) =>
        (heading[1] ?? "").toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-")
      )
    )
    for (const rule of rules) {
      expect({ rule: rule.name, health: rule.health }).toEqual({ rule: rule.name, health: "ok" })
      expect(rule.annotations["summary"], rule.name).toBeTruthy()
      expect(rule.annotations["description"], rule.name).toBeTruthy()
      const anchor = /^docs\/monitoring\.md#(.+)$/.exec(rule.annotations["runbook_url"] ?? "")?.[1]
      expect({ rule: rule.name, anchor, documented: anchor !== undefined && anchors.has(anchor) }).toEqual({ rule: rule.name, anchor, documented: true })
    }
  })

  it("raises no alert about a healthy failmail", async () => {
    // Evaluated every second since the first scrape, on the same samples the other tests read.
    await eventually("a rule evaluation after the first scrape", async () => {
      const { groups } = await (prometheus as Prometheus).api<{ groups: ReadonlyArray<{ lastEvaluation: string }> }>("rules")
      return groups.every((group) => Date.parse(group.lastEvaluation) > 0)
    }, 10_000, 250)
    const { alerts } = await (prometheus as Prometheus).api<{ alerts: ReadonlyArray<{ labels: Record<string, string>; state: string }> }>("alerts")
    // Pending messages did grow, from 0 to the test's message: that rule may be pending (waiting out its 30 minutes).
    // So may FailmailDown, only if a scrape really failed (a test process on a loaded machine can miss the 1 s scrape timeout).
    const missedScrapes = await (prometheus as Prometheus).api<{ result: ReadonlyArray<unknown> }>("query", { query: "min_over_time(up[5m]) == 0" })
    const mayBePending = new Set(["FailmailPendingGrowing", ...(missedScrapes.result.length > 0 ? ["FailmailDown"] : [])])
    expect(alerts.filter((alert) => alert.state === "firing" || !mayBePending.has(alert.labels["alertname"] ?? ""))).toEqual([])
  })

  it("finds every metric the rules and the dashboard read in failmail's scrape", async () => {
    const { groups } = await (prometheus as Prometheus).api<{ groups: ReadonlyArray<{ rules: ReadonlyArray<Rule> }> }>("rules")
    const exprs = [...groups.flatMap((group) => group.rules.map((rule) => rule.query)), ...dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr))]
    const used = [...new Set(exprs.flatMap((expr) => metricNamesIn(expr)))].sort()
    expect(used).toEqual(expect.arrayContaining(["failmail_pending_messages", "failmail_relay_latency_seconds_bucket", "process_resident_memory_bytes", "up"]))
    const stored = new Set(await (prometheus as Prometheus).api<ReadonlyArray<string>>("label/__name__/values"))
    const exposition = await (await fetch(`http://127.0.0.1:${failmail?.httpPort}/metrics`)).text()
    const exposed = new Set([...exposition.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{| )/gm)].map((match) => match[1]))
    for (const name of used) {
      expect({ name, scraped: stored.has(name) }).toEqual({ name, scraped: true })
      // `up` is Prometheus's own, about the scrape; every other name comes from failmail.
      if (name !== "up") expect({ name, exposed: exposed.has(name) }).toEqual({ name, exposed: true })
    }
  })

  it("runs every panel's query: it parses and returns a series", async () => {
    const targets = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, refId: target.refId, expr: asSent(target.expr) })))
    expect(targets.length).toBeGreaterThanOrEqual(10)
    for (const target of targets) {
      const answer = await query(target.expr)
      expect({ ...target, series: answer.result.length > 0 }).toEqual({ ...target, series: true })
    }
  })

  it("shows the panels the issue lists", () => {
    expect(dashboard.panels.map((panel) => panel.title)).toEqual(
      expect.arrayContaining([
        "Intake rate",
        "Refusals by reason",
        "Pending",
        "Held by reason",
        "Relay latency",
        "Summaries sent and failed",
        "Budget left",
        "The sender",
        "Event-loop lag",
        "Resident memory"
      ])
    )
  })

  it("reports the oldest pending message and --max-wait, which the stuck-batch rule compares", async () => {
    const oldest = (await query("failmail_oldest_pending_message_timestamp_seconds")).result.map((series) => Number(series.value[1]))
    expect(oldest).toHaveLength(1)
    expect(oldest[0]).toBeGreaterThanOrEqual(sentAfter - 1)
    expect(oldest[0]).toBeLessThanOrEqual(sentBefore)
    expect((await query("failmail_max_wait_seconds")).result.map((series) => series.value[1])).toEqual(["3600"])
    expect((await query('failmail_sender{job="failmail"}')).result.map((series) => series.value[1])).toEqual(["1"])
  })

  it("sees the summary once the batch is flushed: sent, a relay latency, and nothing pending", async () => {
    const flushed = await fetch(`http://127.0.0.1:${failmail?.httpPort}/api/flush`, { method: "POST" })
    expect(flushed.status).toBe(200)
    await eventually("the summary upstream", () => (upstream?.deliveries.length ?? 0) === 1, 10_000)
    await eventually(
      "a scrape after the summary",
      async () => (await query("failmail_summaries_sent_total == 1 and failmail_oldest_pending_message_timestamp_seconds == 0")).result.length === 1,
      15_000,
      250
    )
    const latency = await query(`histogram_quantile(0.99, sum by (le) (rate(failmail_relay_latency_seconds_bucket[1m])))`)
    expect(Number(latency.result[0]?.value[1])).toBeGreaterThan(0)
  })
})
