/**
 * The dashboard as its templates render it (the real files of
 * `templates/dashboard/`): every piece of text that came from an e-mail
 * (subjects, keys, recipients, relay errors) is escaped; the live parts the
 * page script swaps in are rendered by the same partials as the page; the
 * page loads only its own nonce'd style and script.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import type { PendingMessage } from "../src/domain/batching/Batching.ts"
import * as DashboardView from "../src/domain/http/DashboardView.ts"
import { Dashboard } from "../src/services/http/Dashboard.ts"
import { templatesDir } from "../src/services/delivery/Renderer.ts"
import { batch, summary, T0, totals } from "./support/status.ts"

const EVIL = `<script>alert(1)</script>`

let dashboard: Dashboard
beforeAll(async () => {
  dashboard = await Effect.runPromise(Effect.provide(Dashboard, Dashboard.Default))
})

const input = (overrides: Partial<DashboardView.PageInput> = {}): DashboardView.PageInput => ({
  stats: { now: T0 + 60_000, version: "0.1.0", counts: { batches: 1, messages: 3, silenced: 0, lastAt: T0 + 60_000 }, totals },
  batches: [batch()],
  held: [],
  summaries: [summary()],
  silences: [],
  expectations: [],
  config: { "bind-addr": "localhost:2525", credentials: "<redacted>" },
  nonce: "abc123",
  ...overrides
})

const page = (overrides: Partial<DashboardView.PageInput> = {}): string => dashboard.page(input(overrides))

/** The live parts of a fragments answer, by name. */
const parts = (html: string): Map<string, string> =>
  new Map([...html.matchAll(/<template data-fragment="([\w-]+)">([\s\S]*?)<\/template>/g)].map((m) => [m[1]!, m[2]!]))

