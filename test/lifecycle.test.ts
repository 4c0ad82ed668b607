/**
 * The built failmail as an operator runs it, as a child process: crash
 * recovery after SIGKILL, flush on SIGTERM, SIGHUP reload (also while a
 * summary is being relayed), the pidfile and inherited sockets. Real time,
 * short windows, every wait a bounded poll.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import nodemailer from "nodemailer"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { buildDaemon, httpPortOf, launch, listeningPortsOf, main, ready, smtpPortOf } from "./support/daemon.ts"
import { deadUpstream, eventually } from "./support/failmail.ts"
import { Conversation } from "./support/smtpClient.ts"
import { tempDir } from "./support/tempdir.ts"
import { startUpstream, type Upstream, type UpstreamOptions } from "./support/upstream.ts"
import { heldIn, rewriteHeld } from "./support/spool.ts"

const upstreams: Array<Upstream> = []

const send = (port: number, subject: string, to = "ops@example.com") =>
  nodemailer
    .createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
    .sendMail({ from: "app@example.org", to, subject, text: `body of ${subject}` })

/** An SMTP session past its greeting and EHLO. */
const greeted = async (port: number, name: string): Promise<Conversation> => {
  const session = await Conversation.open(port)
  expect((await session.read()).code).toBe(220)
  expect((await session.command(`EHLO ${name}`)).code).toBe(250)
  return session
}

/**
 * Makes every message in the spool at `spoolDir` `ms` older, as if failmail
 * had been down that much longer (each record's `receivedAt` rewritten in
 * the log, while failmail is stopped).
 */
const ageSpool = (spoolDir: string, ms: number) => {
  rewriteHeld(spoolDir, (record) => ({ ...record, receivedAt: record.receivedAt - ms }))
}

const subjects = (upstream: Upstream) =>
  upstream.deliveries.map((delivery) => /^Subject: (.*)$/m.exec(delivery.raw.toString())?.[1] ?? "")

const baseArgs = (dir: string, upstream: Upstream) => [
  "--bind-addr=127.0.0.1:0",
  "--bind-http=",
  `--relay-addr=${upstream.address}`,
  `--message-store=${path.join(dir, "spool")}`,
  `--fail-dir=${path.join(dir, "failed")}`
]

beforeAll(buildDaemon, 120_000)

afterEach(async () => {
  for (const upstream of upstreams.splice(0)) await upstream.close()
})

const newUpstream = async (options: UpstreamOptions = {}) => {
  const upstream = await startUpstream(options)
  upstreams.push(upstream)
  return upstream
}

describe("crash recovery", () => {
  it("puts every acknowledged message back after SIGKILL and sends overdue batches at once, once", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const args = [...baseArgs(dir, upstream), "--wait-period=10m", "--max-wait=1h"]
    const first = launch(args, dir)
    await ready(first)
    const port = smtpPortOf(first)
    for (let index = 0; index < 5; index++) await send(port, "db down")
    first.process.kill("SIGKILL")
    await first.exited
    expect(upstream.deliveries).toHaveLength(0)
    expect(heldIn(path.join(dir, "spool"))).toHaveLength(5)

    // Down for two hours: the batch is overdue when failmail comes back.
    ageSpool(path.join(dir, "spool"), 2 * 3_600_000)
    const second = launch(args, dir)
    // At once: a batch timed from the restart would wait 10 minutes.
    await eventually("recovered summary", () => upstream.deliveries.length === 1, 10_000)
    expect(second.output()).toContain("recovered 5 messages from the spool")
    expect(subjects(upstream)).toEqual(["[failmail] 5 instances: db down"])
    await eventually("spool emptied", () => heldIn(path.join(dir, "spool")).length === 0)
    second.process.kill("SIGTERM")
    expect(await second.exited).toBe(0)
    expect(upstream.deliveries).toHaveLength(1)
  })

  it("SIGKILL while 5 clients deliver: every message acknowledged is held after, none twice, and the restart takes mail", async () => {
    const dir = tempDir()
    const spool = path.join(dir, "spool")
    const upstream = await newUpstream()
    const args = [...baseArgs(dir, upstream), "--wait-period=10m", "--max-wait=1h"]
    const first = launch(args, dir)
    await ready(first)
    const port = smtpPortOf(first)
    const acknowledged: Array<string> = []
    let killed = false
    // Each client reuses one connection and sends its next message as soon as the last one is acknowledged.
    const client = async (id: number) => {
      const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1 })
      try {
        for (let n = 0; n < 400 && !killed; n++) {
          const subject = `client ${id} message ${n}`
          await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject, text: "body" })
          acknowledged.push(subject)
        }
      } catch {
        // the crash
      } finally {
        transport.close()
      }
    }
    const clients = Promise.all([0, 1, 2, 3, 4].map(client))
    await eventually("100 messages acknowledged", () => acknowledged.length >= 100, 30_000)
    first.process.kill("SIGKILL")
    killed = true
    await first.exited
    await clients

    const held = heldIn(spool).map((record) => record.subject)
    expect(new Set(held).size).toBe(held.length)
    expect(acknowledged.filter((subject) => !held.includes(subject))).toEqual([])
    // A message stored whose 250 the crash cut off may be held too (its client retries it): at most one per client.
    expect(held.length - acknowledged.length).toBeLessThanOrEqual(5)

    const second = launch(args, dir)
    await ready(second)
    expect(second.output()).toContain(`recovered ${held.length} messages from the spool`)
    await send(smtpPortOf(second), "after the crash")
    expect(heldIn(spool)).toHaveLength(held.length + 1)
    second.process.kill("SIGTERM")
    expect(await second.exited).toBe(0)
  })
})

