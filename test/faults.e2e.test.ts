/**
 * Disk and upstream faults: whatever goes wrong, an acknowledged message ends
 * up relayed or in the fail-dir exactly once, and a client whose message
 * could not be stored gets a 451 so its MTA retries. A full disk is made
 * for real (support/diskFull.ts: every write that would grow a file fails).
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as net from "node:net"
import { Duration } from "effect"
import nodemailer from "nodemailer"
import { afterEach, describe, expect, it } from "vitest"
import { fillDisk, freeDisk, nearlyFillDisk } from "./support/diskFull.ts"
import { deadUpstream, eventually, listeningPortOf, maildirNew, spoolFiles, startFailmail, type Failmail } from "./support/failmail.ts"
import { startUpstream } from "./support/upstream.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const started = async (overrides: Parameters<typeof startFailmail>[0]): Promise<Failmail> => {
  const failmail = await startFailmail(overrides)
  cleanups.push(() => failmail.dispose())
  return failmail
}

const send = (port: number, subject: string) =>
  nodemailer
    .createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
    .sendMail({ from: "app@example.org", to: "ops@example.com", subject, text: "body", headers: { "X-Failmail-Split": subject } })

/** Starts smtp-sink (with fault `flags`) on a port of its own choosing; returns its `host:port`. */
const smtpSink = async (flags: ReadonlyArray<string>): Promise<string> => {
  const sink: ChildProcess = spawn("smtp-sink", ["-u", "nobody", ...flags, "127.0.0.1:0", "64"], { stdio: "ignore" })
  cleanups.push(() => {
    sink.kill("SIGKILL")
  })
  return `127.0.0.1:${await listeningPortOf(sink.pid ?? 0)}`
}

describe("disk faults", () => {
  it("answers 451 while the spool cannot be written, keeps serving, and recovers", async () => {
    const upstream = await startUpstream()
    cleanups.push(() => upstream.close())
    const failmail = await started({ relayAddr: upstream.address })
    fillDisk()
    cleanups.push(() => freeDisk())

    await expect(send(failmail.port, "while broken")).rejects.toMatchObject({ responseCode: 451 })
    await expect(send(failmail.port, "still broken")).rejects.toMatchObject({ responseCode: 451 })
    expect(failmail.logs.join("\n")).toContain("answered 451")
    expect(spoolFiles(failmail.config.messageStore)).toEqual([])

    freeDisk()
    await send(failmail.port, "after repair")
    await eventually("summary of the repaired path", () => upstream.deliveries.length === 1)
    expect(upstream.deliveries[0]?.raw.toString()).toContain("after repair")
  })

  it("/readyz says 503 while the spool cannot be written and 200 once it can, with no mail in between; /healthz (liveness) stays 200", async () => {
    const failmail = await started({ relayAddr: await deadUpstream(), bindHttp: "127.0.0.1:0" })
    const probes = async () =>
      Promise.all(
        ["/healthz", "/readyz"].map(async (probe) => (await fetch(`http://127.0.0.1:${failmail.httpPort}${probe}`)).status)
      )
    expect(await probes()).toEqual([200, 200])
    fillDisk()
    cleanups.push(() => freeDisk())
    await eventually("readiness to fail", async () => (await probes())[1] === 503)
    expect((await probes())[0]).toBe(200)

    freeDisk()
    await eventually("readiness to pass again", async () => (await probes()).every((status) => status === 200))
    expect(failmail.logs.join("\n")).not.toContain("answered 451")
  })

  it("/readyz follows what intake does: 503 while most recent messages got 451, though a probe's tiny file can still be written", async () => {
    const failmail = await started({ relayAddr: await deadUpstream(), bindHttp: "127.0.0.1:0" })
    const status = async (probe: string) => (await fetch(`http://127.0.0.1:${failmail.httpPort}${probe}`)).status
    const sendLarge = (subject: string) =>
      nodemailer
        .createTransport({ host: "127.0.0.1", port: failmail.port, secure: false, ignoreTLS: true })
        .sendMail({ from: "app@example.org", to: "ops@example.com", subject, text: "x".repeat(64 * 1024) })
    // Room for a small file, not for a message.
    nearlyFillDisk(4096)
    cleanups.push(() => freeDisk())
    for (let n = 1; n <= 5; n++) await expect(sendLarge(`refused ${n}`)).rejects.toMatchObject({ responseCode: 451 })
    const refusing = await fetch(`http://127.0.0.1:${failmail.httpPort}/readyz`)
    expect(refusing.status).toBe(503)
    expect(await refusing.json()).toEqual({ status: "unavailable", smtp: true, spool: false })
    expect(await status("/healthz")).toBe(200)

    freeDisk()
    // Stored messages outnumber the refused ones again: ready, without waiting for the refusals to age out.
    for (let n = 1; n <= 6; n++) await sendLarge(`stored ${n}`)
    expect(await status("/readyz")).toBe(200)
  })

  it("keeps summaries in the spool while the fail-dir cannot be written", async () => {
    const failmail = await started({
      relayAddr: await deadUpstream(),
      relayRetryFor: Duration.zero,
      failDir: "/dev/null/failed"
    })
    await send(failmail.port, "nowhere to file")
    await eventually("fail-dir error logged", () => failmail.logs.some((line) => line.includes("summary kept in the spool")))
    expect(spoolFiles(failmail.config.messageStore)).toHaveLength(1)
  })
})

