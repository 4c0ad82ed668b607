/**
 * `failmail sendmail` and `failmail preview` as operators and cron run them:
 * the built program (`node dist/main.js`, or a link named `sendmail`) as a
 * child process, against a real failmail daemon (also a child process) that
 * relays to a recording upstream, and against peers that refuse, fail or
 * stay silent.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildDaemon, environment, main, type Result, runToEnd, smtpPortOf, type Child } from "./support/daemon.ts"
import { deadUpstream, eventually, pythonMaildirCount } from "./support/failmail.ts"
import { tempDir } from "./support/tempdir.ts"
import { startUpstream, type Upstream } from "./support/upstream.ts"
import { heldMessagesIn } from "./support/spool.ts"

/**
 * A port nothing listens on, so connecting is refused at once: tcpmux (1),
 * privileged and unused on any machine that runs these tests.
 */
const REFUSING = "127.0.0.1:1"
const hostname = os.hostname()
const user = os.userInfo().username

/** Runs a program to its end in the test's folder (or `cwd`). */
const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly input?: string | Buffer; readonly env?: Record<string, string>; readonly cwd?: string } = {}
): Promise<Result> => runToEnd(command, args, { ...options, cwd: options.cwd ?? dir })

const failmail = (args: ReadonlyArray<string>, options: Parameters<typeof run>[2] = {}) => run(process.execPath, [main, ...args], options)

/** One line on stderr and nothing on stdout: what a failed command must print. */
const oneLineError = (result: Result): string => {
  expect(result.stdout).toBe("")
  const lines = result.stderr.trimEnd().split("\n")
  expect(lines, result.stderr).toHaveLength(1)
  return lines[0] ?? ""
}

/** failmail `args` exits 2 with one line on stderr: exactly `expected`, or matching it. */
const expectExit2With = async (args: ReadonlyArray<string>, expected: string | RegExp) => {
  const result = await failmail(args)
  expect(result.status).toBe(2)
  const line = oneLineError(result)
  if (typeof expected === "string") expect(line).toBe(expected)
  else expect(line).toMatch(expected)
}

let dir = ""
let sendmailLink = ""

beforeAll(() => {
  buildDaemon()
  dir = tempDir("failmail-commands-")
  fs.mkdirSync(path.join(dir, "bin"))
  sendmailLink = path.join(dir, "bin", "sendmail")
  fs.symlinkSync(main, sendmailLink)
}, 120_000)

afterAll(() => {
  if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
})

/**
 * A failmail daemon as a child process, relaying to `upstream`, holding
 * every batch for an hour; it lives across the tests of one describe (so not
 * support/daemon.ts's `launch`, which ends its child with the test).
 */