describe("signals", () => {
  it("SIGTERM summarizes and relays every pending batch, then exits 0", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const child = launch([...baseArgs(dir, upstream), "--wait-period=10m", "--max-wait=1h"], dir)
    await ready(child)
    await send(smtpPortOf(child), "pending alert")
    child.process.kill("SIGTERM")
    expect(await child.exited).toBe(0)
    expect(subjects(upstream)).toEqual(["[failmail] 1 instance: pending alert"])
    expect(heldIn(path.join(dir, "spool"))).toHaveLength(0)
    expect(child.output()).toContain("summarizing 1 pending batches before stopping")
  })

  it("SIGTERM with the relay down files the summary in the fail-dir and exits 0", async () => {
    const dir = tempDir()
    const child = launch(
      ["--bind-addr=127.0.0.1:0", "--bind-http=", `--relay-addr=${await deadUpstream()}`, "--wait-period=10m", "--max-wait=1h"],
      dir
    )
    await ready(child)
    await send(smtpPortOf(child), "nowhere to go")
    child.process.kill("SIGTERM")
    expect(await child.exited).toBe(0)
    expect(fs.readdirSync(path.join(dir, "failed", "new"))).toHaveLength(1)
    expect(heldIn(path.join(dir, "incoming"))).toHaveLength(0)
  })

  it("SIGTERM closes idle sessions at once and lets a session with a message under way finish it", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    // An hour-long shutdown timeout: the stop must not wait on the idle session at all.
    const child = launch([...baseArgs(dir, upstream), "--wait-period=10m", "--max-wait=1h", "--shutdown-timeout=1h"], dir)
    await ready(child)
    const port = smtpPortOf(child)
    const idle = await greeted(port, "pool.example")
    const busy = await greeted(port, "client.example")
    expect((await busy.command("MAIL FROM:<app@example.org>")).code).toBe(250)

    child.process.kill("SIGTERM")
    const closing = await idle.read()
    expect(closing.code).toBe(421)
    expect(closing.text).toMatch(/shutting down/)
    await idle.closedByPeer()
    expect((await busy.command("RCPT TO:<ops@example.com>")).code).toBe(250)
    expect((await busy.command("DATA")).code).toBe(354)
    expect((await busy.command("Subject: in flight at stop\r\n\r\nbody\r\n.")).code).toBe(250)
    await busy.quit()

    expect(await child.exited).toBe(0)
    expect(subjects(upstream)).toEqual(["[failmail] 1 instance: in flight at stop"])
    expect(child.output()).toContain("waiting up to 1h0m0s for 1 sessions to finish their message")
  })

  it("SIGTERM right after a SIGHUP still summarizes and relays every pending batch", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const child = launch([...baseArgs(dir, upstream), "--wait-period=10m", "--max-wait=1h"], dir)
    await ready(child)
    await send(smtpPortOf(child), "pending across a reload")
    child.process.kill("SIGHUP")
    await eventually("reload under way", () => child.output().includes("reloading the configuration on SIGHUP"))
    child.process.kill("SIGTERM")
    expect(await child.exited).toBe(0)
    expect(subjects(upstream)).toEqual(["[failmail] 1 instance: pending across a reload"])
    expect(heldIn(path.join(dir, "spool"))).toHaveLength(0)
  })

  it("a second SIGTERM exits at once and leaves the spool intact", async () => {
    const dir = tempDir()
    const silent = net.createServer(() => undefined)
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    const silentPort = (silent.address() as net.AddressInfo).port
    const child = launch(
      ["--bind-addr=127.0.0.1:0", "--bind-http=", `--relay-addr=127.0.0.1:${silentPort}`, "--relay-timeout=1m", "--wait-period=10m", "--max-wait=1h"],
      dir
    )
    await ready(child)
    await send(smtpPortOf(child), "stuck relay")
    child.process.kill("SIGTERM")
    await eventually("final flush under way", () => child.output().includes("summarizing 1 pending batches before stopping"))
    child.process.kill("SIGTERM")
    await child.exited
    // At once: before the flush's relay attempt could end (it waits up to a minute for an answer).
    expect(child.output()).not.toContain("no answer within")
    expect(child.output()).not.toContain("filed as")
    expect(heldIn(path.join(dir, "incoming"))).toHaveLength(1)
    silent.close()
  })

  it("SIGHUP applies a changed config file to new messages and keeps pending ones", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const configFile = path.join(dir, "failmail.conf")
    const write = (waitPeriod: string, groupExpr: string) =>
      fs.writeFileSync(
        configFile,
        [
          "bind_addr = 127.0.0.1:0",
          'bind_http = ""',
          `relay_addr = ${upstream.address}`,
          `wait_period = ${waitPeriod}`,
          "max_wait = 1h",
          `group_expr = ${groupExpr}`,
          ""
        ].join("\n")
      )
    write("10m", `{{.Header.Get "Subject"}}`)
    const child = launch([`--config=${configFile}`], dir)
    await ready(child)
    await send(smtpPortOf(child), "timeout after 1523ms")
    // The new quiet period must outlast the reload itself on a loaded machine: the pending message's batch is due
    // 3 s after it arrived under the new rules, and the second message joins it before then.
    write("3s", "{{normalize subject}}")
    child.process.kill("SIGHUP")
    await eventually("reloaded", () => (child.output().match(/failmail ready/g) ?? []).length === 2, 10_000)
    await send(smtpPortOf(child), "timeout after 87ms")
    await eventually("summary under the new rules", () => upstream.deliveries.length === 1, 10_000)
    // Both messages, one group: the new group expression normalizes the numbers away.
    expect(subjects(upstream)).toEqual(["[failmail] 2 instances: timeout after 87ms"])
  })

  it("SIGHUP keeps the listening socket and lets an open session finish its message", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const configFile = path.join(dir, "failmail.conf")
    fs.writeFileSync(configFile, `bind_addr = 127.0.0.1:0\nbind_http = ""\nrelay_addr = ${upstream.address}\nwait_period = 10m\nmax_wait = 1h\n`)
    const child = launch([`--config=${configFile}`, "--shutdown-timeout=5s"], dir)
    await ready(child)
    const port = smtpPortOf(child)
    const session = await greeted(port, "client.example")
    expect((await session.command("MAIL FROM:<app@example.org>")).code).toBe(250)

    child.process.kill("SIGHUP")
    await eventually("reload started", () => child.output().includes("handing the listener to the new configuration"))
    // A new client during the reload waits on the same port for the new configuration...
    const duringReload = send(port, "during reload")
    // ...while the open session finishes its message on the old one.
    expect((await session.command("RCPT TO:<ops@example.com>")).code).toBe(250)
    expect((await session.command("DATA")).code).toBe(354)
    const stored = await session.command("Subject: in flight\r\n\r\nbody\r\n.")
    expect(stored.code).toBe(250)
    await session.quit()
    await duringReload
    await eventually("reloaded", () => (child.output().match(/failmail ready/g) ?? []).length === 2, 10_000)
    expect(smtpPortOf(child)).toBe(port)

    // Both wait in the new configuration's one batch: stopping summarizes them together.
    child.process.kill("SIGTERM")
    expect(await child.exited).toBe(0)
    expect(upstream.deliveries).toHaveLength(1)
    expect(subjects(upstream).join("|")).toContain("2 instances")
  })

  it("SIGHUP closes idle sessions at once, so new connections are not held back by them", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const configFile = path.join(dir, "failmail.conf")
    fs.writeFileSync(configFile, `bind_addr = 127.0.0.1:0\nbind_http = ""\nrelay_addr = ${upstream.address}\nwait_period = 300ms\n`)
    const child = launch([`--config=${configFile}`, "--shutdown-timeout=1h"], dir)
    await ready(child)
    const port = smtpPortOf(child)
    const idle = await greeted(port, "pool.example")

    child.process.kill("SIGHUP")
    // The client is told why: failmail reloads (and is back at once), it does not shut down.
    const closing = await idle.read()
    expect(closing.code).toBe(421)
    expect(closing.text).toMatch(/failmail is reloading its configuration, try again/)
    expect(closing.text).not.toMatch(/shutting down/i)
    await send(port, "right after reload")
    await eventually("summary after reload", () => subjects(upstream).includes("[failmail] 1 instance: right after reload"), 10_000)
    expect(child.output()).not.toContain("waiting up to")
  })

  it("SIGHUP keeps the HTTP socket: a request made during the reload is answered by the new configuration", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const configFile = path.join(dir, "failmail.conf")
    const config = `bind_addr = 127.0.0.1:0\nbind_http = 127.0.0.1:0\nrelay_addr = ${upstream.address}\nwait_period = 10m\nmax_wait = 1h\n`
    fs.writeFileSync(configFile, config)
    const child = launch([`--config=${configFile}`, "--shutdown-timeout=1h"], dir)
    await ready(child)
    const httpPorts = () => listeningPortsOf(child, "http")
    const [httpPort] = httpPorts()
    // A session with a message under way holds the old configuration open while the reload waits for it.
    const busy = await greeted(smtpPortOf(child), "client.example")
    expect((await busy.command("MAIL FROM:<app@example.org>")).code).toBe(250)

    child.process.kill("SIGHUP")
    await eventually("reload waiting for the session", () => child.output().includes("for 1 sessions to finish their message"))
    expect(child.output()).toMatch(/message="handing the listener to the new configuration".* component=http/)
    const duringReload = new Promise<number>((resolve, reject) =>
      http.get({ host: "127.0.0.1", port: httpPort, path: "/healthz" }, (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      }).once("error", reject)
    )
    expect((await busy.command("RCPT TO:<ops@example.com>")).code).toBe(250)
    expect((await busy.command("DATA")).code).toBe(354)
    expect((await busy.command("Subject: during reload\r\n\r\nbody\r\n.")).code).toBe(250)
    await busy.quit()

    expect(await duringReload).toBe(200)
    await eventually("new configuration listening", () => httpPorts().length === 2)
    expect(httpPorts()).toEqual([httpPort, httpPort])
  })

  it("SIGHUP with an invalid config file keeps the running configuration", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const configFile = path.join(dir, "failmail.conf")
    fs.writeFileSync(configFile, `bind_addr = 127.0.0.1:0\nbind_http = ""\nrelay_addr = ${upstream.address}\nwait_period = 300ms\n`)
    const child = launch([`--config=${configFile}`], dir)
    await ready(child)
    fs.appendFileSync(configFile, "wait_period = soon\n")
    child.process.kill("SIGHUP")
    await eventually("refusal logged", () => child.output().includes("reload refused"))
    expect(child.output()).toContain("failmail.conf:5: wait_period")
    await send(smtpPortOf(child), "still served")
    await eventually("summary", () => upstream.deliveries.length === 1)
  })
})

