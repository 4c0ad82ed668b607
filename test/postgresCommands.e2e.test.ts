/**
 * `failmail spool` and `failmail preview` on a PostgreSQL store
 * (`--store postgres://…`): the built commands, run while the daemon holds
 * mail in a real PostgreSQL the test starts, list and preview what it
 * holds, change nothing, and never show the URL's password.
 */
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import nodemailer from "nodemailer"
import { beforeAll, describe, expect, it } from "vitest"
import { buildDaemon, launch, main, ready, smtpPortOf } from "./support/daemon.ts"
import { tempDir } from "./support/tempdir.ts"
import { postgresForFile } from "./support/postgresFile.ts"
import { startUpstream } from "./support/upstream.ts"

beforeAll(() => buildDaemon(), 120_000)
const postgres = postgresForFile()

const run = promisify(execFile)
const failmail = (args: ReadonlyArray<string>, cwd: string) => run(process.execPath, [main, ...args], { cwd })

describe("failmail spool and preview on PostgreSQL", () => {
  it("list and preview what the database holds while the daemon runs, and leave it as it was", async () => {
    const url = await postgres().createDatabase()
    const upstream = await startUpstream()
    const dir = tempDir()
    const daemon = launch(
      [`--store=${url}`, "--bind-addr=127.0.0.1:0", "--bind-http=", `--relay-addr=${upstream.address}`, "--wait-period=1h", "--max-wait=2h"],
      dir
    )
    await ready(daemon)
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: smtpPortOf(daemon), secure: false, ignoreTLS: true })
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "disk full on db1", text: "first" })
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "disk full on db1", text: "second" })
    await transport.sendMail({ from: "cron@example.org", to: "dev@example.com", subject: "backup failed", text: "third" })

    const listed = await failmail(["spool", `--store=${url}`], dir)
    const lines = listed.stdout.trimEnd().split("\n")
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/\t""\t"disk full on db1"\tops@example\.com$/)
    expect(lines[2]).toMatch(/\t""\t"backup failed"\tdev@example\.com$/)
    const database = new URL(url)
    expect(listed.stderr).toBe(`failmail: 3 messages held in ${database.host}${database.pathname}\n`)

    const previewed = await failmail(["preview", `--store=${url}`], dir)
    expect(previewed.stdout).toContain(`${database.host}${database.pathname} (PostgreSQL store)`)
    expect(previewed.stdout).toContain("[failmail] 2 instances: disk full on db1")
    expect(previewed.stdout).toContain("[failmail] 1 instance: backup failed")

    for (const output of [listed.stdout, listed.stderr, previewed.stdout, previewed.stderr]) expect(output).not.toContain(postgres().password)
    // Nothing was taken: the daemon still holds the three messages, and summarizes them at its stop.
    expect(Number((await postgres().query(database.pathname.slice(1), "SELECT count(*) FROM failmail_messages"))[0])).toBe(3)
    daemon.process.kill("SIGTERM")
    expect(await daemon.exited).toBe(0)
    expect(upstream.deliveries).toHaveLength(2)
    await upstream.close()
  }, 120_000)
})