describe("upstream faults", () => {
  it("a relay that accepts TCP and never answers ends in the fail-dir once, without holding back ingest", async () => {
    const held: Array<net.Socket> = []
    const silent = net.createServer((socket) => void held.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())))
    const failmail = await started({
      relayAddr: `127.0.0.1:${(silent.address() as net.AddressInfo).port}`,
      relayTimeout: Duration.seconds(2),
      relayRetryFor: Duration.zero,
      waitPeriod: Duration.millis(100)
    })
    await send(failmail.port, "first")
    await eventually("the first summary's relay attempt under way", () => held.length >= 1)
    // Ingest is not held back: the next message is accepted while that attempt still waits for an answer.
    await send(failmail.port, "second")
    expect(maildirNew(failmail.config.failDir)).toEqual([])
    await eventually("both summaries filed", () => maildirNew(failmail.config.failDir).length === 2, 10_000)
    // Stopping waits for every delivery still under way: a second copy would be filed by then.
    await failmail.close()
    expect(maildirNew(failmail.config.failDir)).toHaveLength(2)
  })

  it("smtp-sink 5xx after DATA: filed at once, not retried", async () => {
    const failmail = await started({ relayAddr: await smtpSink(["-f", "."]), waitPeriod: Duration.millis(100) })
    await send(failmail.port, "refused")
    await eventually("filed", () => maildirNew(failmail.config.failDir).length === 1)
    expect(failmail.logs.filter((line) => line.includes("relay of")).length).toBe(1)
  })

  it("smtp-sink 4xx after DATA: retried until relay-retry-for, then filed exactly once", async () => {
    const failmail = await started({
      relayAddr: await smtpSink(["-r", "."]),
      waitPeriod: Duration.millis(100),
      relayRetryFor: Duration.millis(2_500)
    })
    await send(failmail.port, "deferred")
    await eventually("filed", () => maildirNew(failmail.config.failDir).length === 1, 15_000)
    expect(failmail.logs.filter((line) => line.includes("relay of")).length).toBeGreaterThanOrEqual(2)
    // Stopping waits for every delivery still under way: a second copy would be filed by then.
    await failmail.close()
    expect(maildirNew(failmail.config.failDir)).toHaveLength(1)
  })

  it("smtp-sink 421 at MAIL and disconnect: treated as transient, filed once when it persists", async () => {
    const failmail = await started({
      relayAddr: await smtpSink(["-Q", "MAIL"]),
      waitPeriod: Duration.millis(100),
      relayRetryFor: Duration.millis(1_500)
    })
    await send(failmail.port, "421 mid-session")
    await eventually("filed", () => maildirNew(failmail.config.failDir).length === 1, 15_000)
    // The message leaves the spool just after its summary is filed.
    await eventually("spool emptied", () => spoolFiles(failmail.config.messageStore).length === 0)
    expect(maildirNew(failmail.config.failDir)).toHaveLength(1)
  })
})
