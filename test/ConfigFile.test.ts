import { Data, Duration, Either, Equal, Redacted } from "effect"
import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import * as ConfigFile from "../src/domain/settings/ConfigFile.ts"
import * as Configuration from "../src/domain/settings/Configuration.ts"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"
import * as Settings from "../src/domain/settings/Settings.ts"

const host: Settings.HostFacts = { hostname: "mail.example" }

const read = (text: string, path = "test.conf"): ConfigFile.FileSettings => {
  const result = ConfigFile.parse(path, text)
  if (Either.isLeft(result)) throw new Error(`expected the file to parse, got: ${ConfigFile.describeProblem(result.left)}`)
  return result.right
}

const problem = (text: string, path = "test.conf"): string => {
  const result = ConfigFile.parse(path, text)
  if (Either.isRight(result)) throw new Error("expected the file to be refused")
  const line = ConfigFile.describeProblem(result.left)
  expect(line).not.toContain("\n")
  return line
}

const millis = (value: unknown): number => Duration.toMillis(value as Duration.Duration)

/** The effective configuration a file gives, over the defaults. */
const effective = (file: ConfigFile.FileSettings): Settings.Values =>
  Configuration.merge({ flags: { values: {}, warnings: [] }, env: { values: {} }, file, host })

/**
 * Equality of setting values. Durations are compared with `Duration.equals`:
 * `Equal.equals(Duration.seconds(5), Duration.nanos(5_000_000_000n))` is false
 * (their hashes differ), although they are the same length of time.
 */
const sameValue = (a: unknown, b: unknown): boolean =>
  Duration.isDuration(a) && Duration.isDuration(b) ? Duration.equals(a, b) : Equal.equals(a, b)

const expectSameConfig = (actual: Settings.Values, expected: Settings.Values) => {
  for (const key of Settings.configKeys) {
    expect(sameValue(actual[key], expected[key]), `${key}: ${String(actual[key])} vs ${String(expected[key])}`).toBe(true)
  }
}

/** A configuration in which every setting differs from its default. */
const everythingChanged: Settings.Values = {
  bindAddr: "0.0.0.0:2626",
  socketFd: 3,
  proxyProtocol: Data.array(["10.0.0.5", "::1"]),
  credentials: Redacted.make("alice:s3cr:et"),
  tlsCert: "/etc/failmail/cert.pem",
  tlsKey: "/etc/failmail/key.pem",
  ssl: true,
  shutdownTimeout: Duration.seconds(12),
  debugReceiver: true,
  rewriteSrc: "^(.*)@old\\.example$",
  rewriteDest: "$1@new.example",
  allowUnencryptedAuth: true,
  messageStore: "/var/spool/failmail",
  store: Redacted.make("postgres://failmail:pg-s3cret@db.example:5432/failmail"),
  from: "alerts@example.org",
  subjectPrefix: "",
  waitPeriod: Duration.millis(1500),
  maxWait: Duration.minutes(90),
  repeatInterval: Duration.hours(1),
  forgetAfter: Duration.hours(48),
  backAfter: Duration.minutes(90),
  batchExpr: `{{.Header.Get "X-Team"}}`,
  groupExpr: "  leading and trailing spaces  ",
  template: "/etc/failmail/summary.hbs",
  relayAddr: "debug",
  relayUser: "relay",
  relayPassword: Redacted.make("p = w # \"q\""),
  relayAll: true,
  relayTimeout: Duration.millis(250),
  relayRetryFor: Duration.zero,
  relayRate: RelayBudget.rateOf(10, 1_000),
  stormThreshold: 5,
  failDir: "/var/lib/failmail/failed",
  allDir: "/var/lib/failmail/all",
  bindHttp: "",
  externalUrl: "https://failmail.example.com/ops/",
  pidfile: "/run/failmail.pid",
  maxMessageSize: 512 * 1024,
  maxConnections: 7,
  maxConnectionsPerIp: Settings.shareCount(3),
  lineTimeout: Duration.seconds(20),
  dataTimeout: Duration.minutes(3),
  maxRecipients: 12,
  logLevel: "debug",
  logFormat: "json"
}

