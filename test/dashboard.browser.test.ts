/**
 * The dashboard in a real browser (headless Chromium via playwright-core):
 * failmail runs with pending batches, the page shows them, "Send now"
 * delivers one to the recording upstream and the page shows it delivered,
 * new mail appears without a reload, alert text that looks like HTML stays
 * text, a pending group is silenced and an expectation created and met
 * from their forms, and "Send all now" empties the list. Saves a screenshot (`docs/dashboard.png` with FAILMAIL_SCREENSHOT=1)
 * (pending batches, recent summaries, a silence, an expectation) for docs/api.md.
 */
import { Context, Duration, Effect, Exit, Layer, Logger, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import nodemailer from "nodemailer"
import { chromium, type Browser } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { pipeline } from "../src/layers/Main.ts"
import { Http } from "../src/services/http/Http.ts"
import { SmtpListener } from "../src/services/smtp/SmtpListener.ts"
import { startUpstream, type Upstream } from "./support/upstream.ts"
import { tempDir } from "./support/tempdir.ts"
import { testConfig } from "./support/config.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
/** Where the screenshot goes: `docs/dashboard.png` when FAILMAIL_SCREENSHOT=1 (to refresh docs/api.md's), a temp file otherwise. */
const SCREENSHOT =
  process.env["FAILMAIL_SCREENSHOT"] === "1"
    ? path.join(root, "docs", "dashboard.png")
    : path.join(tempDir("failmail-shot-"), "dashboard.png")

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run"
]

