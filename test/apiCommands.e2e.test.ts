/**
 * `failmail silence` and `failmail expect` as an operator runs them: the
 * built program (`node dist/main.js`) against a real failmail daemon (a
 * child process, with `--credentials`), judged by exit status, stdout and
 * stderr; and against a failmail that refuses and one that is not there.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildDaemon, environment, httpPortOf, main, type Result, runToEnd, type Child } from "./support/daemon.ts"
import { eventually } from "./support/failmail.ts"
import { tempDir } from "./support/tempdir.ts"
import { startUpstream, type Upstream } from "./support/upstream.ts"

const CREDENTIALS = "ops:s3cret pass"

let dir = ""
let url = ""
let daemon: ChildProcess | undefined
let upstream: Upstream | undefined

/** Runs `failmail args…` to its end (asynchronously, so the in-process upstream keeps answering). */
const failmail = (args: ReadonlyArray<string>, env: Record<string, string> = { FAILMAIL_CREDENTIALS: CREDENTIALS }): Promise<Result> =>
  runToEnd(process.execPath, [main, ...args], { cwd: dir, env })

/** Exit 0 with nothing on stderr; stdout. */
const succeeds = async (args: ReadonlyArray<string>, env?: Record<string, string>): Promise<string> => {
  const result = await failmail(args, env)
  expect(result.stderr).toBe("")
  expect(result.status).toBe(0)
  return result.stdout
}

/** Exit `status`, nothing on stdout, one line on stderr: that line. */
const fails = async (status: 1 | 2, args: ReadonlyArray<string>, env?: Record<string, string>): Promise<string> => {
  const result = await failmail(args, env)
  expect(result.status, result.stderr).toBe(status)
  expect(result.stdout).toBe("")
  const lines = result.stderr.trimEnd().split("\n")
  expect(lines, result.stderr).toHaveLength(1)
  return lines[0] ?? ""
}

const jsonList = async (noun: "silence" | "expect"): Promise<ReadonlyArray<Record<string, unknown>>> =>
  JSON.parse(await succeeds([noun, "list", "--url", url, "-o", "json"])) as ReadonlyArray<Record<string, unknown>>

beforeAll(async () => {
  buildDaemon()
  dir = tempDir("failmail-api-commands-")
  upstream = await startUpstream()
  const child = spawn(
    process.execPath,
    [main, "--bind-addr", "127.0.0.1:0", "--bind-http", "127.0.0.1:0", "--relay-addr", upstream.address, "--message-store", "spool", "--wait-period", "1h", "--max-wait", "2h"],
    { cwd: dir, env: environment({ FAILMAIL_CREDENTIALS: CREDENTIALS }), stdio: ["ignore", "pipe", "pipe"] }
  )
  daemon = child
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const handle: Child = { process: child, output: () => output, exited: new Promise(() => undefined) }
  url = `http://127.0.0.1:${await eventually("the daemon's HTTP port", () => httpPortOf(handle), 15_000)}`
}, 120_000)

afterAll(async () => {
  if (daemon !== undefined && daemon.exitCode === null) {
    const exited = new Promise((resolve) => daemon?.once("exit", resolve))
    daemon.kill("SIGTERM")
    await exited
  }
  await upstream?.close()
  if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
})

describe("failmail silence", () => {
  it("add prints the new id; list shows it, as a table and as JSON; expire ends it", async () => {
    const id = (await succeeds(["silence", "add", "--url", url, "--for", "2h", "--comment", "db1 reboot", "subject=~^disk full", "to=~ops@"])).trim()
    expect(id).toMatch(/^\S+$/)

    const listed = (await jsonList("silence")).find((silence) => silence["id"] === id)
    expect(listed).toMatchObject({
      match: { subject: "^disk full", to: "ops@" },
      comment: "db1 reboot",
      author: os.userInfo().username,
      active: true
    })
    const hours = (Date.parse(String(listed?.["endsAt"])) - Date.parse(String(listed?.["startsAt"]))) / 3_600_000
    expect(hours).toBeCloseTo(2, 3)

    const rows = (await succeeds(["silence", "list", "--url", url])).split("\n")
    expect(rows[0]).toMatch(/^ID\s+STATE\s+MATCHERS\s+ENDS\s+HELD\s+AUTHOR\s+COMMENT$/)
    expect(rows.find((row) => row.startsWith(`${id} `))).toMatch(/\sactive\s+subject=~\^disk full to=~ops@\s.*\sdb1 reboot$/)

    expect(await succeeds(["silence", "expire", "--url", url, id])).toBe("")
    expect((await jsonList("silence")).find((silence) => silence["id"] === id)).toMatchObject({ active: false })
  })

  it("add --until an RFC 3339 time, with another author, and -o json for the id", async () => {
    const until = new Date(Date.now() + 3 * 3_600_000).toISOString().replace(/\.\d+Z$/, "Z")
    const created = JSON.parse(await succeeds(["silence", "add", "--url", url, "--until", until, "--author", "alice", "-o", "json", "batch=~^db"])) as { id: string }
    expect((await jsonList("silence")).find((silence) => silence["id"] === created.id)).toMatchObject({
      match: { batch: "^db" },
      author: "alice",
      endsAt: new Date(until).toISOString()
    })
  })

  it("a matcher the failmail refuses is exit 1 with the URL and its 400 answer", async () => {
    expect(await fails(1, ["silence", "add", "--url", url, "--for", "1h", "subject=~(unclosed"])).toMatch(
      new RegExp(`^failmail silence add: ${url}/api/silences answered 400 Bad Request: match\\.subject: .*`)
    )
    expect(await fails(1, ["silence", "add", "--url", url, "--for", "1h", "colour=~red"])).toMatch(
      new RegExp(`^failmail silence add: ${url}/api/silences answered 400 Bad Request: match\\.colour`)
    )
  })

  it("expiring an unknown id is exit 1 with the 404 answer", async () => {
    expect(await fails(1, ["silence", "expire", "--url", url, "no-such-silence"])).toMatch(
      new RegExp(`^failmail silence expire: ${url}/api/silences/no-such-silence answered 404 Not Found`)
    )
  })

  it("bad input is exit 2 naming the argument, before anything is sent", async () => {
    expect(await fails(2, ["silence", "add", "--url", url, "--for", "banana", "subject=~x"])).toBe(
      `failmail silence: --for banana: invalid duration "banana" (use Go syntax such as 30s, 5m, 1h30m, 250ms)`
    )
    expect(await fails(2, ["silence", "add", "--url", url, "--until", "tomorrow", "subject=~x"])).toMatch(/^failmail silence: --until tomorrow: /)
    expect(await fails(2, ["silence", "add", "--url", url, "--for", "1h", "subject=disk"])).toMatch(/^failmail silence: matcher "subject=disk": /)
    expect(await fails(2, ["silence", "list", "--credentials", CREDENTIALS])).toMatch(/^failmail silence: --credentials is not taken on the command line/)
    expect(await jsonList("silence")).not.toContainEqual(expect.objectContaining({ match: { subject: "x" } }))
  })
})