describe("signals while a summary is being relayed", () => {
  /** An upstream that answers DATA after 1.5 s, so a signal can arrive while a summary is under way. */
  const slowUpstream = () => newUpstream({ replyDelayMs: 1_500 })
  const spooled = (dir: string) => heldIn(path.join(dir, "spool"))

  it("SIGTERM lets the summary finish: the upstream gets it once, the spool ends empty", async () => {
    const dir = tempDir()
    const upstream = await slowUpstream()
    const child = launch([...baseArgs(dir, upstream), "--wait-period=200ms", "--max-wait=1m"], dir)
    await ready(child)
    await send(smtpPortOf(child), "slow upstream at stop")
    await eventually("the summary's DATA upstream", () => upstream.attempts() === 1, 10_000)
    expect(upstream.deliveries).toHaveLength(0)

    child.process.kill("SIGTERM")
    expect(await child.exited).toBe(0)
    expect(subjects(upstream)).toEqual(["[failmail] 1 instance: slow upstream at stop"])
    expect(upstream.attempts()).toBe(1)
    expect(spooled(dir)).toEqual([])
    expect(fs.existsSync(path.join(dir, "failed", "new"))).toBe(false)
  })

  it("SIGHUP lets the summary finish beside the new configuration, which does not send it again", async () => {
    const dir = tempDir()
    const upstream = await slowUpstream()
    const configFile = path.join(dir, "failmail.conf")
    fs.writeFileSync(configFile, `bind_addr = 127.0.0.1:0\nbind_http = ""\nrelay_addr = ${upstream.address}\nmessage_store = spool\nwait_period = 200ms\n`)
    const child = launch([`--config=${configFile}`], dir)
    await ready(child)
    await send(smtpPortOf(child), "slow upstream at reload")
    await eventually("the summary's DATA upstream", () => upstream.attempts() === 1, 10_000)
    expect(upstream.deliveries).toHaveLength(0)

    child.process.kill("SIGHUP")
    await eventually("reloaded", () => (child.output().match(/failmail ready/g) ?? []).length === 2, 10_000)
    // The new configuration runs while the old one's summary is still under way, and leaves its message to it.
    expect(upstream.deliveries).toHaveLength(0)
    expect(child.output()).toContain("1 messages are still being delivered by the previous configuration")
    await eventually("the old configuration's summary", () => upstream.deliveries.length === 1, 10_000)
    expect(subjects(upstream)).toEqual(["[failmail] 1 instance: slow upstream at reload"])
    await eventually("an empty spool", () => spooled(dir).length === 0)

    await send(smtpPortOf(child), "after reload")
    await eventually("the next summary", () => upstream.deliveries.length === 2, 10_000)
    expect(subjects(upstream)).toEqual(["[failmail] 1 instance: slow upstream at reload", "[failmail] 1 instance: after reload"])
    expect(upstream.attempts()).toBe(2)
    await eventually("an empty spool", () => spooled(dir).length === 0)
  })
})

