/**
 * The built program, run the way an operator runs it: `node dist/main.js ...`
 * in a scratch directory, judged by exit status, stdout, stderr and files.
 */
import { Data, Duration, Either, Equal, Redacted } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ConfigFile from "../src/domain/settings/ConfigFile.ts"
import * as Configuration from "../src/domain/settings/Configuration.ts"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"
import * as Settings from "../src/domain/settings/Settings.ts"
import { hostFacts } from "../src/commands/Invocation.ts"
import { buildDaemon } from "./support/daemon.ts"
import { tempDir } from "./support/tempdir.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const main = path.join(root, "dist", "main.js")
const fixture = fileURLToPath(new URL("./fixtures/original-write-config.conf", import.meta.url))
const packageVersion = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }).version
const host = hostFacts()

let dir = ""

/** The caller's environment without any FAILMAIL_* variable, plus `extra`. */
const environment = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("FAILMAIL_"))),
  ...extra
})

interface Result {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the built program to its end (killed after 10 s). */
const failmail = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Result => {
  const result = spawnSync(process.execPath, [main, ...args], {
    cwd: dir,
    env: environment(env),
    encoding: "utf8",
    timeout: 10_000,
    killSignal: "SIGKILL"
  })
  if (result.error !== undefined) throw result.error
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** This process's umask (which the child inherits). */
const currentUmask = (): number => {
  const mask = process.umask(0)
  process.umask(mask)
  return mask
}

const inDir = (name: string): string => path.join(dir, name)
const write = (name: string, text: string): void => fs.writeFileSync(inDir(name), text)
const readText = (name: string): string => fs.readFileSync(inDir(name), "utf8")

/** A user error: exit 2, exactly one line on stderr, nothing on stdout, no stack trace. */
const expectUserError = (result: Result): string => {
  expect(result.status, result.stderr).toBe(2)
  expect(result.stdout).toBe("")
  const lines = result.stderr.trimEnd().split("\n")
  expect(lines, result.stderr).toHaveLength(1)
  expect(result.stderr).not.toMatch(/^\s+at /m)
  return lines[0] ?? ""
}

const sameValue = (a: unknown, b: unknown): boolean =>
  Duration.isDuration(a) && Duration.isDuration(b) ? Duration.equals(a, b) : Equal.equals(a, b)

/** The effective configuration a written file holds. */
const configIn = (name: string): Settings.Values => {
  const file = ConfigFile.parse(name, readText(name))
  if (Either.isLeft(file)) throw new Error(ConfigFile.describeProblem(file.left))
  return Configuration.merge({ flags: { values: {}, warnings: [] }, env: { values: {} }, file: file.right, host })
}

beforeAll(() => {
  buildDaemon()
  dir = tempDir("failmail-cli-")
}, 120_000)

afterAll(() => {
  if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
})

describe("failmail --help", () => {
  it.each([["--help"], ["-h"], ["-help"]])("%s exits 0 and lists every setting with its default", (flag) => {
    const result = failmail([flag])
    expect(result.status, result.stderr).toBe(0)
    const lines = result.stdout.split("\n")
    for (const key of Settings.configKeys) {
      const setting = Settings.settings[key]
      const line = lines.find((candidate) => new RegExp(`^\\s*--${setting.name}(\\s|$)`).test(candidate))
      expect(line, `--${setting.name} is missing from --help`).toBeDefined()
      const defaultText = Settings.encodeValue(key, setting.defaultValue(host) as never)
      // Like Go's flag package, a false boolean or an empty default is not printed.
      if (defaultText !== "" && setting.codec !== Settings.Bool) {
        expect(line, `--${setting.name}`).toContain(`(default ${defaultText})`)
      }
    }
  })
})

describe("failmail --version", () => {
  it.each([["--version"], ["-version"]])("%s prints failmail <package.json version> and exits 0", (flag) => {
    const result = failmail([flag])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toBe(`failmail ${packageVersion}\n`)
  })
})

describe("failmail --write-config", () => {
  it("writes the default configuration and exits 0", () => {
    const result = failmail(["--write-config", "defaults.conf"])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toBe("")
    expect(readText("defaults.conf")).toBe(ConfigFile.format(Settings.defaults(host), host))
    expect(readText("defaults.conf")).toContain("max_wait = 5m0s\n")
  })

  it("makes a file holding a secret private (0600), also one that existed world-readable", () => {
    const modeOf = (name: string) => fs.statSync(inDir(name)).mode & 0o777
    expect(failmail(["--credentials", "alice:s3cret", "--write-config", "credentials.conf"]).status).toBe(0)
    expect(modeOf("credentials.conf")).toBe(0o600)
    expect(readText("credentials.conf")).toContain("credentials = alice:s3cret\n")

    write("relay.conf", "")
    fs.chmodSync(inDir("relay.conf"), 0o644)
    expect(failmail(["--relay-user", "bob", "--relay-password", "hunter2", "--write-config", "relay.conf"]).status).toBe(0)
    expect(modeOf("relay.conf")).toBe(0o600)
    expect(readText("relay.conf")).toContain("relay_password = hunter2\n")

    // Without a secret the file is an ordinary one (the umask decides).
    expect(failmail(["--write-config", "plain.conf"]).status).toBe(0)
    expect(modeOf("plain.conf")).toBe(0o666 & ~currentUmask())
  })

  it("--config x --write-config y writes y identical to x", () => {
    expect(failmail(["-write-config=x.conf"]).status).toBe(0)
    const result = failmail(["--config", "x.conf", "--write-config", "y.conf"])
    expect(result.status, result.stderr).toBe(0)
    expect(readText("y.conf")).toBe(readText("x.conf"))
  })

  it("a configuration changing every setting round-trips byte for byte", () => {
    write("cert.pem", "")
    write("key.pem", "")
    write("summary.hbs", "{{subject}}\n")
    const changed: Settings.Values = {
      bindAddr: "127.0.0.1:2626",
      socketFd: 3,
      proxyProtocol: Data.array(["10.0.0.5", "*"]),
      credentials: Redacted.make("alice:s3cr:et"),
      tlsCert: inDir("cert.pem"),
      tlsKey: inDir("key.pem"),
      ssl: true,
      shutdownTimeout: Duration.seconds(12),
      debugReceiver: true,
      rewriteSrc: "^(.*)@old\\.example$",
      rewriteDest: "$1@new.example",
      allowUnencryptedAuth: true,
      messageStore: inDir("spool"),
      store: Redacted.make("postgres://failmail:pg-s3cret@db.example:5432/failmail"),
      from: "alerts@example.org",
      subjectPrefix: "",
      waitPeriod: Duration.millis(1500),
      maxWait: Duration.minutes(90),
      repeatInterval: Duration.hours(1),
      forgetAfter: Duration.hours(48),
      backAfter: Duration.minutes(90),
      batchExpr: `{{.Header.Get "X-Team"}}`,
      groupExpr: "  spaced  ",
      template: inDir("summary.hbs"),
      relayAddr: "debug",
      relayUser: "relay",
      relayPassword: Redacted.make(`p = w # "q"`),
      relayAll: true,
      relayTimeout: Duration.millis(250),
      relayRetryFor: Duration.zero,
      relayRate: RelayBudget.rateOf(10, 1_000),
      stormThreshold: 5,
      failDir: inDir("failed"),
      allDir: inDir("all"),
      bindHttp: "",
      externalUrl: "https://failmail.example.com/ops/",
      pidfile: inDir("failmail.pid"),
      maxMessageSize: 512 * 1024,
      maxConnections: 7,
      maxConnectionsPerIp: Settings.sharePercent(20),
      lineTimeout: Duration.seconds(20),
      dataTimeout: Duration.minutes(3),
      maxRecipients: 12,
      logLevel: "debug",
      logFormat: "json"
    }
    const defaults = Settings.defaults(host)
    const args = Settings.configKeys.map((key) => {
      expect(sameValue(changed[key], defaults[key]), `${key} should differ from its default`).toBe(false)
      return `--${Settings.settings[key].name}=${Settings.encodeValue(key, changed[key] as never)}`
    })
    const first = failmail([...args, "--write-config", "all.conf"])
    expect(first.status, first.stderr).toBe(0)
    const readBack = configIn("all.conf")
    for (const key of Settings.configKeys) {
      expect(sameValue(readBack[key], changed[key]), `${key}: ${String(readBack[key])}`).toBe(true)
    }
    const second = failmail(["--config", "all.conf", "--write-config", "all2.conf"])
    expect(second.status, second.stderr).toBe(0)
    expect(readText("all2.conf")).toBe(readText("all.conf"))
  })

  it("loads the Go failmail's --write-config output", () => {
    const result = failmail(["--config", fixture, "--write-config", "from-go.conf"])
    expect(result.status, result.stderr).toBe(0)
    expect(readText("from-go.conf")).toContain("from = failmail@vm\n")
  })

  describe("precedence: flag > FAILMAIL_<NAME> > config file > default", () => {
    it.each([
      [["--max-wait=8m"], { FAILMAIL_MAX_WAIT: "7m" }, "8m0s"],
      [[], { FAILMAIL_MAX_WAIT: "7m" }, "7m0s"],
      [[], {}, "6m0s"]
    ])("flags %j, environment %j: max_wait = %s", (flags, env, expected) => {
      write("precedence.conf", "max_wait = 6m\n")
      const result = failmail(["--config", "precedence.conf", ...flags, "--write-config", "p.conf"], env)
      expect(result.status, result.stderr).toBe(0)
      expect(readText("p.conf")).toContain(`\nmax_wait = ${expected}\n`)
    })

    it("the default when nothing sets it", () => {
      expect(failmail(["--write-config", "p0.conf"]).status).toBe(0)
      expect(readText("p0.conf")).toContain("\nmax_wait = 5m0s\n")
    })

    it("FAILMAIL_CONFIG names the config file", () => {
      write("from-env.conf", "relay_addr = relay.example:25\n")
      expect(failmail(["--write-config", "p1.conf"], { FAILMAIL_CONFIG: "from-env.conf" }).status).toBe(0)
      expect(readText("p1.conf")).toContain("\nrelay_addr = relay.example:25\n")
    })
  })
})

describe("user errors: one line on stderr, exit 2", () => {
  it("an unknown flag", () => {
    expect(expectUserError(failmail(["--nope"]))).toContain("-nope")
  })

  it("a bad flag value names the flag", () => {
    expect(expectUserError(failmail(["--max-wait", "ten", "--write-config", "never.conf"]))).toMatch(/-max-wait: .*"ten"/)
    expect(fs.existsSync(inDir("never.conf"))).toBe(false)
  })

  it("a positional argument", () => {
    expect(expectUserError(failmail(["serve"]))).toContain(`"serve"`)
  })

  it("a bad config line names file:line:key", () => {
    write("bad.conf", "# settings\nbind_addr = localhost:2525\nmax_wait = ten\n")
    expect(expectUserError(failmail(["--config", "bad.conf", "--write-config", "never.conf"]))).toMatch(
      /bad\.conf:3: max_wait: invalid duration "ten"/
    )
    expect(fs.existsSync(inDir("never.conf"))).toBe(false)
  })

  it("an unknown config key names file:line:key", () => {
    write("unknown.conf", "bind_addr = localhost:2525\r\nbind_adress = x\r\n")
    expect(expectUserError(failmail(["--config", "unknown.conf", "--write-config", "never.conf"]))).toContain(
      "unknown.conf:2: bind_adress: unknown setting"
    )
  })

  it("a config file that cannot be read names it", () => {
    expect(expectUserError(failmail(["--config", "missing.conf", "--write-config", "never.conf"]))).toContain("missing.conf")
  })

  it("a bad FAILMAIL_MAX_WAIT names the variable", () => {
    expect(expectUserError(failmail(["--write-config", "never.conf"], { FAILMAIL_MAX_WAIT: "ten" }))).toMatch(
      /FAILMAIL_MAX_WAIT: .*"ten"/
    )
  })

  describe("start-time validation", () => {
    it.each([
      ["credentials without a colon", ["--credentials", "alice"], {}, /credentials: .*username:password/],
      ["only --tls-cert", ["--tls-cert", "cert.pem"], {}, /tls-(cert|key): .*together/],
      ["only --tls-key", ["--tls-key", "key.pem"], {}, /tls-(cert|key): .*together/],
      ["--rewrite-src without --rewrite-dest", ["--rewrite-src", "^(.*)$"], {}, /rewrite-(src|dest): .*together/],
      ["a zero --wait-period", ["--wait-period", "0"], {}, /wait-period: .*greater than zero/],
      ["an --external-url that is not an absolute URL", ["--external-url", "failmail.example.com"], {}, /external-url: .*absolute http/],
      ["a zero --shutdown-timeout", ["-shutdown-timeout=0s"], {}, /shutdown-timeout: .*greater than zero/],
      ["a zero FAILMAIL_RELAY_TIMEOUT", [], { FAILMAIL_RELAY_TIMEOUT: "0" }, /FAILMAIL_RELAY_TIMEOUT: .*greater than zero/],
      ["--max-wait shorter than --wait-period", ["--max-wait", "10s"], {}, /max-wait: .*wait-period/],
      ["a --relay-rate without a period", ["--relay-rate", "10"], {}, /relay-rate: invalid rate "10"/],
      ["a bad FAILMAIL_RELAY_RATE", [], { FAILMAIL_RELAY_RATE: "5/d" }, /FAILMAIL_RELAY_RATE: invalid rate "5\/d"/],
      ["a zero --forget-after", ["--forget-after", "0"], {}, /forget-after: .*greater than zero/],
      ["a --back-after that is not a duration", ["--back-after", "soon"], {}, /back-after: .*soon/],
      ["a zero FAILMAIL_BACK_AFTER", [], { FAILMAIL_BACK_AFTER: "0" }, /FAILMAIL_BACK_AFTER: .*greater than zero/],
      ["a --storm-threshold that is not a count", ["--storm-threshold", "tens"], {}, /storm-threshold: invalid number "tens"/],
      ["a negative FAILMAIL_STORM_THRESHOLD", [], { FAILMAIL_STORM_THRESHOLD: "-5" }, /FAILMAIL_STORM_THRESHOLD: invalid number "-5"/]
    ] as const)("%s", (_, args, env, pattern) => {
      expect(expectUserError(failmail([...args, "--write-config", "never.conf"], env))).toMatch(pattern)
      expect(fs.existsSync(inDir("never.conf"))).toBe(false)
    })

    it("a --store that is not a postgres:// URL names the setting, never the URL (it may hold a password)", () => {
      for (const [args, env] of [
        [["--store", "mysql://failmail:pw-s3cret@db.example/failmail"], {}],
        [[], { FAILMAIL_STORE: "failmail:pw-s3cret@db.example" }]
      ] as const) {
        const line = expectUserError(failmail([...args, "--write-config", "never.conf"], env))
        expect(line).toMatch(/(-store|FAILMAIL_STORE): .*postgres:\/\//)
        expect(line).not.toContain("pw-s3cret")
      }
      expect(fs.existsSync(inDir("never.conf"))).toBe(false)
    })

    it("a zero duration in the config file names file:line:key", () => {
      write("zero.conf", "wait_period = 30s\nmax_wait = 0\n")
      expect(expectUserError(failmail(["--config", "zero.conf", "--write-config", "never.conf"]))).toMatch(
        /zero\.conf:2: max_wait: .*greater than zero/
      )
    })
  })
})

describe("running", () => {
  // The log line that says the daemon is up (its wording has been "failmail starting" and "failmail ready").
  const started = /failmail (starting|ready)/

  it.each([
    ["under a regular file", () => (write("a-file", ""), path.join(inDir("a-file"), "incoming")), /ENOTDIR/],
    // Node's own recursive mkdir loops for ever here, where a parent exists but refuses any child.
    ["under procfs", () => "/proc/failmail-nope/incoming", /ENOENT/]
  ])("a --message-store that cannot be made (%s) stops the start: exit 1, one line naming it, no stack trace", (_, store, reason) => {
    const messageStore = store()
    const result = failmail(["--bind-addr=127.0.0.1:0", "--bind-http=", `--message-store=${messageStore}`, `--fail-dir=${inDir("ms-failed")}`, "--relay-addr=debug"])
    expect(result.status, result.stderr).toBe(1)
    const lines = result.stderr.trim().split("\n").filter((line) => line.startsWith("failmail: "))
    expect(lines).toEqual([expect.stringContaining(`failmail: message-store ${messageStore}: `)])
    expect(lines[0]).toMatch(reason)
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })

  it("starts with the Go failmail's config file, warns about deprecated settings, and exits 0 on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [
        main,
        "--config",
        fixture,
        "--bind-addr",
        "127.0.0.1:0",
        "--bind-http=",
        "--message-store",
        inDir("run-incoming"),
        "--fail-dir",
        inDir("run-failed"),
        "--relay-addr",
        "debug",
        "--poll",
        "5s"
      ],
      { cwd: dir, env: environment(), stdio: ["ignore", "pipe", "pipe"] }
    )
    let stderr = ""
    child.stderr.setEncoding("utf8")
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "failmail starting" log line within 10 s; stderr:\n${stderr}`)), 10_000)
        child.stderr.on("data", (chunk: string) => {
          stderr += chunk
          if (started.test(stderr)) {
            clearTimeout(timer)
            resolve()
          }
        })
        child.on("exit", (code) => {
          clearTimeout(timer)
          reject(new Error(`exited with ${code} before starting; stderr:\n${stderr}`))
        })
      })
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      child.kill("SIGTERM")
      const code = await Promise.race([
        exited,
        new Promise<string>((resolve) => setTimeout(() => resolve("still running 10 s after SIGTERM"), 10_000))
      ])
      expect(code, stderr).toBe(0)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    }
    for (const name of ["poll", "memory_store", "receiver", "sender"]) {
      expect(stderr, `no deprecation warning for ${name}`).toMatch(new RegExp(`${name}.*deprecated`))
    }
    expect(stderr).not.toMatch(/^\s+at /m)
  }, 30_000)
})