describe("failmail expect", () => {
  it("add prints the new id; list shows it; delete removes it", async () => {
    const id = (
      await succeeds(["expect", "add", "--url", url, "--name", "nightly backup", "--every", "24h", "--to", "ops@example.com", "--to", "dba@example.com", "subject=~^backup done"])
    ).trim()
    expect(id).toMatch(/^\S+$/)
    expect((await jsonList("expect")).find((expectation) => expectation["id"] === id)).toMatchObject({
      name: "nightly backup",
      match: { subject: "^backup done" },
      every: "24h0m0s",
      // The failmail keeps recipients sorted.
      to: ["dba@example.com", "ops@example.com"],
      missing: false
    })
    const row = (await succeeds(["expect", "list", "--url", url])).split("\n").find((line) => line.startsWith(`${id} `))
    expect(row).toMatch(/^\S+\s+nightly backup\s+met\s+24h0m0s\s+never\s+\S+\s+dba@example\.com,ops@example\.com\s+subject=~\^backup done$/)

    expect(await succeeds(["expect", "delete", "--url", url, id])).toBe("")
    expect((await jsonList("expect")).map((expectation) => expectation["id"])).not.toContain(id)
  })

  it("a bad request is exit 1 with the failmail's answer; bad input exit 2", async () => {
    expect(await fails(1, ["expect", "add", "--url", url, "--name", "x", "--every", "1h", "--to", "ops@example.com", "subject=~[a-"])).toMatch(
      new RegExp(`^failmail expect add: ${url}/api/expectations answered 400 Bad Request: match\\.subject: `)
    )
    expect(await fails(2, ["expect", "add", "--url", url, "--name", "x", "--every", "banana", "--to", "a@b", "subject=~x"])).toMatch(
      /^failmail expect: --every banana: invalid duration/
    )
  })
})

describe("credentials and reachability", () => {
  it("without credentials the failmail's 401 is exit 1, naming the URL", async () => {
    expect(await fails(1, ["silence", "list", "--url", url], {})).toBe(
      `failmail silence list: ${url}/api/silences answered 401 Unauthorized: authentication required (set FAILMAIL_CREDENTIALS or --credentials-file to the failmail's --credentials)`
    )
  })

  it("reads them from --credentials-file", async () => {
    const file = path.join(dir, "api-credentials")
    fs.writeFileSync(file, `${CREDENTIALS}\n`, { mode: 0o600 })
    expect(await succeeds(["silence", "list", "--url", url, "--credentials-file", file], {})).toMatch(/^ID\s+STATE/)
    expect(await fails(2, ["silence", "list", "--url", url, "--credentials-file", path.join(dir, "missing")], {})).toMatch(
      /^failmail silence list: --credentials-file .*missing: ENOENT/
    )
  })

  it("a failmail that is not there is exit 1, naming the URL", async () => {
    // tcpmux (1): privileged and unused, so the connection is refused at once.
    expect(await fails(1, ["expect", "list", "--url", "http://127.0.0.1:1"])).toBe(
      "failmail expect list: cannot reach http://127.0.0.1:1/api/expectations: connect ECONNREFUSED 127.0.0.1:1"
    )
  })

  it("--url defaults to $FAILMAIL_URL", async () => {
    expect(await succeeds(["expect", "list"], { FAILMAIL_CREDENTIALS: CREDENTIALS, FAILMAIL_URL: url })).toMatch(/^ID\s+NAME/)
  })
})