describe("dashboard page", () => {
  it("shows pending batches, recent summaries, totals and the configuration", () => {
    const html = page()
    expect(html.startsWith("<!doctype html>")).toBe(true)
    expect(html).toContain(`data-batch-key="db"`)
    expect(html).toContain("disk full")
    expect(html).toContain("ops@example.com")
    expect(html).toContain("in 1m 00s")
    expect(html).toContain(`title="2026-11-25T08:32:00.000Z"`)
    expect(html).toContain("Send now")
    expect(html).toContain("Send all now")
    expect(html).toContain(`status-delivered`)
    expect(html).toContain("[failmail] 2 instances: timeout")
    expect(html).toContain(`id="stat-received">5<`)
    expect(html).toContain("v0.1.0")
    expect(html).toContain("bind-addr")
    expect(html).toContain("&lt;redacted&gt;")
  })

  it(`never lets ${EVIL} from an e-mail through unescaped, in the page or its fragments`, () => {
    const evil = input({
      batches: [
        batch({
          key: EVIL,
          recipients: [`"${EVIL}"@example.com`],
          groups: [{ key: EVIL, subject: EVIL, count: 1 }]
        })
      ],
      summaries: [summary({ subject: EVIL, batchKey: EVIL, recipients: [EVIL], error: EVIL, failedPath: EVIL, status: "failed" })],
      config: { "subject-prefix": EVIL }
    })
    for (const html of [dashboard.page(evil), dashboard.fragments(evil)]) {
      expect(html).not.toContain(EVIL)
      expect(html).not.toContain("<script>alert")
      expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;")
    }
    // exactly one script element: ours, from a file, with the nonce
    const html = dashboard.page(evil)
    expect(html.match(/<script/g)).toHaveLength(1)
    expect(html).toContain(`<script src="static/dashboard.js" nonce="abc123" defer></script>`)
    expect(dashboard.fragments(evil)).not.toMatch(/<script/i)
  })

  it("escapes everything that could open markup or leave an attribute", () => {
    const html = page({ batches: [batch({ groups: [{ key: "g", subject: `<a href="x" onclick='y'>&\`=`, count: 1 }] })] })
    expect(html).toContain("&lt;a href&#x3D;&quot;x&quot; onclick&#x3D;&#x27;y&#x27;&gt;&amp;&#x60;&#x3D;")
  })

  it("escapes quotes in attribute values", () => {
    const html = page({ batches: [batch({ key: `x" onmouseover="alert(1)` })] })
    expect(html).not.toContain(`onmouseover="alert(1)"`)
    expect(html).toContain(`data-batch-key="x&quot; onmouseover&#x3D;&quot;alert(1)"`)
    // the key travels URL-encoded in the flush call
    expect(html).toContain(`data-post="api/batches/flush?key&#x3D;x%22%20onmouseover%3D%22alert(1)"`)
  })

  it("shows the default batch key and empty tables readably", () => {
    const html = page({ batches: [batch({ key: "" })] })
    expect(html).toContain(DashboardView.DEFAULT_KEY_LABEL)
    expect(html).toContain(`data-post="api/batches/flush?key&#x3D;"`)
    const empty = page({ batches: [], summaries: [] })
    expect(empty).toContain("No pending batches.")
    expect(empty).toContain("No summaries yet.")
    expect(empty).toMatch(/data-post="api\/flush"[^>]* disabled>Send all now/)
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

  it("shows the threads among the recent summaries: each reply and its first summary name the thread and their place in it", () => {
    const html = page({
      summaries: [
        summary({ id: 10, messageId: "<c@x>", thread: "<a@x>" }),
        summary({ id: 9, messageId: "<alone@x>", thread: "<alone@x>" }),
        summary({ id: 8, messageId: "<b@x>", thread: "<a@x>" }),
        summary({ id: 7, messageId: "<a@x>", thread: "<a@x>" }),
        summary({ id: 6, messageId: "<old-reply@x>", thread: "<gone@x>" })
      ]
    })
    const rows = [...html.matchAll(/<tr data-summary-id="(\d+)"[^>]*data-thread="([^"]*)"[\s\S]*?<\/tr>/g)].map((m) => ({
      id: m[1],
      root: m[2],
      thread: /<div class="sub thread">([^<]*)<\/div>/.exec(m[0])?.[1] ?? ""
    }))
    expect(rows).toEqual([
      { id: "10", root: "&lt;a@x&gt;", thread: "thread #7: 3rd of 3" },
      { id: "9", root: "&lt;alone@x&gt;", thread: "" },
      { id: "8", root: "&lt;a@x&gt;", thread: "thread #7: 2nd of 3" },
      { id: "7", root: "&lt;a@x&gt;", thread: "thread #7: 1st of 3" },
      { id: "6", root: "&lt;gone@x&gt;", thread: "reply in thread of an earlier summary" }
    ])
  })

  it("shows a batch waiting for --repeat-interval as held: repeat, with when it will go", () => {
    const html = page({ batches: [batch({ held: "repeat" }), batch({ key: "other" })] })
    expect(html.match(/<span class="held">held: repeat<\/span>/g)).toHaveLength(1)
  })

  it("shows what the relay budget holds back, by batch, with when the next send is allowed", () => {
    const html = page({
      held: [
        {
          reason: "budget",
          recipients: ["ops@example.com"],
          dueAt: T0 + 50_000,
          nextSendAt: T0 + 70_000,
          messageCount: 5,
          batches: [
            { key: "db", count: 3 },
            { key: "<web>", count: 2 }
          ]
        }
      ]
    })
    expect(html).toContain("Held by the relay budget")
    expect(html).toContain('<span class="held">held: budget</span>')
    expect(html).toContain("&lt;web&gt;")
    expect(page({})).not.toContain("Held by the relay budget")
  })

  it("shows a storm: the batches merged for one recipient set, busiest first, with when its digest goes", () => {
    const html = page({
      held: [
        {
          reason: "storm",
          recipients: ["ops@example.com"],
          dueAt: T0 + 2_000,
          nextSendAt: T0 + 4_000,
          messageCount: 27,
          batches: [
            { key: "db down", count: 3 },
            ...Array.from({ length: 24 }, (_, i) => ({ key: `alert ${i}`, count: 1 }))
          ]
        }
      ]
    })
    expect(html).toContain("Held by the relay budget and storms")
    expect(html).toContain('<span class="held">held: storm</span>')
    expect(html.indexOf("db down")).toBeLessThan(html.indexOf("alert 0"))
    expect(html).toContain("alert 23")
  })

  it("limits the groups listed per batch", () => {
    const groups = Array.from({ length: 20 }, (_, n) => ({ key: `g${n}`, subject: `subject ${n}`, count: 1 }))
    const html = page({ batches: [batch({ groups })] })
    expect(html).toContain(`subject ${DashboardView.GROUPS_SHOWN - 1}<`)
    expect(html).not.toContain(`subject ${DashboardView.GROUPS_SHOWN}<`)
    expect(html).toContain(`and ${20 - DashboardView.GROUPS_SHOWN} more groups`)
  })

  it("lists silences (what each holds, end now) and expectations (last met, missing), and offers to silence each pending group", () => {
    const now = T0 + 60_000
    const html = page({
      batches: [batch({ key: "web", groups: [{ key: "disk full", subject: "disk full", count: 2 }] })],
      silences: [
        { silence: { id: "abc", match: { subject: "^disk" }, startsAt: T0, endsAt: now + 3_600_000, comment: "<b>known</b>", author: "ann" }, held: 4 },
        { silence: { id: "old", match: { from: "x" }, startsAt: T0, endsAt: now - 120_000, comment: "", author: "" }, held: 0 }
      ],
      expectations: [
        { id: "e1", name: "nightly backup", match: { subject: "^backup OK" }, everyMs: 86_400_000, to: ["ops@example.com"], createdAt: T0, lastMetAt: T0, missingSince: 0 },
        { id: "e2", name: "sync", match: { subject: "^sync" }, everyMs: 3_600_000, to: ["ops@example.com"], createdAt: T0, lastMetAt: 0, missingSince: T0 + 30_000 }
      ]
    })
    expect(html).toContain('data-silence-batch="^web$" data-silence-group="^disk full$"')
    expect(html).toMatch(/data-silence-id="abc" class="active">[\s\S]*?in 1h 00m[\s\S]*?>4<[\s\S]*?&lt;b&gt;known&lt;\/b&gt;[\s\S]*?data-post="api\/silences\/abc" data-method="DELETE"/)
    expect(html).toMatch(/data-silence-id="old" class="ended">[\s\S]*?ended 2m 00s ago/)
    expect(html).not.toContain('data-post="api/silences/old"')
    expect(html).toMatch(/nightly backup[\s\S]*?1m 00s ago[\s\S]*?due in 23h 59m/)
    expect(html).toMatch(/sync[\s\S]*?never[\s\S]*?missing since 30s ago/)
    expect(html).toContain('data-post="api/expectations/e2" data-method="DELETE"')
    expect(html).toContain('data-json="api/silences"')
    expect(html).toContain('data-json="api/expectations"')
  })

  it("renders a silence link's page: confirm (a form posting the token), created, refused", () => {
    const confirm = dashboard.linkPage(
      DashboardView.linkPageView({ state: "confirm", claim: { match: { batch: "^web$", group: "^disk$" }, forMs: 3_600_000 }, token: "tok.sig" }, T0, "n1")
    )
    expect(confirm).toContain('<form method="post" action="silence"')
    expect(confirm).toContain('name="t" value="tok.sig"')
    expect(confirm).toContain("Silence these alerts for 1h 00m?")
    expect(confirm).toContain("<code>^web$</code>")
    const refused = dashboard.linkPage(DashboardView.linkPageView({ state: "refused", reason: "this link is older than 7 days" }, T0, "n1"))
    expect(refused).toContain("this link is older than 7 days")
    expect(refused).not.toContain("<form")
  })

  it("links each pending batch to the page of its messages, the key URL-encoded", () => {
    expect(page()).toContain(`<a class="messages" href="batch?key&#x3D;db">messages</a>`)
    expect(page({ batches: [batch({ key: "a/b c&" })] })).toContain(`href="batch?key&#x3D;a%2Fb%20c%26"`)
  })

  it("renders a batch's page: its messages with download links, everything from e-mails escaped", () => {
    const message = (overrides: Partial<PendingMessage> = {}): PendingMessage => ({
      id: "01795161601000-26870-00000001",
      receivedAt: T0,
      groupKey: "g",
      subject: "disk full",
      sender: "app@example.org",
      recipients: ["ops@example.com"],
      recipientsKey: "ops@example.com",
      size: 2150,
      ...overrides
    })
    const view = (key: string, messages: ReadonlyArray<PendingMessage> | undefined) =>
      dashboard.batchPage(DashboardView.batchPageView({ key, messages, now: T0 + 90_000, version: "0.1.0", nonce: "n2" }))
    const html = view("db", [message(), message({ id: "m2", subject: EVIL, sender: EVIL, recipients: [`"${EVIL}"@example.com`] })])
    expect(html).toContain(`<tr data-message-id="01795161601000-26870-00000001">`)
    expect(html).toContain(`<a class="download" href="api/messages/01795161601000-26870-00000001/raw" download="01795161601000-26870-00000001.eml">download</a>`)
    expect(html).toContain(`title="2026-11-25T08:30:00.000Z">1m 30s ago<`)
    expect(html).toContain("2.1 KB")
    expect(html).toContain(`href="api/batches/messages?key&#x3D;db"`)
    expect(html).not.toContain(EVIL)
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;")
    expect(html).not.toMatch(/<script/i)
    expect(html).toContain(`<link rel="stylesheet" href="static/dashboard.css" nonce="n2">`)

    const evilKey = view(EVIL, [message()])
    expect(evilKey).not.toContain(EVIL)
    expect(evilKey).toContain(`href="api/batches/messages?key&#x3D;%3Cscript%3Ealert(1)%3C%2Fscript%3E"`)
    expect(view("", [message()])).toContain(DashboardView.DEFAULT_KEY_LABEL)
    const gone = view("db", undefined)
    expect(gone).toContain("No batch with this key is pending")
    expect(gone).not.toContain("<table")
    const many = view("db", Array.from({ length: DashboardView.MESSAGES_SHOWN + 5 }, (_, n) => message({ id: `m${n}` })))
    expect(many.match(/data-message-id=/g)).toHaveLength(DashboardView.MESSAGES_SHOWN)
    expect(many).toContain("and 5 more messages")
  })

  it("renders its live parts with the same partials as the page: each fragment is in the page as it is", () => {
    const view = input({ batches: [batch(), batch({ key: "" })], summaries: [summary(), summary({ id: 8, status: "retrying", attempts: 2 })] })
    const html = dashboard.page(view)
    const live = parts(dashboard.fragments(view))
    expect([...live.keys()]).toEqual(["uptime", "cards", "batches", "summaries", "silences", "expectations"])
    for (const [name, part] of live) {
      expect(html, name).toContain(`data-fragment="${name}">${part}<`)
    }
  })
})

