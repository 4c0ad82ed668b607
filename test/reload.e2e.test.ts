/**
 * Reloads under a stuck or failing relay, with the built failmail as a child
 * process, real SMTP clients in and real SMTP servers upstream: intake keeps
 * answering while the old configuration's summary is still being relayed,
 * and no summary, nor any part of a batch split by recipients, goes to a
 * recipient twice (or is lost).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import nodemailer from "nodemailer"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { buildDaemon, launch, ready, smtpPortOf } from "./support/daemon.ts"
import { eventually } from "./support/failmail.ts"
import { tempDir } from "./support/tempdir.ts"
import { heldIn } from "./support/spool.ts"
import { startUpstream, type Upstream } from "./support/upstream.ts"

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

beforeAll(buildDaemon, 120_000)

const send = (port: number, subject: string, to: string | ReadonlyArray<string> = "ops@example.com") =>
  nodemailer
    .createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
    .sendMail({ from: "app@example.org", to: [...(typeof to === "string" ? [to] : to)], subject, text: `body of ${subject}` })

const subjectOf = (raw: Buffer) => /^Subject: (.*)$/m.exec(raw.toString())?.[1] ?? ""

/** A failmail run from a config file (so SIGHUP re-reads it), on 127.0.0.1 port 0. */
const launchWithConfig = (dir: string, relay: string, extra = "") => {
  const configFile = path.join(dir, "failmail.conf")
  fs.writeFileSync(
    configFile,
    `bind_addr = 127.0.0.1:0\nbind_http = ""\nrelay_addr = ${relay}\nmessage_store = spool\nfail_dir = failed\nwait_period = 200ms\n${extra}`
  )
  return launch([`--config=${configFile}`], dir)
}

const readyCount = (output: string) => (output.match(/failmail ready/g) ?? []).length

describe("a reload while the relay is stuck", () => {
  it("answers new mail at once, and the stuck summary and the new one each reach the upstream once", async () => {
    const dir = tempDir()
    // Answers each DATA only after 6 s: the first summary is still under way when the reload comes.
    const upstream: Upstream = await startUpstream({ replyDelayMs: 6_000 })
    closers.push(() => upstream.close())
    const child = launchWithConfig(dir, upstream.address, "relay_timeout = 15s\n")
    await ready(child)
    await send(smtpPortOf(child), "before the reload")
    await eventually("the first summary's DATA upstream", () => upstream.attempts() === 1, 10_000)

    child.process.kill("SIGHUP")
    await eventually("the reload under way", () => child.output().includes("reloading the configuration on SIGHUP"))
    // Sent at once: the connection waits in the kept socket only while the next configuration is built.
    const started = Date.now()
    await send(smtpPortOf(child), "during the stuck relay")
    const answeredIn = Date.now() - started
    // Answered while the old configuration's summary still waits for its reply.
    expect(upstream.deliveries).toHaveLength(0)
    expect(readyCount(child.output())).toBe(2)
    expect(answeredIn).toBeLessThan(1_000)
    console.info(`reload with a stuck relay: the 250 came ${answeredIn} ms after the message was sent, right after the SIGHUP`)

    await eventually("both summaries relayed", () => upstream.deliveries.length === 2, 20_000)
    expect(upstream.deliveries.map((delivery) => subjectOf(delivery.raw)).sort()).toEqual([
      "[failmail] 1 instance: before the reload",
      "[failmail] 1 instance: during the stuck relay"
    ])
    await eventually("an empty spool", () => heldIn(path.join(dir, "spool")).length === 0, 5_000)
    // Nothing was sent twice, and the stuck one was not tried again.
    expect(upstream.attempts()).toBe(2)
    expect(child.output()).toContain("still being delivered by the previous configuration")

    child.process.kill("SIGTERM")
    expect(await child.exited).toBe(0)
    expect(upstream.deliveries).toHaveLength(2)
  }, 60_000)

  it("a stop right after the reload waits for the old configuration's summary, which goes out once", async () => {
    const dir = tempDir()
    const upstream = await startUpstream({ replyDelayMs: 2_000 })
    closers.push(() => upstream.close())
    const child = launchWithConfig(dir, upstream.address, "relay_timeout = 10s\n")
    await ready(child)
    await send(smtpPortOf(child), "under way at the stop")
    await eventually("the summary's DATA upstream", () => upstream.attempts() === 1, 10_000)

    child.process.kill("SIGHUP")
    await eventually("the next configuration ready", () => readyCount(child.output()) === 2, 10_000)
    child.process.kill("SIGTERM")
    expect(await child.exited).toBe(0)
    expect(upstream.deliveries.map((delivery) => subjectOf(delivery.raw))).toEqual(["[failmail] 1 instance: under way at the stop"])
    expect(heldIn(path.join(dir, "spool"))).toEqual([])
  }, 60_000)
})

/** An upstream that refuses (451) every recipient in `refused` while it is set, and records what it accepts. */
const refusingUpstream = async () => {
  const refused = new Set<string>()
  const upstream = await startUpstream({ refuses: (recipient) => refused.has(recipient) })
  closers.push(upstream.close)
  return { address: upstream.address, refused, refusals: upstream.refusals, deliveries: upstream.deliveries }
}

describe("a reload while a batch split by recipients is half delivered", () => {
  it("sends the part still owed once, to its recipients only, and nothing again to those already served", async () => {
    const dir = tempDir()
    const upstream = await refusingUpstream()
    upstream.refused.add("b@example.com")
    const child = launchWithConfig(dir, upstream.address, "max_wait = 1h\nwait_period = 1s\nrelay_retry_for = 5m\n")
    await ready(child)
    const port = smtpPortOf(child)
    // One batch: "shared" goes to a and b, "only a" to a. a's summary holds both, b's holds "shared".
    await send(port, "shared", ["a@example.com", "b@example.com"])
    await send(port, "only a", "a@example.com")
    await eventually("a's summary delivered and b's refused", () => upstream.deliveries.length === 1 && upstream.refusals() >= 1, 15_000)
    expect(upstream.deliveries[0]?.to).toEqual(["a@example.com"])

    // b's summary waits to retry: the reload leaves its messages to the next configuration.
    child.process.kill("SIGHUP")
    await eventually("the next configuration ready", () => readyCount(child.output()) === 2, 15_000)
    upstream.refused.clear()
    await eventually("b's summary", () => upstream.deliveries.length === 2, 15_000)
    await eventually("an empty spool", () => heldIn(path.join(dir, "spool")).length === 0, 5_000)

    const [toA, toB] = upstream.deliveries
    expect(toA?.to).toEqual(["a@example.com"])
    expect(toA?.raw.toString()).toContain("only a")
    expect(toB?.to).toEqual(["b@example.com"])
    expect(subjectOf(toB?.raw ?? Buffer.alloc(0))).toBe("[failmail] 1 instance: shared")
    expect(toB?.raw.toString()).not.toContain("only a")

    child.process.kill("SIGTERM")
    expect(await child.exited).toBe(0)
    expect(upstream.deliveries).toHaveLength(2)
  }, 60_000)
})
