/**
 * What the summaries' side does on a full disk, made for real
 * (support/diskFull.ts: every write that would grow a file fails): the relay
 * budget's record is saved before a send or nothing is sent, and a removal
 * the disk cannot take is waited for a bounded time, counted where an
 * operator looks, and never holds up the stop.
 */
import { Duration } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import nodemailer from "nodemailer"
import { afterEach, describe, expect, it } from "vitest"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"
import { fillDisk, freeDisk } from "./support/diskFull.ts"
import { eventually, GATHER, startFailmail, type Failmail } from "./support/failmail.ts"
import { startUpstream, type Upstream } from "./support/upstream.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  freeDisk()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const send = (port: number, subject: string, text = "body") =>
  nodemailer
    .createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
    .sendMail({ from: "app@example.org", to: "ops@example.com", subject, text })

const upstreamFor = async (): Promise<Upstream> => {
  const upstream = await startUpstream()
  cleanups.push(() => upstream.close())
  return upstream
}

const started = async (overrides: Parameters<typeof startFailmail>[0]): Promise<Failmail> => {
  const failmail = await startFailmail(overrides)
  cleanups.push(() => failmail.dispose())
  return failmail
}

const httpText = async (failmail: Failmail, what: string) => (await fetch(`http://127.0.0.1:${failmail.httpPort}${what}`)).text()

/** The value of a Prometheus sample (`name` with its labels, as printed). */
const sample = (metrics: string, name: string) => {
  const line = metrics.split("\n").find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

describe("the relay budget on a full disk", () => {
  it("sends nothing while the budget's record cannot be saved, then the held summary once the disk has room", async () => {
    const upstream = await upstreamFor()
    const failmail = await started({ relayAddr: upstream.address, relayRate: RelayBudget.rateOf(10, 60_000), bindHttp: "127.0.0.1:0" })
    await send(failmail.port, "due while the disk is full")
    fillDisk()

    await eventually("the budget's save refused", () => failmail.logs.some((line) => line.includes("relay budget not saved")))
    // Held, not sent: the summary waits in the budget for its record to be saved.
    expect(sample(await httpText(failmail, "/metrics"), 'failmail_held_summaries{reason="budget"}')).toBe(1)
    expect(upstream.attempts()).toBe(0)

    freeDisk()
    await eventually("the summary relayed", () => upstream.deliveries.length === 1)
    expect(upstream.deliveries[0]?.raw.toString()).toContain("due while the disk is full")
    const saved = JSON.parse(fs.readFileSync(path.join(failmail.config.messageStore, "state", "budget.json"), "utf8")) as { sends: Array<number> }
    expect(saved.sends).toHaveLength(1)
    expect(failmail.logs.filter((line) => line.includes("relay budget not saved"))).toHaveLength(1)
    expect(failmail.logs.join("\n")).toContain("relay budget saved again")
  })
})

describe("a removal the disk cannot take", () => {
  it("does not hold up the dispatcher or the stop, and is counted in /metrics and on the dashboard meanwhile", async () => {
    const upstream = await upstreamFor()
    // No relay budget: its record could not be saved either, and nothing would be sent (see above).
    const failmail = await started({
      relayAddr: upstream.address,
      bindHttp: "127.0.0.1:0",
      relayRate: RelayBudget.unlimited,
      relayTimeout: Duration.seconds(2),
      ...GATHER
    })
    await send(failmail.port, "summarized on a full disk")
    fillDisk()
    // A message larger than what the open segment has room for fails, and the log's next write needs a new segment.
    await expect(send(failmail.port, "too big for a full disk", "x".repeat(3 * 1024 * 1024))).rejects.toMatchObject({ responseCode: 451 })

    expect((await fetch(`http://127.0.0.1:${failmail.httpPort}/api/flush`, { method: "POST" })).status).toBe(200)
    await eventually("the summary relayed", () => upstream.deliveries.length === 1)
    await eventually(
      "the removal given up waiting for",
      () => failmail.logs.some((line) => line.includes("is not written yet; it goes on in the background")),
      10_000
    )
    expect(sample(await httpText(failmail, "/metrics"), "failmail_removals_pending")).toBe(1)
    expect(await httpText(failmail, "/")).toContain("removals not written")

    // The stop is not held up by the removal (the message comes back at the next start: at least once).
    await failmail.close()
    expect(upstream.deliveries).toHaveLength(1)
  }, 30_000)
})