describe("what outlives a reload", () => {
  /** GET `path` on 127.0.0.1:`port`: the body as text. */
  const fetchText = (port: number, path: string) =>
    new Promise<string>((resolve, reject) =>
      http
        .get({ host: "127.0.0.1", port, path }, (response) => {
          let body = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => (body += chunk))
          response.on("end", () => resolve(body))
        })
        .once("error", reject)
    )
  /** The value of an unlabelled Prometheus sample. */
  const sample = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1])

  it("SIGHUP keeps counters and the summary history: after it, they are the ones before plus what came after", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const configFile = path.join(dir, "failmail.conf")
    // A quiet period long enough for two messages sent one after the other to share a summary.
    fs.writeFileSync(configFile, `bind_addr = 127.0.0.1:0\nbind_http = 127.0.0.1:0\nrelay_addr = ${upstream.address}\nwait_period = 1s\n`)
    const child = launch([`--config=${configFile}`], dir)
    await ready(child)
    const httpPort = httpPortOf(child)
    const stats = async () => JSON.parse(await fetchText(httpPort, "/api/stats"))
    const history = async (): Promise<Array<{ subject: string; status: string }>> =>
      JSON.parse(await fetchText(httpPort, "/api/summaries"))

    await send(smtpPortOf(child), "before reload")
    await send(smtpPortOf(child), "before reload")
    await eventually("the first summary delivered", async () => (await stats()).SummariesDelivered === 1, 10_000)
    const before = await stats()
    expect(before).toMatchObject({ Received: 2, Rejected: 0, SummariesDelivered: 1 })

    child.process.kill("SIGHUP")
    await eventually("reloaded", () => (child.output().match(/failmail ready/g) ?? []).length === 2, 10_000)
    await send(smtpPortOf(child), "after reload")
    await eventually("the second summary delivered", async () => (await stats()).SummariesDelivered === 2, 10_000)

    expect(await stats()).toMatchObject({ Received: 3, Rejected: 0, SummariesDelivered: 2, StartedAt: before.StartedAt })
    const metrics = await fetchText(httpPort, "/metrics")
    expect(sample(metrics, "failmail_messages_received_total")).toBe(3)
    expect(sample(metrics, "failmail_summaries_sent_total")).toBe(2)
    expect((await history()).map((summary) => [summary.subject, summary.status])).toEqual([
      ["[failmail] 1 instance: after reload", "delivered"],
      ["[failmail] 2 instances: before reload", "delivered"]
    ])
    expect(subjects(upstream)).toEqual(["[failmail] 2 instances: before reload", "[failmail] 1 instance: after reload"])
  })
})

