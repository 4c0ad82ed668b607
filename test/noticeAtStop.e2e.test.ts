/**
 * An expected-mail notice that waits for the relay budget when failmail
 * stops is kept with its expectation, and goes out after the next start,
 * once: a real upstream, failmail run twice on one store, the expectation
 * made through the HTTP API.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import nodemailer from "nodemailer"
import { afterEach, describe, expect, it } from "vitest"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"
import { eventually, startFailmail, type Failmail } from "./support/failmail.ts"
import { startUpstream } from "./support/upstream.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const subjects = (raws: ReadonlyArray<{ readonly raw: Buffer }>) => raws.map((delivery) => /^Subject: (.*)$/m.exec(delivery.raw.toString())?.[1] ?? "")

const expectations = async (failmail: Failmail) =>
  (await (await fetch(`http://127.0.0.1:${failmail.httpPort}/api/expectations`)).json()) as ReadonlyArray<{ readonly missing: boolean }>

describe("an expected-mail notice held by the relay budget at a stop", () => {
  it("goes out after the restart, once", async () => {
    const upstream = await startUpstream()
    cleanups.push(() => upstream.close())
    const first = await startFailmail({ relayAddr: upstream.address, bindHttp: "127.0.0.1:0", relayRate: RelayBudget.rateOf(1, 3_600_000) })
    cleanups.push(() => first.dispose())
    // The one send the budget allows this hour goes to a summary.
    await nodemailer
      .createTransport({ host: "127.0.0.1", port: first.port, secure: false, ignoreTLS: true })
      .sendMail({ from: "app@example.org", to: "ops@example.com", subject: "spends the budget", text: "body" })
    await eventually("the summary relayed", () => upstream.deliveries.length === 1)

    const created = await fetch(`http://127.0.0.1:${first.httpPort}/api/expectations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "nightly backup", match: { subject: "^backup OK" }, every: "1s", to: ["ops@example.com"] })
    })
    expect(created.status).toBe(201)
    await eventually("the expectation missing", async () => (await expectations(first)).some((expectation) => expectation.missing))
    // Its notice waits for the budget: nothing more went out, and failmail stops.
    expect(upstream.deliveries).toHaveLength(1)
    await first.close()
    expect(upstream.deliveries).toHaveLength(1)

    // The next start, with a budget to spare, sends it.
    const second = await startFailmail({
      relayAddr: upstream.address,
      bindHttp: "127.0.0.1:0",
      relayRate: RelayBudget.unlimited,
      messageStore: first.config.messageStore
    })
    cleanups.push(() => second.close())
    await eventually("the notice relayed", () => upstream.deliveries.length === 2)
    expect(subjects(upstream.deliveries)[1]).toMatch(/^\[failmail\] missing: nightly backup \(last seen never\)$/)
    await second.close()

    // Sent, so no longer kept: a third start sends nothing more.
    const kept = JSON.parse(fs.readFileSync(path.join(first.config.messageStore, "state", "expectations.json"), "utf8")) as ReadonlyArray<{
      readonly pending?: unknown
    }>
    expect(kept).toHaveLength(1)
    expect(kept[0]?.pending).toBeUndefined()
    expect(upstream.deliveries).toHaveLength(2)
  })
})
