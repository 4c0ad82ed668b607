/**
 * The built daemon on a real PostgreSQL (`--store postgres://…`), started
 * by the test: mail in over SMTP, summaries out to a recording upstream,
 * the rows gone afterwards; the database crashing and coming back under
 * load; the URL's password never shown.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { simpleParser } from "mailparser"
import nodemailer from "nodemailer"
import { beforeAll, describe, expect, it } from "vitest"
import { buildDaemon, httpPortOf, launch, ready, smtpPortOf, type Child } from "./support/daemon.ts"
import { summarizedTokens } from "./support/digests.ts"
import { eventually } from "./support/failmail.ts"
import { tempDir } from "./support/tempdir.ts"
import { postgresForFile } from "./support/postgresFile.ts"
import { startUpstream, type Upstream } from "./support/upstream.ts"

beforeAll(() => buildDaemon(), 120_000)
const postgres = postgresForFile()

/**
 * Starts the built failmail on the database at `url` (by default a new one),
 * relaying to `upstream`, its `--message-store` prepared by `prepare`;
 * resolves once it is ready.
 */
const startDaemon = async (
  upstream: Upstream,
  extra: ReadonlyArray<string> = [],
  prepare: (messageStore: string) => void = () => {},
  url?: string
) => {
  url ??= await postgres().createDatabase()
  const dir = tempDir()
  prepare(path.join(dir, "spool"))
  const child = launch(
    [
      `--store=${url}`,
      "--bind-addr=127.0.0.1:0",
      `--relay-addr=${upstream.address}`,
      `--message-store=${path.join(dir, "spool")}`,
      `--fail-dir=${path.join(dir, "failed")}`,
      ...extra
    ],
    dir
  )
  await ready(child)
  return { child, url, database: new URL(url).pathname.slice(1), messageStore: path.join(dir, "spool") }
}

const transportTo = (child: Child) =>
  nodemailer.createTransport({ host: "127.0.0.1", port: smtpPortOf(child), secure: false, ignoreTLS: true })

const messagesIn = async (database: string) =>
  Number((await postgres().query(database, "SELECT count(*) FROM failmail_messages"))[0])

/** The text parts of the summaries the upstream received. */
const summaryTexts = (upstream: Upstream) =>
  Promise.all(upstream.deliveries.map(async (delivery) => (await simpleParser(delivery.raw)).text ?? ""))

