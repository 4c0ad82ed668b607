/**
 * The dashboard page and the API's JSON shapes, as pure functions: every
 * piece of text that came from an e-mail (subjects, keys, recipients, relay
 * errors) is escaped; times are RFC 3339; the page carries its script and
 * style under the CSP nonce.
 */
import { describe, expect, it } from "vitest"
import * as Dashboard from "../src/domain/Dashboard.ts"
import { batch, summary, T0, totals } from "./support/status.ts"

const EVIL = `<script>alert(1)</script>`

const page = (overrides: Partial<Dashboard.PageInput> = {}): string =>
  Dashboard.renderDashboard({
    now: T0 + 60_000,
    version: "0.1.0",
    stats: { now: T0 + 60_000, version: "0.1.0", counts: { batches: 1, messages: 3, lastAt: T0 + 60_000 }, totals },
    batches: [batch()],
    summaries: [summary()],
    config: { "bind-addr": "localhost:2525", credentials: "<redacted>" },
    nonce: "abc123",
    ...overrides
  })

/** The page without its inline script and style (which are ours, not data). */
const markup = (html: string): string =>
  html.replace(/<script nonce="[^"]*">[\s\S]*?<\/script>/, "").replace(/<style nonce="[^"]*">[\s\S]*?<\/style>/, "")

describe("escapeHtml", () => {
  it("escapes everything that could open markup or leave an attribute", () => {
    expect(Dashboard.escapeHtml(`<a href="x" onclick='y'>&\`=`)).toBe(
      "&lt;a href&#x3D;&quot;x&quot; onclick&#x3D;&#x27;y&#x27;&gt;&amp;&#x60;&#x3D;"
    )
    expect(Dashboard.escapeHtml("plain text")).toBe("plain text")
  })
})

describe("renderDashboard", () => {
  it("shows pending batches, recent summaries, totals and the configuration", () => {
    const html = page()
    expect(html.startsWith("<!doctype html>")).toBe(true)
    expect(html).toContain(`data-batch-key="db"`)
    expect(html).toContain("disk full")
    expect(html).toContain("ops@example.com")
    expect(html).toContain("in 1m 00s")
    expect(html).toContain(`data-due="${T0 + 120_000}"`)
    expect(html).toContain("Send now")
    expect(html).toContain("Send all now")
    expect(html).toContain(`status-delivered`)
    expect(html).toContain("[failmail] 2 instances: timeout")
    expect(html).toContain(`id="stat-received">5<`)
    expect(html).toContain("v0.1.0")
    expect(html).toContain("bind-addr")
    expect(html).toContain("&lt;redacted&gt;")
  })

  it(`never lets ${EVIL} from an e-mail through unescaped`, () => {
    const html = page({
      batches: [
        batch({
          key: EVIL,
          recipients: [`"${EVIL}"@example.com`],
          groups: [{ key: EVIL, subject: EVIL, count: 1 }]
        })
      ],
      summaries: [
        summary({ subject: EVIL, batchKey: EVIL, recipients: [EVIL], error: EVIL, failedPath: EVIL, status: "failed" })
      ],
      config: { "subject-prefix": EVIL }
    })
    expect(html).not.toContain(EVIL)
    expect(html).not.toContain("<script>alert")
    expect(markup(html)).not.toMatch(/<script/i)
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;")
    // exactly one script element: ours, with the nonce
    expect(html.match(/<script/g)).toHaveLength(1)
    expect(html).toContain(`<script nonce="abc123">`)
  })

  it("escapes quotes in attribute values", () => {
    const html = page({ batches: [batch({ key: `x" onmouseover="alert(1)` })] })
    expect(html).not.toContain(`onmouseover="alert(1)"`)
    expect(html).toContain(`data-key="x&quot; onmouseover&#x3D;&quot;alert(1)"`)
  })

  it("shows the default batch key and empty tables readably", () => {
    const html = page({ batches: [batch({ key: "" })] })
    expect(html).toContain(Dashboard.DEFAULT_KEY_LABEL)
    expect(html).toContain(`data-key=""`)
    const empty = page({ batches: [], summaries: [] })
    expect(empty).toContain("No pending batches.")
    expect(empty).toContain("No summaries yet.")
    expect(empty).toMatch(/data-action="flush-all" disabled/)
  })

  it("shows relay errors and where a failed summary was filed", () => {
    const html = page({
      summaries: [summary({ status: "failed", attempts: 4, error: "550 mailbox unavailable", failedPath: "failed/new/1.x" })]
    })
    expect(html).toContain("status-failed")
    expect(html).toContain("550 mailbox unavailable")
    expect(html).toContain("4 attempts")
    expect(html).toContain("failed/new/1.x")
  })

  it("limits the groups listed per batch", () => {
    const groups = Array.from({ length: 20 }, (_, n) => ({ key: `g${n}`, subject: `subject ${n}`, count: 1 }))
    const html = page({ batches: [batch({ groups })] })
    expect(html).toContain(`subject ${Dashboard.GROUPS_SHOWN - 1}<`)
    expect(html).not.toContain(`subject ${Dashboard.GROUPS_SHOWN}<`)
    expect(html).toContain(`and ${20 - Dashboard.GROUPS_SHOWN} more groups`)
  })

  it("keeps its script free of innerHTML and of anything that would end the script early", () => {
    const script = /<script nonce="[^"]*">([\s\S]*?)<\/script>/.exec(page())?.[1] ?? ""
    expect(script.length).toBeGreaterThan(1000)
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/)
    expect(script).toContain("textContent")
  })

  it("has a CSP that allows only its own nonce", () => {
    const csp = Dashboard.contentSecurityPolicy("n0nce")
    expect(csp).toContain("script-src 'nonce-n0nce'")
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("connect-src 'self'")
  })
})

describe("formatting", () => {
  it("formats spans, countdowns and ages", () => {
    expect(Dashboard.formatSpan(45_900)).toBe("45s")
    expect(Dashboard.formatSpan(598_000)).toBe("9m 58s")
    expect(Dashboard.formatSpan(7_500_000)).toBe("2h 05m")
    expect(Dashboard.formatSpan(3 * 86_400_000 + 4 * 3_600_000)).toBe("3d 4h")
    expect(Dashboard.formatCountdown(0)).toBe("due now")
    expect(Dashboard.formatCountdown(5_000)).toBe("in 5s")
    expect(Dashboard.formatAge(500)).toBe("just now")
    expect(Dashboard.formatAge(65_000)).toBe("1m 05s ago")
    expect(Dashboard.formatClock(T0 + 3_000)).toBe("08:30:03")
  })
})