describe("ConfigFile.parse", () => {
  it("reads key = value lines, comments and blank lines", () => {
    const file = read(
      ["# failmail settings", "", "bind_addr = 0.0.0.0:25", "   # indented comment", "\t", "max_wait=10m", "  relay_addr   =   smtp:587  ", ""].join("\n")
    )
    expect(file.warnings).toEqual([])
    expect(file.values.bindAddr).toBe("0.0.0.0:25")
    expect(millis(file.values.maxWait)).toBe(600_000)
    expect(file.values.relayAddr).toBe("smtp:587")
  })

  it("accepts CRLF line endings", () => {
    const file = read("# comment\r\nbind_addr = a:1\r\n\r\nmax_wait = 10m\r\n")
    expect(file.values).toMatchObject({ bindAddr: "a:1" })
    expect(millis(file.values.maxWait)).toBe(600_000)
  })

  it("accepts a missing final newline", () => {
    expect(read("bind_addr = a:1\nrelay_addr = b:2").values).toEqual({ bindAddr: "a:1", relayAddr: "b:2" })
    expect(read("relay_addr = b:2\r\n\r\nfrom = x@y").values).toEqual({ relayAddr: "b:2", from: "x@y" })
  })

  it("an empty file sets nothing", () => {
    expect(read("")).toEqual({ values: {}, warnings: [] })
  })

  it.each([["max_wait"], ["max-wait"], ["MaxWait"], ["maxWait"], ["MAX_WAIT"]])("the key %s is max-wait", (key) => {
    expect(millis(read(`${key} = 10m\n`).values.maxWait)).toBe(600_000)
  })

  it("removes the double quotes around a value", () => {
    expect(read(`from = "a@b"\n`).values.from).toBe("a@b")
    expect(read(`subject_prefix = " [alert] "\n`).values.subjectPrefix).toBe(" [alert] ")
    expect(read(`batch_expr = {{.Header.Get "X-Team"}}\n`).values.batchExpr).toBe(`{{.Header.Get "X-Team"}}`)
  })

  it("an empty value means not set; \"\" means the empty string", () => {
    expect(read("bind_http = \nbind_http =\n").values).toEqual({})
    expect(read(`bind_http = ""\n`).values).toEqual({ bindHttp: "" })
    expect(effective(read("bind_http =\n")).bindHttp).toBe("localhost:8025")
    expect(effective(read(`bind_http = ""\n`)).bindHttp).toBe("")
  })

  it("a later line wins over an earlier one", () => {
    expect(read("bind_addr = a:1\nbind_addr = b:2\n").values.bindAddr).toBe("b:2")
  })

  describe("errors are one line: <file>:<line>: <key>: <problem>", () => {
    it("an unknown key", () => {
      expect(problem("# c\nbind_addr = a:1\nbind_adress = b:2\n", "/etc/failmail.conf")).toBe(
        "/etc/failmail.conf:3: bind_adress: unknown setting"
      )
    })

    it.each([["just some words"], ["bind_addr localhost:25"], ["= 5m"], ["max wait = 5m"], ["[section]"]])(
      "a line that is not a setting: %j",
      (line) => {
        expect(problem(`bind_addr = a:1\n\n${line}\n`)).toMatch(/^test\.conf:3: .+: not a setting/)
      }
    )

    it("a value that does not parse", () => {
      expect(problem("bind_addr = a:1\nmax_wait = ten\n")).toMatch(/^test\.conf:2: max_wait: invalid duration "ten"/)
      expect(problem("MaxWait = 5\n")).toMatch(/^test\.conf:1: MaxWait: invalid duration "5"/)
      expect(problem("ssl = yes\n")).toMatch(/^test\.conf:1: ssl: invalid boolean "yes"/)
      expect(problem("max_message_size = 10 bananas\n")).toMatch(/^test\.conf:1: max_message_size: invalid size/)
      expect(problem("max_connections = 0\n")).toMatch(/^test\.conf:1: max_connections: /)
      expect(problem(`ssl = ""\n`)).toMatch(/^test\.conf:1: ssl: /)
    })

    it("zero durations", () => {
      expect(problem("wait_period = 0\n")).toMatch(/^test\.conf:1: wait_period: .*greater than zero/)
      expect(problem("max_wait = 0s\n")).toMatch(/^test\.conf:1: max_wait: .*greater than zero/)
    })

    it("line numbers count every line, with CRLF endings too", () => {
      expect(problem("# a\r\n\r\nbind_addr = a:1\r\nmax_wait = ten\r\n")).toMatch(/^test\.conf:4: max_wait: /)
    })

    it.each([["config"], ["write_config"], ["help"]])("%s belongs on the command line only", (key) => {
      expect(problem(`${key} = x.conf\n`)).toMatch(new RegExp(`^test\\.conf:1: ${key}: .*command line`))
    })
  })

  describe("deprecated keys", () => {
    it.each([["poll = 5s"], ["receiver = true"], ["sender = false"], ["memory_store = true"], ["version = false"], ["MemoryStore = false"]])(
      "%j is accepted with a warning and no effect",
      (line) => {
        const file = read(`bind_addr = a:1\n${line}\n`)
        expect(file.values).toEqual({ bindAddr: "a:1" })
        expect(file.warnings).toHaveLength(1)
        expect(file.warnings[0]).toMatch(new RegExp(`^test\\.conf:2: ${line.split(" ")[0]}: deprecated`))
        expect(file.warnings[0]).not.toContain("\n")
      }
    )
  })

  it("loads the file the Go failmail's --write-config writes", () => {
    const url = new URL("./fixtures/original-write-config.conf", import.meta.url)
    const file = read(fs.readFileSync(url, "utf8"), "original.conf")
    expect(file.warnings.map((warning) => warning.split(":")[2]?.trim()).sort()).toEqual(
      ["memory_store", "poll", "receiver", "sender", "version"].sort()
    )
    const config = effective(file)
    expect(config.from).toBe("failmail@vm")
    expect(millis(config.maxWait)).toBe(300_000)
    expect(Redacted.value(config.credentials)).toBe("")
    expect(Either.isRight(Configuration.validate(config))).toBe(true)
    expectSameConfig(config, { ...Settings.defaults(host), from: "failmail@vm" })
  })
})