const startDaemon = async (name: string, upstream: Upstream) => {
  const home = path.join(dir, name)
  fs.mkdirSync(home)
  const process_ = spawn(
    process.execPath,
    [main, "--bind-addr", "127.0.0.1:0", "--bind-http", "", "--relay-addr", upstream.address, "--message-store", "spool", "--all-dir", "all", "--wait-period", "1h", "--max-wait", "2h"],
    { cwd: home, env: environment(), stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  process_.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
  process_.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const child: Child = { process: process_, output: () => output, exited: new Promise((resolve) => process_.on("exit", resolve)) }
  const port = await eventually("the daemon to listen", () => smtpPortOf(child), 10_000)
  return {
    home,
    smtp: `127.0.0.1:${port}`,
    stop: async () => {
      if (process_.exitCode === null) process_.kill("SIGTERM")
      return child.exited
    }
  }
}

/** The messages a daemon's spool holds: metadata and message. */
const spooled = (home: string) =>
  heldMessagesIn(path.join(home, "spool")).map(({ record, raw }) => ({ ...record, raw: raw.toString("utf8") }))

/** Every file under `top` with its size and modification time, to show nothing changed. */
const snapshot = (top: string): Array<string> =>
  fs
    .readdirSync(top, { recursive: true, withFileTypes: true })
    .map((entry) => {
      const file = path.join(entry.parentPath, entry.name)
      const info = fs.statSync(file)
      return `${path.relative(top, file)} ${info.isDirectory() ? "dir" : info.size} ${info.mtimeMs}`
    })
    .sort()

describe("failmail sendmail and preview with a running failmail", () => {
  let upstream: Upstream
  let daemon: Awaited<ReturnType<typeof startDaemon>>

  beforeAll(async () => {
    upstream = await startUpstream()
    daemon = await startDaemon("live", upstream)
  }, 20_000)

  afterAll(async () => {
    await daemon?.stop()
    await upstream?.close()
  })

  it("cron's pipeline through a link named sendmail: exit 0 once spooled, From added with -F", async () => {
    const cron = await run("bash", ["-c", `printf 'Subject: Cron <root@box> backup\\nTo: root\\nAuto-Submitted: auto-generated\\n\\nbackup OK\\n' | "$SENDMAIL" -FCronDaemon -i -B8BITMIME -oem ops@example.com`], {
      env: { SENDMAIL: sendmailLink, FAILMAIL_SMTP: daemon.smtp }
    })
    expect(cron, cron.stderr).toMatchObject({ status: 0, stdout: "", stderr: "" })
    const [message] = spooled(daemon.home)
    expect(message?.envelope).toEqual({ mailFrom: `${user}@${hostname}`, rcptTo: ["ops@example.com"] })
    expect(message?.subject).toBe("Cron <root@box> backup")
    expect(message?.raw).toContain(`From: CronDaemon <${user}@${hostname}>\r\n`)
    expect(message?.raw).toMatch(/\r\nDate: .+\r\nMessage-ID: <.+@.+>\r\n\r\nbackup OK\r\n$/)
  })

  it("a Python script piping to sendmail -t -oi: recipients from To/Cc/Bcc, Bcc removed, a lone dot kept", async () => {
    const script = [
      "import subprocess, sys",
      "msg = b'From: app@example.org\\nTo: Ops <ops@example.com>\\nCc: dev@example.com\\nBcc: audit@example.com\\nSubject: [bos] error in db\\nX-Failmail-Split: bos\\n\\nline one\\n.\\nline after the dot\\n'",
      "sys.exit(subprocess.run([sys.argv[1], '-t', '-oi', '-f', 'app@example.org'], input=msg).returncode)"
    ].join("\n")
    const result = await run("/usr/bin/python3", ["-c", script, sendmailLink], { env: { FAILMAIL_SMTP: daemon.smtp } })
    expect(result, result.stderr).toMatchObject({ status: 0, stderr: "" })
    const message = spooled(daemon.home).find((entry) => entry.subject === "[bos] error in db")
    expect(message?.envelope).toEqual({ mailFrom: "app@example.org", rcptTo: ["ops@example.com", "dev@example.com", "audit@example.com"] })
    expect(message?.raw).not.toMatch(/^Bcc:/im)
    expect(message?.raw).toContain("line one\r\n.\r\nline after the dot\r\n")
  })

  it("without -i a line holding a single dot ends the message; --smtp beats FAILMAIL_SMTP", async () => {
    const result = await failmail(["sendmail", "--smtp", daemon.smtp, "ops@example.com"], {
      input: "Subject: [nyc] error in db\nX-Failmail-Split: nyc\n\nkept\n.\nnot part of the message\n",
      env: { FAILMAIL_SMTP: REFUSING }
    })
    expect(result, result.stderr).toMatchObject({ status: 0, stderr: "" })
    const message = spooled(daemon.home).find((entry) => entry.subject === "[nyc] error in db")
    expect(message?.raw).toMatch(/\r\n\r\nkept\r\n$/)
  })

  it("spool lists what the running failmail holds, one line per message, oldest first, and changes nothing", async () => {
    const before = snapshot(path.join(daemon.home, "spool"))
    const result = await failmail(["spool", "--message-store", "spool"], { cwd: daemon.home })
    expect(result.status, result.stderr).toBe(0)
    expect(result.stderr).toBe("failmail: 3 messages held in spool\n")
    expect(snapshot(path.join(daemon.home, "spool"))).toEqual(before)
    const fields = result.stdout.trimEnd().split("\n").map((line) => line.split("\t"))
    expect(fields.map(([, key, subject, recipients]) => [key, subject, recipients])).toEqual([
      ['""', '"Cron <root@box> backup"', "ops@example.com"],
      ['"bos"', '"[bos] error in db"', "ops@example.com,dev@example.com,audit@example.com"],
      ['"nyc"', '"[nyc] error in db"', "ops@example.com"]
    ])
    for (const [at] of fields) expect(at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  })

  it("spool --export writes what the running failmail's log holds into a maildir, exactly as received", async () => {
    const before = snapshot(path.join(daemon.home, "spool"))
    const result = await failmail(["spool", "--message-store", "spool", "--export", "exported"], { cwd: daemon.home })
    expect(result.status, result.stderr).toBe(0)
    expect(result.stderr).toBe("failmail: 3 messages held in spool; 3 exported to exported\n")
    expect(snapshot(path.join(daemon.home, "spool"))).toEqual(before)
    const exported = path.join(daemon.home, "exported")
    expect(pythonMaildirCount(exported)).toBe(3)
    const contents = fs.readdirSync(path.join(exported, "new")).map((file) => fs.readFileSync(path.join(exported, "new", file), "utf8"))
    expect(contents.sort()).toEqual(spooled(daemon.home).map((message) => message.raw).sort())
  })

  it("preview over the running spool prints the summaries the daemon then sends, and changes nothing", async () => {
    const before = snapshot(path.join(daemon.home, "spool"))
    const result = await failmail(["preview", "spool"], { cwd: daemon.home })
    expect(result.status, result.stderr).toBe(0)
    expect(snapshot(path.join(daemon.home, "spool"))).toEqual(before)
    const previewed = result.stdout.split("\n").filter((line) => line.startsWith("[failmail] "))
    expect(result.stdout).toMatch(/^3 summaries from 3 messages in spool \(failmail spool\)\n/)
    expect(result.stdout).toContain('       1 × "Cron <root@box> backup"')
    expect(await daemon.stop()).toBe(0)
    const sent = await relayedSummaries(upstream, previewed.length)
    expect(sent).toHaveLength(3)
    expect(new Set(sent.map((summary) => summary.subject))).toEqual(new Set(previewed))
    for (const summary of sent) {
      const block = result.stdout.split("\n\n").find((text) => text.startsWith(`${summary.subject}\n`))
      expect(block, summary.subject).toContain(`  to: ${[...summary.to].sort().join(", ")}\n`)
    }
  })

  it("preview of the --all-dir archive with other expressions groups as asked and lists failed expressions", async () => {
    const before = snapshot(path.join(daemon.home, "all"))
    const result = await failmail(
      ["preview", "--batch-expr", String.raw`{{match "\[\w+\]" (.Header.Get "Subject")}}`, "--group-expr", '{{match "(" subject}}', "all"],
      { cwd: daemon.home }
    )
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^3 summaries from 3 messages in all \(maildir\)\n/)
    expect(result.stdout).toContain('\n  batch "[bos]", 1 message from ')
    expect(result.stdout).toContain('\n  batch "[nyc]", 1 message from ')
    expect(result.stdout).toContain('3 messages on which an expression failed (key ""):\n')
    expect(result.stdout).toMatch(/\n {2}new\/\S+ "\[bos\] error in db": group-expr: invalid regular expression "\(": .+\n/)
    expect(snapshot(path.join(daemon.home, "all"))).toEqual(before)
  })
})

/** Summaries (mail from failmail@host) the upstream holds, once `count` arrived. */
const relayedSummaries = async (upstream: Upstream, count: number) => {
  await eventually(`${count} summaries upstream`, () => upstream.deliveries.length >= count, 10_000)
  return upstream.deliveries.map((delivery) => ({
    subject: /^Subject: (.*)$/m.exec(delivery.raw.toString("utf8"))?.[1]?.trim() ?? "",
    to: delivery.to
  }))
}

describe("failmail sendmail when it cannot submit", () => {
  const message = "Subject: s\n\nbody\n"

  it("a refused connection, or one dropped at once: one line naming the address, exit 75 (EX_TEMPFAIL)", async () => {
    const refused = await failmail(["sendmail", "--smtp", REFUSING, "ops@example.com"], { input: message })
    expect(refused.status).toBe(75)
    expect(oneLineError(refused)).toBe(`failmail sendmail: cannot connect to ${REFUSING}: connect ECONNREFUSED ${REFUSING}`)
    const down = await deadUpstream()
    const dropped = await failmail(["sendmail", "--smtp", down, "ops@example.com"], { input: message })
    expect(dropped.status).toBe(75)
    expect(oneLineError(dropped)).toMatch(new RegExp(`^failmail sendmail: cannot connect to ${down.replace(/\./g, "\\.")}: `))
  })

  it("a 4xx answer is exit 75, a 5xx answer exit 69, each with the server's reply", async () => {
    const upstream = await startUpstream()
    try {
      upstream.failNext(451, 1, "Spool unavailable, try later")
      const deferred = await failmail(["sendmail", "--smtp", upstream.address, "ops@example.com"], { input: message })
      expect(deferred.status).toBe(75)
      expect(oneLineError(deferred)).toMatch(/^failmail sendmail: 127\.0\.0\.1:\d+ did not take the message: .*451 Spool unavailable, try later/)
      upstream.failNext(554, 1, "Rejected for good")
      const refused = await failmail(["sendmail", "--smtp", upstream.address, "ops@example.com"], { input: message })
      expect(refused.status).toBe(69)
      expect(oneLineError(refused)).toMatch(/554 Rejected for good/)
      expect(upstream.deliveries).toHaveLength(0)
    } finally {
      await upstream.close()
    }
  })

  it("a peer that never answers: exit 75 after --timeout", async () => {
    const sockets: Array<net.Socket> = []
    const silent = net.createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    const port = (silent.address() as net.AddressInfo).port
    try {
      const result = await failmail(["sendmail", "--smtp", `127.0.0.1:${port}`, "--timeout", "300ms", "ops@example.com"], { input: message })
      expect(result.status).toBe(75)
      expect(oneLineError(result)).toMatch(new RegExp(`^failmail sendmail: .*127\\.0\\.0\\.1:${port}.*(timeout|within|Greeting never received)`, "i"))
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => silent.close(() => resolve()))
    }
  })

  it("bad usage is exit 64 and no recipient in the headers with -t exit 65, before any connection", async () => {
    const smtp = ["--smtp", REFUSING]
    const none = await failmail(["sendmail", ...smtp], { input: message })
    expect(none.status).toBe(64)
    expect(oneLineError(none)).toMatch(/no recipients given/)
    const unknown = await failmail(["sendmail", ...smtp, "-Q", "ops@example.com"], { input: message })
    expect(unknown.status).toBe(64)
    expect(oneLineError(unknown)).toBe("failmail sendmail: unknown option -Q (see failmail sendmail --help)")
    const noHeaders = await failmail(["sendmail", ...smtp, "-t"], { input: message })
    expect(noHeaders.status).toBe(65)
    expect(oneLineError(noHeaders)).toMatch(/no recipients: the message has no address in To, Cc or Bcc/)
  })
})

describe("failmail preview: sources and errors", () => {
  it("reads the Go failmail's store (cur/ and .meta/ envelopes, kept as the Go failmail stored them: after its own rewriting)", async () => {
    const store = path.join(dir, "go-store")
    for (const sub of ["cur", "new", "tmp", ".meta"]) fs.mkdirSync(path.join(store, sub), { recursive: true })
    const put = (name: string, to: Array<string>, subject: string, at: number) => {
      fs.writeFileSync(path.join(store, "cur", name), `Subject: ${subject}\r\nFrom: app@example.org\r\n\r\nbody\r\n`)
      fs.writeFileSync(path.join(store, ".meta", name), JSON.stringify({ EnvelopeFrom: "app@example.org", EnvelopeTo: to }))
      fs.utimesSync(path.join(store, ".meta", name), at, at)
    }
    put("1700000000.1_1.old:2,S", ["ops@old.example"], "disk full", 1_700_000_000)
    put("1700000001.1_2.old:2,S", ["ops@old.example"], "disk full", 1_700_000_001)
    const result = await failmail(["preview", "--rewrite-src", "^(.*)@old\\.example$", "--rewrite-dest", "$1@new.example", store])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toBe(
      [
        `1 summary from 2 messages in ${store} (Go failmail store)`,
        "",
        "[failmail] 2 instances: disk full",
        "  to: ops@old.example",
        '  batch "", 2 messages from 2023-11-14T22:13:20.000Z to 2023-11-14T22:13:21.000Z',
        '       2 × "disk full"',
        ""
      ].join("\n")
    )
  })

  it("reads --subject-prefix and expressions from FAILMAIL_* and --config as the daemon does", async () => {
    const maildir = path.join(dir, "plain")
    fs.mkdirSync(path.join(maildir, "new"), { recursive: true })
    fs.writeFileSync(path.join(maildir, "new", "1700000000.M5P1Q1.host"), "Subject: Timeout after 1523ms\nTo: ops@example.com\n\nx\n")
    fs.writeFileSync(path.join(maildir, "new", "1700000001.M5P1Q2.host"), "Subject: Timeout after 87ms\nTo: ops@example.com\n\nx\n")
    fs.writeFileSync(path.join(dir, "preview.conf"), 'group_expr = {{normalize subject}}\nsubject_prefix = "[cfg]"\n')
    const result = await failmail(["preview", "--config", "preview.conf", maildir], { env: { FAILMAIL_SUBJECT_PREFIX: "[env]" } })
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toContain("\n[env] 2 instances: Timeout after 87ms\n")
    expect(result.stdout).toContain('\n       2 × "Timeout after <duration>"  (latest subject: "Timeout after 87ms")\n')
  })

  it.each([
    [["preview", "--bogus", "x"], "failmail: unknown flag -bogus (see failmail --help)"],
    [["preview", "--batch-expr", "{{#if", "x"], /^failmail: batch-expr: invalid expression "\{\{#if": /],
    [["preview", "--wait-period", "soon", "x"], /^failmail: -wait-period: invalid duration "soon"/],
    [["preview"], "failmail: preview: give one SOURCE (a maildir or a failmail spool directory), got 0"],
    [["preview", "a", "b"], "failmail: preview: give one SOURCE (a maildir or a failmail spool directory), got 2"],
    [["preview", "no-such-dir"], "failmail: preview: no-such-dir: no such directory"],
    [["preview", "bin"], "failmail: preview: bin is neither a maildir (cur/, new/) nor a failmail spool (log/ or msg/)"]
  ])("%j exits 2 with one line naming the problem", (args, expected) => expectExit2With(args, expected))
})

describe("failmail spool: a stopped failmail's store, exported", () => {
  const fixture = path.join(import.meta.dirname, "fixtures", "spool-previous-release")

  it("lists the spool and the Go failmail's store not yet taken in, and exports every message as received into a maildir", async () => {
    const store = path.join(dir, "stopped", "incoming")
    fs.cpSync(fixture, store, { recursive: true })
    for (const sub of ["cur", "new", "tmp", ".meta"]) fs.mkdirSync(path.join(store, sub), { recursive: true })
    const name = "1700000000.42_1.gohost:2,S"
    const goRaw = "From: app@example.org\r\nSubject: tab\there\r\n\r\nbody\r\n"
    fs.writeFileSync(path.join(store, "cur", name), goRaw)
    fs.writeFileSync(path.join(store, ".meta", name), JSON.stringify({ EnvelopeFrom: "app@example.org", EnvelopeTo: ["ops@example.com"] }))
    fs.utimesSync(path.join(store, ".meta", name), 1_700_000_000, 1_700_000_000)
    const before = snapshot(store)

    const result = await failmail(["spool", "--export", "exported"], { cwd: path.join(dir, "stopped") })
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toBe(
      [
        '2023-11-14T22:13:20.000Z\t""\t"tab\\there"\tops@example.com',
        '2026-11-20T08:00:01.000Z\t"db"\t"disk full on db1"\tops@example.com',
        '2026-11-20T08:00:02.000Z\t"db"\t"disk full on db1"\tops@example.com,Dev@Example.com',
        '2026-11-20T08:00:03.000Z\t""\t"cron failed"\tops@example.com',
        ""
      ].join("\n")
    )
    expect(result.stderr).toBe(
      "failmail: 4 messages held in incoming (1 in the Go failmail's store, taken in at the next start); 4 exported to exported\n"
    )
    expect(snapshot(store)).toEqual(before)
    const exported = path.join(dir, "stopped", "exported")
    expect(pythonMaildirCount(exported)).toBe(4)
    const contents = fs.readdirSync(path.join(exported, "new")).map((file) => fs.readFileSync(path.join(exported, "new", file), "utf8"))
    const spooledRaw = fs.readdirSync(path.join(fixture, "msg")).map((file) => {
      const text = fs.readFileSync(path.join(fixture, "msg", file), "utf8")
      return text.slice(text.indexOf("\n") + 1)
    })
    expect(contents.sort()).toEqual([...spooledRaw, goRaw].sort())
    // Each file is dated at its arrival, as maildir readers take it.
    const dates = fs.readdirSync(path.join(exported, "new")).map((file) => fs.statSync(path.join(exported, "new", file)).mtimeMs)
    expect(dates.sort()).toEqual([Date.UTC(2023, 10, 14, 22, 13, 20), ...[1, 2, 3].map((s) => Date.UTC(2026, 10, 20, 8, 0, s))])
  })

  it("names a message it cannot read and exits 1, after listing the rest", async () => {
    const store = path.join(dir, "damaged", "incoming")
    fs.cpSync(fixture, store, { recursive: true })
    fs.writeFileSync(path.join(store, "msg", "00000000000001-1-00000001.eml"), "no metadata line")
    const result = await failmail(["spool"], { cwd: path.join(dir, "damaged") })
    expect(result.status).toBe(1)
    expect(result.stdout.trimEnd().split("\n")).toHaveLength(3)
    expect(result.stderr.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^failmail: spool: 00000000000001-1-00000001: .*no metadata line$/),
      "failmail: 3 messages held in incoming",
      "failmail: spool: 1 message could not be read"
    ])
  })

  it.each([
    [["spool", "--export"], "failmail: flag -export needs a maildir directory"],
    [["spool", "--export=a", "--export=b"], "failmail: flag -export given twice"],
    [["spool", "--bogus"], "failmail: unknown flag -bogus (see failmail --help)"],
    [["spool", "bin"], 'failmail: spool: unexpected argument "bin" (name the directory with --message-store)'],
    [["spool", "--message-store", "no-such-dir"], "failmail: message-store no-such-dir: no such directory"],
    [["spool", "--message-store", "bin"], "failmail: message-store bin: neither a failmail spool (log/ or msg/) nor the Go failmail's store (cur/ and .meta/)"],
    [["spool", "--message-store", "bin", "--export", "bin"], "failmail: export bin: that is the message store; give another directory"],
    [["spool", "--max-wait", "soon"], /^failmail: -max-wait: invalid duration "soon"/]
  ])("%j exits 2 with one line naming the problem", (args, expected) => expectExit2With(args, expected))
})

