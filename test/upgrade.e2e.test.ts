/**
 * Upgrades lose nothing, as an operator does them: the Go failmail (or the
 * previous failmail release) is stopped with mail pending, and the built
 * failmail (`node dist/main.js`) starts on the same `--message-store`,
 * relaying to a real upstream. Real files, real sockets.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { buildDaemon, httpPortOf, launch, ready } from "./support/daemon.ts"
import { eventually } from "./support/failmail.ts"
import { tempDir } from "./support/tempdir.ts"
import { heldIn } from "./support/spool.ts"
import { startUpstream, type Upstream } from "./support/upstream.ts"

const fixture = path.join(import.meta.dirname, "fixtures", "spool-previous-release")
const upstreams: Array<Upstream> = []

beforeAll(buildDaemon, 120_000)

afterEach(async () => {
  for (const upstream of upstreams.splice(0)) await upstream.close()
})

/** Stores a message as the Go failmail does (see test/StoreImport.test.ts); `at` in whole seconds. */
const goMessage = (root: string, atSeconds: number, serial: number, subject: string, split: string) => {
  const name = `${atSeconds}.777_${serial}.gohost:2,S`
  const raw = `From: app@example.org\r\nTo: ops@example.com\r\nSubject: ${subject}\r\nX-Failmail-Split: ${split}\r\n\r\nbody\r\n`
  fs.writeFileSync(path.join(root, "cur", name), raw, { mode: 0o644 })
  const meta = path.join(root, ".meta", name)
  fs.writeFileSync(meta, JSON.stringify({ EnvelopeFrom: "app@example.org", EnvelopeTo: ["ops@example.com"], RedirectedTo: ["ops@example.com"] }))
  fs.utimesSync(meta, atSeconds, atSeconds)
}

const subjects = (upstream: Upstream) =>
  upstream.deliveries.map((delivery) => `${delivery.to.join(",")} ${/^Subject: (.*)$/m.exec(delivery.raw.toString())?.[1] ?? ""}`).sort()

describe("starting on an older store", () => {
  it("takes in the Go failmail's pending mail and the previous release's spool, and summarizes each batch at its time", async () => {
    const dir = tempDir()
    const store = path.join(dir, "incoming")
    fs.cpSync(fixture, store, { recursive: true })
    for (const sub of ["cur", "new", "tmp", ".meta"]) fs.mkdirSync(path.join(store, sub), { recursive: true, mode: 0o755 })
    const now = Math.floor(Date.now() / 1000)
    // Two hours old: overdue. One minute old, batch "later": due 5 minutes (--wait-period) after it arrived.
    goMessage(store, now - 7_200, 1, "go alert", "go")
    goMessage(store, now - 7_100, 2, "go alert", "go")
    goMessage(store, now - 60, 3, "recent go alert", "later")
    const upstream = await startUpstream()
    upstreams.push(upstream)

    const child = launch(
      ["--bind-addr=127.0.0.1:0", "--bind-http=127.0.0.1:0", `--relay-addr=${upstream.address}`, "--wait-period=5m", "--max-wait=10m"],
      dir
    )
    await ready(child)
    expect(child.output()).toMatch(/message="took in 3 messages from the spool of an earlier failmail release in [^"]*".* component=store-import( |$)/m)
    expect(child.output()).toMatch(/message="took in 3 messages from the Go failmail's store in [^"]*".* component=store-import( |$)/m)
    // The earlier release's files are gone once taken in; the Go failmail's maildir folders stay (empty).
    expect(fs.existsSync(path.join(store, "msg"))).toBe(false)
    expect(child.output()).toContain("recovered 6 messages from the spool")
    // Overdue at start: out at once (timed from the start, they would wait 5 minutes).
    await eventually("the overdue summaries", () => upstream.deliveries.length === 4, 10_000)
    expect(subjects(upstream)).toEqual([
      "dev@example.com [failmail] 1 instance: disk full on db1",
      "ops@example.com [failmail] 1 instance: cron failed",
      "ops@example.com [failmail] 2 instances: disk full on db1",
      "ops@example.com [failmail] 2 instances: go alert"
    ])
    expect(fs.readdirSync(path.join(store, "cur"))).toEqual([])
    expect(fs.readdirSync(path.join(store, ".meta"))).toEqual([])

    // The recent one waits for its own deadline, counted from when the Go failmail received it.
    const port = httpPortOf(child)
    const batches = (await (await fetch(`http://127.0.0.1:${port}/api/batches`)).json()) as Array<Record<string, unknown>>
    expect(batches).toMatchObject([
      { key: "later", messageCount: 1, firstAt: new Date((now - 60) * 1000).toISOString(), dueAt: new Date((now + 240) * 1000).toISOString() }
    ])

    child.process.kill("SIGTERM")
    expect(await child.exited).toBe(0)
    expect(subjects(upstream)).toContain("ops@example.com [failmail] 1 instance: recent go alert")
    expect(upstream.deliveries).toHaveLength(5)
    expect(heldIn(store)).toEqual([])
  }, 30_000)
})