describe("pidfile", () => {
  it("blocks a second start while the first runs, and is removed on exit", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const pidfile = path.join(dir, "failmail.pid")
    const first = launch([...baseArgs(dir, upstream), `--pidfile=${pidfile}`], dir)
    await ready(first)
    expect(fs.readFileSync(pidfile, "utf8").trim()).toBe(String(first.process.pid))
    const second = launch([...baseArgs(dir, upstream), `--pidfile=${pidfile}`], dir)
    expect(await second.exited).toBe(1)
    expect(second.output()).toContain(`already running as process ${first.process.pid}`)
    first.process.kill("SIGTERM")
    expect(await first.exited).toBe(0)
    expect(fs.existsSync(pidfile)).toBe(false)
  })

  it("replaces a stale pidfile, and removes it after a start-up error", async () => {
    const dir = tempDir()
    const upstream = await newUpstream()
    const pidfile = path.join(dir, "failmail.pid")
    fs.writeFileSync(pidfile, "999999\n")
    const holder = await new Promise<net.Server>((resolve) => {
      const server = net.createServer()
      server.listen(0, "127.0.0.1", () => resolve(server))
    })
    const busyPort = (holder.address() as net.AddressInfo).port
    const child = launch(
      [...baseArgs(dir, upstream), `--pidfile=${pidfile}`, `--bind-addr=127.0.0.1:${busyPort}`],
      dir
    )
    expect(await child.exited).toBe(1)
    expect(child.output()).toContain(`bind-addr 127.0.0.1:${busyPort}: address already in use`)
    expect(child.output()).toMatch(/replacing stale pidfile .* component=lifecycle( |$)/m)
    expect(fs.existsSync(pidfile)).toBe(false)
    holder.close()
  })
})