describe("ConfigFile.format (--write-config)", () => {
  it("writes every real setting in definition order, Go style", () => {
    const text = ConfigFile.format(Settings.defaults(host), host)
    const lines = text.split("\n")
    expect(text.endsWith("\n")).toBe(true)
    expect(lines.slice(0, -1).map((line) => line.split(" = ")[0])).toEqual(Settings.configKeys.map(Settings.fileKey))
    expect(lines).toContain("max_wait = 5m0s")
    expect(lines).toContain("wait_period = 30s")
    expect(lines).toContain("credentials = ")
    expect(lines).toContain("ssl = false")
    expect(lines).toContain("from = failmail@mail.example")
    expect(lines).toContain(`batch_expr = {{.Header.Get "X-Failmail-Split"}}`)
    expect(lines).toContain("max_message_size = 10MB")
    expect(text).not.toMatch(/^(config|write_config|help|version|poll|receiver|sender|memory_store) /m)
  })

  it("quotes values that would not read back otherwise", () => {
    const text = ConfigFile.format(
      { ...Settings.defaults(host), bindHttp: "", subjectPrefix: " [x] ", relayUser: `"quoted"`, credentials: Redacted.make("") },
      host
    )
    expect(text).toContain(`bind_http = ""\n`)
    expect(text).toContain(`subject_prefix = " [x] "\n`)
    expect(text).toContain(`relay_user = ""quoted""\n`)
    expect(text).toContain("credentials = \n")
  })

  const roundTrip = (config: Settings.Values) => {
    const first = ConfigFile.format(config, host)
    const file = read(first, "written.conf")
    expect(file.warnings).toEqual([])
    const readBack = effective(file)
    expectSameConfig(readBack, config)
    expect(ConfigFile.format(readBack, host)).toBe(first)
  }

  it("the defaults read back the same, and a second write is byte-identical", () => {
    roundTrip(Settings.defaults(host))
  })

  it("a configuration that changes every setting reads back the same, and a second write is byte-identical", () => {
    const defaults = Settings.defaults(host)
    for (const key of Settings.configKeys) {
      expect(sameValue(everythingChanged[key], defaults[key]), `${key} should differ from its default`).toBe(false)
    }
    expect(Either.isRight(Configuration.validate(everythingChanged))).toBe(true)
    roundTrip(everythingChanged)
  })

  it.each([
    ["a lone quote", `"`],
    ["quotes at both ends", `"x"`],
    ["a hash", "# not a comment"],
    ["equals signs", "a = b = c"],
    ["tabs around", "\tx\t"]
  ])("text with %s reads back the same", (_, value) => {
    roundTrip({ ...Settings.defaults(host), subjectPrefix: value })
  })
})
