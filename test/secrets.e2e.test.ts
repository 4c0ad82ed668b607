/**
 * `--credentials` and `--relay-password` never show: not in the log (the
 * JSON startup line included), not in any HTTP answer, not in an error —
 * while they still work (SMTP AUTH, HTTP Basic, relay AUTH) and
 * `--write-config` still writes them (cli.test.ts). The built daemon, real
 * clients.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import nodemailer from "nodemailer"
import { beforeAll, describe, expect, it } from "vitest"
import { buildDaemon, httpPortOf, launch, main, ready, smtpPortOf } from "./support/daemon.ts"
import { eventually, maildirNew } from "./support/failmail.ts"
import { tempDir } from "./support/tempdir.ts"
import { startUpstream } from "./support/upstream.ts"

beforeAll(buildDaemon, 120_000)

const CREDENTIALS_PASSWORD = "Sup3r-s3cret-pw"
const RELAY_PASSWORD = "R3lay-s3cret-pw"
const secrets = [CREDENTIALS_PASSWORD, RELAY_PASSWORD]

const expectNoSecret = (what: string, text: string) => {
  for (const secret of secrets) expect(text.includes(secret), `${what} shows a secret`).toBe(false)
}

describe("secrets", () => {
  it("do not appear in the log, the HTTP answers or errors, and still authenticate", async () => {
    const dir = tempDir()
    // The relay wants another password than ours: the relay's refusal becomes an error in the log.
    const upstream = await startUpstream({ auth: { user: "relay", pass: "not-ours" } })
    try {
      const child = launch(
        [
          "--bind-addr=127.0.0.1:0",
          "--bind-http=127.0.0.1:0",
          `--relay-addr=${upstream.address}`,
          `--message-store=${path.join(dir, "spool")}`,
          `--fail-dir=${path.join(dir, "failed")}`,
          `--credentials=admin:${CREDENTIALS_PASSWORD}`,
          "--allow-unencrypted-auth",
          "--relay-user=relay",
          `--relay-password=${RELAY_PASSWORD}`,
          "--relay-retry-for=0",
          "--wait-period=100ms",
          "--log-format=json",
          "--debug-receiver"
        ],
        dir
      )
      await ready(child)
      const startup = child
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line["message"] === "failmail ready")
      expect(startup?.["annotations"]).toMatchObject({ credentials: "<redacted>", "relay-password": "<redacted>" })

      // SMTP AUTH with the real password works (and the conversation log hides it).
      const transport = nodemailer.createTransport({
        host: "127.0.0.1",
        port: smtpPortOf(child),
        secure: false,
        ignoreTLS: true,
        auth: { user: "admin", pass: CREDENTIALS_PASSWORD }
      })
      await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "authenticated", text: "x" })
      transport.close()
      // The relay refuses our password: the summary is filed, and the refusal logged.
      await eventually("the summary in the fail-dir", () => maildirNew(path.join(dir, "failed")).length === 1, 10_000)

      // HTTP Basic with the real password works; no answer holds a secret.
      const port = httpPortOf(child)
      const authorization = `Basic ${Buffer.from(`admin:${CREDENTIALS_PASSWORD}`).toString("base64")}`
      for (const route of ["/", "/api/stats", "/api/batches", "/api/summaries", "/api/openapi.json", "/metrics"]) {
        const response = await fetch(`http://127.0.0.1:${port}${route}`, { headers: { authorization } })
        expect(response.status, route).toBe(200)
        expectNoSecret(route, await response.text())
      }
      expect((await fetch(`http://127.0.0.1:${port}/api/stats`)).status).toBe(401)

      expect(child.output()).toContain("Invalid login: 535")
      expect(child.output()).toMatch(/"message":"C: AUTH PLAIN.*"annotations":\{[^}]*"component":"smtp"/)
      expectNoSecret("the log", child.output())
    } finally {
      await upstream.close()
    }
  }, 60_000)

  it("do not appear in the one-line error of a refused configuration", () => {
    const refused = (() => {
      try {
        execFileSync("node", [main, "--credentials", `admin${CREDENTIALS_PASSWORD}`], { encoding: "utf8", stdio: "pipe" })
        return { status: 0, stderr: "" }
      } catch (error) {
        return error as { status: number; stderr: string }
      }
    })()
    expect(refused.status).toBe(2)
    expect(refused.stderr).toMatch(/credentials: .*username:password/)
    expectNoSecret("the error", refused.stderr)
  })
})