describe("inherited sockets", () => {
  const python = "/usr/bin/python3"
  // Binds a listening socket as fd 3, then execs failmail on it (same pid, so LISTEN_PID matches too).
  const withSocket = (systemd: boolean) => `
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
sys.stderr.write("inherited port %d\\n" % s.getsockname()[1]); sys.stderr.flush()
if ${systemd ? "True" : "False"}:
    os.environ["LISTEN_PID"] = str(os.getpid()); os.environ["LISTEN_FDS"] = "1"
os.execvp("node", ["node"] + sys.argv[1:])
`

  for (const systemd of [false, true]) {
    it(systemd ? "serves on systemd's LISTEN_FDS socket" : "serves on --socket-fd", async () => {
      const dir = tempDir()
      const upstream = await newUpstream()
      const args = [
        main,
        "--bind-http=",
        `--relay-addr=${upstream.address}`,
        "--wait-period=200ms",
        ...(systemd ? [] : ["--socket-fd=3"])
      ]
      const child = launch(args, dir, process.env, python, ["-c", withSocket(systemd)])
      await ready(child)
      const port = Number(/inherited port (\d+)/.exec(child.output())?.[1])
      await send(port, "via inherited socket")
      await eventually("summary", () => upstream.deliveries.length === 1)
      expect(subjects(upstream)).toEqual(["[failmail] 1 instance: via inherited socket"])
    })
  }
})