describe("failmail on PostgreSQL", () => {
  it("takes mail in, sends one summary, and leaves no rows; the URL's password never shows", async () => {
    const upstream = await startUpstream()
    try {
      const { child, database } = await startDaemon(upstream, ["--wait-period=300ms", "--bind-http=127.0.0.1:0", "--log-format=json"])
      const transport = transportTo(child)
      for (const n of [1, 2, 3]) {
        await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "disk full on db1", text: `alert ${n}` })
      }
      transport.close()
      await eventually("one summary upstream", () => upstream.deliveries.length === 1, 10_000)
      expect(upstream.deliveries[0]?.raw.toString()).toContain("3 instances: disk full on db1")
      await eventually("no rows left", async () => (await messagesIn(database)) === 0)
      expect(await postgres().query(database, "SELECT max(version) FROM failmail_schema_migrations")).toEqual(["2"])

      const port = httpPortOf(child)
      for (const route of ["/", "/api/stats", "/api/batches", "/api/summaries", "/metrics", "/healthz"]) {
        const answer = await fetch(`http://127.0.0.1:${port}${route}`)
        expect(answer.status, route).toBe(200)
        expect((await answer.text()).includes(postgres().password), route).toBe(false)
      }
      expect(child.output()).toMatch(/"store":"<redacted>"/)
      expect(child.output().includes(postgres().password)).toBe(false)
      child.process.kill("SIGTERM")
      expect(await child.exited).toBe(0)
      expect(upstream.deliveries).toHaveLength(1)
    } finally {
      await upstream.close()
    }
  }, 60_000)

  it("takes in what an earlier release left in --message-store, into the database", async () => {
    const upstream = await startUpstream()
    try {
      const { child, database, messageStore } = await startDaemon(upstream, ["--wait-period=1h", "--max-wait=1h"], (messageStore) =>
        fs.cpSync(path.join(import.meta.dirname, "fixtures", "spool-previous-release"), messageStore, { recursive: true })
      )
      expect(child.output()).toContain("took in 3 messages from the spool of an earlier failmail release")
      expect(fs.existsSync(path.join(messageStore, "msg"))).toBe(false)
      // Taken in with their arrival times of days ago, so with --max-wait=1h every batch is overdue and goes out
      // at once, from the database, and leaves it.
      await eventually("every message taken in is summarized", async () => (await messagesIn(database)) === 0, 30_000)
      const summarized = (await summaryTexts(upstream)).join("\n")
      for (const subject of ["disk full on db1", "cron failed"]) expect(summarized).toContain(subject)
      child.process.kill("SIGTERM")
      expect(await child.exited).toBe(0)
      expect(await messagesIn(database)).toBe(0)
    } finally {
      await upstream.close()
    }
  }, 60_000)

  it("switching from the embedded store with mail pending: its messages and state documents go into the database, none lost", async () => {
    const upstream = await startUpstream()
    try {
      // A failmail on the embedded store holds two messages and a silence when it is killed (no last flush).
      const embeddedDir = tempDir()
      const embeddedStore = path.join(embeddedDir, "spool")
      const embedded = launch(
        [
          "--bind-addr=127.0.0.1:0",
          "--bind-http=127.0.0.1:0",
          `--relay-addr=${upstream.address}`,
          `--message-store=${embeddedStore}`,
          `--fail-dir=${path.join(embeddedDir, "failed")}`,
          "--wait-period=1h",
          "--max-wait=1h"
        ],
        embeddedDir
      )
      await ready(embedded)
      const transport = transportTo(embedded)
      for (const subject of ["disk full on db1", "cron failed"]) {
        await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject, text: subject })
      }
      transport.close()
      const created = await fetch(`http://127.0.0.1:${httpPortOf(embedded)}/api/silences`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ match: { subject: "^nothing like this$" }, for: "2h", comment: "kept across the switch", author: "ann" })
      })
      expect(created.status).toBe(201)
      embedded.process.kill("SIGKILL")
      await embedded.exited
      expect(fs.readdirSync(path.join(embeddedStore, "log")).length).toBeGreaterThan(0)

      // The same --message-store, now with --store: both messages are summarized from the database, the silence is there.
      const { child, database, messageStore } = await startDaemon(
        upstream,
        ["--wait-period=100ms", "--max-wait=200ms", "--bind-http=127.0.0.1:0"],
        (messageStore) => fs.cpSync(embeddedStore, messageStore, { recursive: true })
      )
      expect(child.output()).toContain("took in 2 messages from the embedded store's log")
      expect(child.output()).toContain("took in the state document silences")
      await eventually("both messages summarized", async () => (await summaryTexts(upstream)).join("\n").includes("cron failed"), 20_000)
      const summarized = (await summaryTexts(upstream)).join("\n")
      for (const subject of ["disk full on db1", "cron failed"]) expect(summarized).toContain(subject)
      await eventually("no rows left", async () => (await messagesIn(database)) === 0)
      expect(fs.existsSync(path.join(messageStore, "log"))).toBe(false)
      expect(fs.existsSync(path.join(messageStore, "state", "silences.json"))).toBe(false)
      const silences = (await (await fetch(`http://127.0.0.1:${httpPortOf(child)}/api/silences`)).json()) as Array<{ comment: string }>
      expect(silences.map((silence) => silence.comment)).toEqual(["kept across the switch"])
      child.process.kill("SIGTERM")
      expect(await child.exited).toBe(0)
    } finally {
      await upstream.close()
    }
  }, 60_000)

  it("answers 451 while the database is down, resumes by itself, and loses no acknowledged message", async () => {
    const upstream = await startUpstream()
    try {
      // Batches wait: nothing is summarized before the outage is over.
      const { child, url, database } = await startDaemon(upstream, ["--wait-period=1h", "--max-wait=1h"])
      const acknowledged: Array<string> = []
      const refused: Array<string> = []
      let stopped = false
      const client = (async () => {
        const transport = transportTo(child)
        for (let n = 1; !stopped; n++) {
          const token = `[alert-${n.toString().padStart(5, "0")}]`
          try {
            await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: `load ${token}`, text: token })
            acknowledged.push(token)
          } catch (error) {
            expect((error as { responseCode?: number }).responseCode, String(error)).toBe(451)
            refused.push(token)
          }
        }
        transport.close()
      })()

      await eventually("20 messages accepted", () => acknowledged.length >= 20, 20_000)
      await postgres().stop({ mode: "immediate" })
      await eventually("5 messages refused with 451", () => refused.length >= 5, 20_000)
      const acceptedBeforeRestart = acknowledged.length
      await postgres().start()
      await eventually("20 more accepted after the restart", () => acknowledged.length >= acceptedBeforeRestart + 20, 20_000)
      stopped = true
      await client

      child.process.kill("SIGTERM")
      expect(await child.exited).toBe(0)
      // What it did not summarize before stopping, the next failmail on the database does, at once (overdue).
      const next = await startDaemon(upstream, ["--wait-period=100ms", "--max-wait=200ms"], () => {}, url)
      await eventually("every stored message summarized", async () => (await messagesIn(database)) === 0, 30_000)
      next.child.process.kill("SIGTERM")
      expect(await next.child.exited).toBe(0)
      // Each token once per summary that holds its message (not its Stopped: lines), so a token twice here is a message summarized twice.
      const summarized = (await summaryTexts(upstream)).flatMap((text) => summarizedTokens(text, /\[alert-\d{5}\]/g))
      expect(summarized.filter((token, index) => summarized.indexOf(token) !== index), "summarized twice").toEqual([])
      expect(acknowledged.filter((token) => !summarized.includes(token)), "acknowledged but lost").toEqual([])
      // Nor a refused one, even one whose COMMIT happened as the connection dropped.
      expect(refused.filter((token) => summarized.includes(token)), "refused but summarized").toEqual([])
    } finally {
      await upstream.close()
    }
  }, 120_000)
})