describe("subcommands beside the daemon's flags", () => {
  it("--help lists the subcommands; each has its own --help", async () => {
    const help = await failmail(["--help"])
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/\n {2}preview +print the summaries/)
    expect(help.stdout).toMatch(/\n {2}sendmail +submit a message/)
    expect(help.stdout).toMatch(/\n {2}spool +list \(and --export as a maildir\)/)
    const spool = await failmail(["spool", "--help"])
    expect(spool).toMatchObject({ status: 0, stderr: "" })
    expect(spool.stdout).toMatch(/^Usage: failmail spool \[--message-store DIR\] \[--export MAILDIR\]/)
    const preview = await failmail(["preview", "--help"])
    expect(preview).toMatchObject({ status: 0, stderr: "" })
    expect(preview.stdout).toMatch(/^Usage: failmail preview \[flags\] SOURCE\n/)
    const sendmail = await failmail(["sendmail", "--help"])
    expect(sendmail).toMatchObject({ status: 0, stderr: "" })
    expect(sendmail.stdout).toMatch(/^Usage: failmail sendmail /)
  })

  it("a first word that is no subcommand keeps the daemon's error", async () => {
    const result = await failmail(["send", "--bind-addr", "127.0.0.1:0"])
    expect(result.status).toBe(2)
    expect(oneLineError(result)).toBe('failmail: unexpected argument "send" (failmail takes no arguments; flags start with -)')
  })
})