describe("dashboard in Chromium", () => {
  let dir = ""
  let browser: Browser | undefined
  let upstream: Upstream | undefined
  let scope: Scope.CloseableScope | undefined
  let smtpPort = 0
  let httpPort = 0

  beforeAll(async () => {
    dir = tempDir("failmail-browser-")
    upstream = await startUpstream()
    const upstreamPort = upstream.port

    const config = testConfig(dir, {
      from: "failmail@alerts.example.com",
      bindHttp: "127.0.0.1:0",
      relayAddr: `127.0.0.1:${upstreamPort}`,
      waitPeriod: Duration.minutes(5),
      maxWait: Duration.minutes(30),
      shutdownTimeout: Duration.seconds(1)
    })
    const quiet = Logger.replace(Logger.defaultLogger, Logger.none)
    scope = Effect.runSync(Scope.make())
    const runtime = await Effect.runPromise(Scope.extend(Layer.toRuntime(pipeline(config).pipe(Layer.provide(quiet))), scope))
    smtpPort = Context.get(runtime.context, SmtpListener).port
    httpPort = Context.get(runtime.context, Http).port

    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS })
  })

  afterAll(async () => {
    await browser?.close()
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
    await upstream?.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  const send = async (
    mails: ReadonlyArray<{ readonly subject: string; readonly split: string; readonly to: string; readonly times?: number }>
  ) => {
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: smtpPort, secure: false, ignoreTLS: true })
    try {
      for (const mail of mails) {
        for (let n = 0; n < (mail.times ?? 1); n++) {
          await transport.sendMail({
            from: "alerts@app.example.com",
            to: mail.to,
            subject: mail.subject,
            text: `${mail.subject}\n\nhost: app-${n + 1}.example.com`,
            headers: { "X-Failmail-Split": mail.split }
          })
        }
      }
    } finally {
      transport.close()
    }
  }

  it("shows pending batches, sends one on click and shows it delivered", { timeout: 60_000 }, async () => {
    await send([
      { split: "payments-api", to: "oncall@example.com", subject: "TimeoutError: payments-gateway did not answer within 30000ms", times: 4 },
      { split: "payments-api", to: "oncall@example.com", subject: "HTTP 502 Bad Gateway on POST /v1/charges", times: 2 },
      { split: "db-primary", to: "dba@example.com, oncall@example.com", subject: "Replication lag 42s on db-primary-2", times: 3 },
      { split: "db-primary", to: "dba@example.com, oncall@example.com", subject: "Disk usage 91% on /var/lib/postgresql" },
      { split: "nightly-backup", to: "ops@example.com", subject: "Cron <backup@db-1> /usr/local/bin/backup.sh --full" }
    ])

    const page = await browser!.newPage({ viewport: { width: 1360, height: 640 } })
    const problems: Array<string> = []
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") problems.push(`console ${message.type()}: ${message.text()}`)
    })
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
    page.on("dialog", (dialog) => {
      problems.push(`dialog: ${dialog.message()}`)
      void dialog.dismiss()
    })

    await page.goto(`http://127.0.0.1:${httpPort}/`)
    const batchRow = (key: string) => page.locator(`#batches tr[data-batch-key="${key}"]`)
    await expect.poll(() => page.locator("#batches tbody tr[data-batch-key]").count()).toBe(3)
    expect(await batchRow("payments-api").locator("td.num").textContent()).toBe("6")
    expect(await batchRow("payments-api").textContent()).toContain("TimeoutError: payments-gateway did not answer within 30000ms")
    expect(await batchRow("db-primary").textContent()).toContain("dba@example.com")
    expect(await page.locator("#stat-received").textContent()).toBe("11")
    expect(await page.locator("#summaries tbody").textContent()).toContain("No summaries yet.")

    // The countdown ticks in the browser.
    const countdown = batchRow("db-primary").locator(".countdown")
    const first = await countdown.textContent()
    expect(first).toMatch(/^in \d+m \d{2}s$/)
    await expect.poll(() => countdown.textContent(), { timeout: 5_000 }).not.toBe(first)

    // "Send now" on one batch: it leaves the list, and its summary shows as delivered.
    await batchRow("db-primary").getByRole("button", { name: "Send now" }).click()
    await expect.poll(() => batchRow("db-primary").count(), { timeout: 10_000 }).toBe(0)
    const summaryRow = page.locator("#summaries tbody tr[data-summary-id]").first()
    await expect.poll(() => summaryRow.getAttribute("data-status"), { timeout: 10_000 }).toBe("delivered")
    expect(await summaryRow.locator(".status").textContent()).toBe("delivered")
    expect(await summaryRow.textContent()).toContain("4 instances of 2 messages")
    expect(await summaryRow.textContent()).toContain("db-primary")
    expect(upstream?.deliveries.some((delivery) => delivery.raw.toString("utf8").includes("X-Failmail-Batch: db-primary"))).toBe(true)
    expect(await page.locator("#stat-delivered").textContent()).toBe("1")
    expect(await page.locator("#notice").textContent()).toContain("db-primary")

    // New mail shows up without a reload.
    await send([{ split: "search-indexer", to: "oncall@example.com", subject: "Indexer queue backlog above 10000 documents", times: 2 }])
    await expect.poll(() => batchRow("search-indexer").count(), { timeout: 10_000 }).toBe(1)
    await expect.poll(() => page.locator("#stat-received").textContent()).toBe("13")

    // "Silence" on a pending group fills the silence form with its matchers; the silence is listed.
    await batchRow("payments-api").locator("li", { hasText: "HTTP 502 Bad Gateway" }).getByRole("button", { name: "Silence" }).click()
    const silenceForm = page.locator("#silence-form")
    expect(await silenceForm.locator('[name="match.batch"]').inputValue()).toBe("^payments-api$")
    expect(await silenceForm.locator('[name="match.group"]').inputValue()).toBe("^HTTP 502 Bad Gateway on POST /v1/charges$")
    await silenceForm.locator('[name="comment"]').fill("gateway maintenance until 16:00 (CHG-2291)")
    await silenceForm.locator('[name="author"]').fill("ann")
    await silenceForm.locator('[name="for"]').selectOption("4h")
    await silenceForm.getByRole("button", { name: "Silence" }).click()
    const silenceRow = page.locator("#silences tbody tr[data-silence-id]")
    await expect.poll(() => silenceRow.count(), { timeout: 10_000 }).toBe(1)
    expect(await silenceRow.textContent()).toContain("gateway maintenance until 16:00 (CHG-2291)")
    expect(await silenceRow.locator(".countdown").textContent()).toMatch(/^in 3h 59m$|^in 4h 00m$/)

    // An expectation made with its form is met by matching mail, which is not batched.
    const expectationForm = page.locator("#expectation-form")
    await expectationForm.locator('[name="name"]').fill("nightly backup")
    await expectationForm.locator('[name="match.subject"]').fill("^backup OK")
    await expectationForm.locator('[name="to"]').fill("ops@example.com, dba@example.com")
    await expectationForm.getByRole("button", { name: "Expect" }).click()
    const expectationRow = page.locator("#expectations tbody tr[data-expectation-id]")
    await expect.poll(() => expectationRow.count(), { timeout: 10_000 }).toBe(1)
    expect(await expectationRow.textContent()).toContain("never")
    await send([{ split: "nightly-backup", to: "ops@example.com", subject: "backup OK: 412 GB in 38m" }])
    await expect.poll(() => expectationRow.locator("td").nth(3).textContent(), { timeout: 10_000 }).toMatch(/just now|\d+s ago/)
    expect(await batchRow("nightly-backup").locator("td.num").textContent()).toBe("1")

    await page.locator("#notice").evaluate((node) => ((node as { hidden: boolean }).hidden = true))
    await page.mouse.move(0, 0)
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })

    // "End now" ends the silence; it stays listed as ended.
    await silenceRow.getByRole("button", { name: "End now" }).click()
    await expect.poll(() => silenceRow.getAttribute("class"), { timeout: 10_000 }).toBe("ended")

    // Alert text that looks like markup stays text, in the first render and in live updates.
    const evil = `<img src=x onerror=alert(1)><script>alert(2)</script>`
    await send([{ split: "evil", to: "oncall@example.com", subject: evil }])
    await expect.poll(() => batchRow("evil").count(), { timeout: 10_000 }).toBe(1)
    expect(await batchRow("evil").locator(".subject").textContent()).toBe(evil)
    await page.reload()
    expect(await batchRow("evil").locator(".subject").textContent()).toBe(evil)
    expect(await page.locator("#batches img").count()).toBe(0)

    // "Send all now" empties the list.
    await page.getByRole("button", { name: "Send all now" }).click()
    await expect.poll(() => page.locator("#batches tbody tr[data-batch-key]").count(), { timeout: 10_000 }).toBe(0)
    expect(await page.locator("#batches tbody").textContent()).toContain("No pending batches.")
    expect(await page.getByRole("button", { name: "Send all now" }).isDisabled()).toBe(true)
    await expect
      .poll(() => page.locator('#summaries tbody tr[data-status="delivered"]').count(), { timeout: 10_000 })
      .toBe(5)

    expect(problems).toEqual([])
    await page.close()
  })
})