describe("dashboard script and style", () => {
  const script = fs.readFileSync(path.join(templatesDir, "static", "dashboard.js"), "utf8")

  it("are served as files, and the script renders nothing itself: it swaps in what the server rendered", () => {
    expect([...dashboard.staticFiles.keys()].sort()).toEqual(["dashboard.css", "dashboard.js"])
    expect(dashboard.staticFiles.get("dashboard.js")?.contentType).toBe("text/javascript; charset=utf-8")
    expect(script).toContain(`fetch("fragments"`)
    // markup is parsed only inside an inert <template>, never written into the document
    expect(script.match(/\.innerHTML\s*=/g)).toHaveLength(1)
    expect(script).toMatch(/var answer = document\.createElement\("template"\);\s*answer\.innerHTML = html;/)
    expect(script).not.toMatch(/outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/)
    // no second rendering of the data: no time formatting, no row building
    expect(script).not.toMatch(/createElement\("(tr|td|li|span)"\)|Date\.parse|toISOString/)
  })

  it("has a CSP that allows only its own nonce", () => {
    const csp = DashboardView.contentSecurityPolicy("n0nce")
    expect(csp).toContain("script-src 'nonce-n0nce'")
    expect(csp).toContain("style-src 'nonce-n0nce'")
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("connect-src 'self'")
    expect(page()).toContain(`<link rel="stylesheet" href="static/dashboard.css" nonce="abc123">`)
    expect(page()).not.toMatch(/style="/)
  })
})

describe("formatting", () => {
  it("formats spans, countdowns and ages", () => {
    expect(DashboardView.formatSpan(45_900)).toBe("45s")
    expect(DashboardView.formatSpan(598_000)).toBe("9m 58s")
    expect(DashboardView.formatSpan(7_500_000)).toBe("2h 05m")
    expect(DashboardView.formatSpan(3 * 86_400_000 + 4 * 3_600_000)).toBe("3d 4h")
    expect(DashboardView.formatCountdown(0)).toBe("due now")
    expect(DashboardView.formatCountdown(5_000)).toBe("in 5s")
    expect(DashboardView.formatAge(500)).toBe("just now")
    expect(DashboardView.formatAge(65_000)).toBe("1m 05s ago")
    expect(DashboardView.formatClock(T0 + 3_000)).toBe("08:30:03")
  })
})
