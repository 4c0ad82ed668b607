import { Duration, Either, Equal, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import * as GoDuration from "../src/domain/settings/GoDuration.ts"
import * as Settings from "../src/domain/settings/Settings.ts"

const host: Settings.HostFacts = { hostname: "mail.example" }

const expectLeft = (result: Either.Either<unknown, string>): string => {
  if (Either.isRight(result)) throw new Error(`expected a problem, got ${String(result.right)}`)
  expect(result.left).not.toContain("\n")
  return result.left
}

describe("Size settings (--max-message-size)", () => {
  it.each([
    ["10MB", 10 * 1024 * 1024],
    ["512KB", 512 * 1024],
    ["1GB", 1024 ** 3],
    ["10mb", 10 * 1024 * 1024],
    ["4096", 4096],
    ["1", 1]
  ])("%s is %d bytes", (text, value) => {
    expect(Settings.decodeValue("maxMessageSize", text)).toEqual(Either.right(value))
  })

  it.each([["0"], ["ten"], ["-1"], ["-5MB"], ["MB"], [""], ["12abc"], ["5e3"], ["10XB"], ["1.5"], ["0x10"], ["0KB"]])(
    "rejects %j, naming the value",
    (text) => {
      expect(expectLeft(Settings.decodeValue("maxMessageSize", text))).toContain(`"${text}"`)
    }
  )

  it.each([
    [10 * 1024 * 1024, "10MB"],
    [512 * 1024, "512KB"],
    [1024, "1KB"],
    [1024 ** 3, "1GB"],
    [1000, "1000"],
    [1536, "1536"]
  ])("%d bytes is written as %s and reads back equal", (value, text) => {
    expect(Settings.encodeValue("maxMessageSize", value)).toBe(text)
    expect(Settings.decodeValue("maxMessageSize", text)).toEqual(Either.right(value))
  })
})

describe("Duration settings", () => {
  it("decode Go syntax and encode the way Go prints", () => {
    const decoded = Settings.decodeValue("maxWait", "1h30m")
    expect(Either.isRight(decoded) && Duration.toMillis(decoded.right)).toBe(90 * 60 * 1000)
    expect(Settings.encodeValue("maxWait", Duration.minutes(5))).toBe("5m0s")
    expect(Settings.encodeValue("waitPeriod", Duration.seconds(45))).toBe("45s")
  })

  it.each([["waitPeriod"], ["maxWait"], ["shutdownTimeout"], ["relayTimeout"]] as const)(
    "%s must be greater than zero",
    (key) => {
      expect(expectLeft(Settings.decodeValue(key, "0"))).toContain("greater than zero")
      expect(expectLeft(Settings.decodeValue(key, "0s"))).toContain("greater than zero")
    }
  )

  it("relay-retry-for may be zero (no retry)", () => {
    const decoded = Settings.decodeValue("relayRetryFor", "0")
    expect(Either.isRight(decoded) && Duration.isZero(decoded.right)).toBe(true)
    expect(Settings.encodeValue("relayRetryFor", Duration.zero)).toBe("0s")
  })

  it.each([["ten"], ["5"], ["-5s"]])("rejects %j", (text) => {
    expect(expectLeft(Settings.decodeValue("maxWait", text))).toContain(text)
  })
})

describe("Other codecs", () => {
  it.each([["1"], ["t"], ["T"], ["TRUE"], ["true"], ["True"]])("boolean %s is true", (text) => {
    expect(Settings.decodeValue("ssl", text)).toEqual(Either.right(true))
  })

  it.each([["0"], ["f"], ["F"], ["FALSE"], ["false"], ["False"]])("boolean %s is false", (text) => {
    expect(Settings.decodeValue("ssl", text)).toEqual(Either.right(false))
  })

  it.each([["yes"], ["on"], [""], ["tRuE"]])("boolean %j is rejected", (text) => {
    expect(expectLeft(Settings.decodeValue("ssl", text))).toContain("invalid boolean")
  })

  it("counts are whole numbers; max-connections at least 1", () => {
    expect(Settings.decodeValue("socketFd", "0")).toEqual(Either.right(0))
    expect(Settings.decodeValue("socketFd", "3")).toEqual(Either.right(3))
    expectLeft(Settings.decodeValue("socketFd", "-1"))
    expectLeft(Settings.decodeValue("socketFd", "1.5"))
    expectLeft(Settings.decodeValue("socketFd", "three"))
    expect(Settings.decodeValue("maxConnections", "1")).toEqual(Either.right(1))
    expectLeft(Settings.decodeValue("maxConnections", "0"))
  })

  it("a share (--max-connections-per-ip) is a whole number or a percentage from 1% to 100%", () => {
    expect(Settings.decodeValue("maxConnectionsPerIp", "0")).toEqual(Either.right(Settings.shareCount(0)))
    expect(Settings.decodeValue("maxConnectionsPerIp", "12")).toEqual(Either.right(Settings.shareCount(12)))
    expect(Settings.decodeValue("maxConnectionsPerIp", "25%")).toEqual(Either.right(Settings.sharePercent(25)))
    expect(Settings.decodeValue("maxConnectionsPerIp", "100%")).toEqual(Either.right(Settings.sharePercent(100)))
    for (const text of ["0%", "101%", "-1", "1.5", "half", "%", "50 %", ""]) {
      expect(expectLeft(Settings.decodeValue("maxConnectionsPerIp", text))).toContain(`"${text}"`)
    }
    expect(Settings.encodeValue("maxConnectionsPerIp", Settings.sharePercent(50))).toBe("50%")
    expect(Settings.encodeValue("maxConnectionsPerIp", Settings.shareCount(0))).toBe("0")
  })

  it("--proxy-protocol is empty (off), * (every peer) or IP addresses separated by commas", () => {
    expect(Settings.decodeValue("proxyProtocol", "")).toEqual(Either.right([]))
    expect(Settings.decodeValue("proxyProtocol", "*")).toEqual(Either.right(["*"]))
    expect(Settings.decodeValue("proxyProtocol", "10.0.0.5, 10.0.0.6,::1")).toEqual(Either.right(["10.0.0.5", "10.0.0.6", "::1"]))
    for (const [text, named] of [["lb.example", "lb.example"], ["10.0.0.5,10.0.0.300", "10.0.0.300"], ["10.0.0.0/8", "10.0.0.0/8"]]) {
      expect(expectLeft(Settings.decodeValue("proxyProtocol", text ?? ""))).toContain(`"${named}"`)
    }
    expect(Settings.encodeValue("proxyProtocol", ["10.0.0.5", "::1"])).toBe("10.0.0.5,::1")
  })

  it("log level and format are fixed words", () => {
    for (const word of ["debug", "info", "warn", "error"]) {
      expect(Settings.decodeValue("logLevel", word)).toEqual(Either.right(word))
    }
    expect(expectLeft(Settings.decodeValue("logLevel", "verbose"))).toContain("debug, info, warn, error")
    expect(Settings.decodeValue("logFormat", "json")).toEqual(Either.right("json"))
    expectLeft(Settings.decodeValue("logFormat", "xml"))
  })

  it("external-url is an absolute http(s) URL, kept as written, or empty", () => {
    for (const url of ["", "https://failmail.example.com/", "http://10.0.0.5:8025", "https://ops.example.com/failmail/"]) {
      expect(Settings.decodeValue("externalUrl", url)).toEqual(Either.right(url))
    }
    for (const url of ["failmail.example.com", "/failmail", "ftp://failmail.example.com/", "mailto:ops@example.com", "http://"]) {
      expect(expectLeft(Settings.decodeValue("externalUrl", url))).toContain("absolute http:// or https:// URL")
    }
    expect(expectLeft(Settings.decodeValue("externalUrl", "https://admin:pw@failmail.example.com/"))).toContain(
      "must not hold a user name or password"
    )
  })

  it("store is empty (the embedded store) or a postgres:// or postgresql:// URL, held redacted", () => {
    for (const url of ["", "postgres://failmail:pw@db.example:5432/failmail", "postgresql://db.example/failmail"]) {
      const decoded = Settings.decodeValue("store", url)
      expect(Either.isRight(decoded) && Redacted.value(decoded.right)).toBe(url)
      expect(Either.isRight(decoded) && String(decoded.right)).toBe("<redacted>")
    }
    for (const url of ["db.example", "mysql://failmail:pw@db.example/failmail", "sqlite:///var/lib/failmail.db"]) {
      const problem = expectLeft(Settings.decodeValue("store", url))
      expect(problem).toContain("postgres://user:password@host:port/database")
      expect(problem).not.toContain("pw@")
    }
    expect(expectLeft(Settings.decodeValue("store", "postgres://db.example/\nfailmail"))).toBe("must be a single line")
  })

  it("text is kept as given", () => {
    expect(Settings.decodeValue("from", " a@b ")).toEqual(Either.right(" a@b "))
    expect(Settings.decodeValue("bindHttp", "")).toEqual(Either.right(""))
  })
})

describe("Names", () => {
  it("derives config keys and environment variables from the flag name", () => {
    expect(Settings.fileKey("maxWait")).toBe("max_wait")
    expect(Settings.envName("maxWait")).toBe("FAILMAIL_MAX_WAIT")
    expect(Settings.envName("allowUnencryptedAuth")).toBe("FAILMAIL_ALLOW_UNENCRYPTED_AUTH")
  })

  it.each([["max_wait"], ["max-wait"], ["MaxWait"], ["maxWait"], ["MAX_WAIT"], ["MAX-WAIT"]])(
    "%s finds max-wait",
    (name) => {
      expect(Settings.lookup(name)).toBe("maxWait")
    }
  )

  it("unknown names find nothing", () => {
    expect(Settings.lookup("max_waits")).toBeUndefined()
    expect(Settings.lookup("")).toBeUndefined()
  })

  it("no two settings fold to the same name", () => {
    const folded = Settings.settingKeys.map((key) => Settings.foldName(Settings.settings[key].name))
    expect(new Set(folded).size).toBe(folded.length)
  })
})

describe("The settings table", () => {
  const expected: ReadonlyArray<readonly [string, Settings.Role, string]> = [
    ["config", "action", ""],
    ["write-config", "action", ""],
    ["version", "action", "false"],
    ["help", "action", "false"],
    ["all-dir", "setting", ""],
    ["batch-expr", "setting", `{{.Header.Get "X-Failmail-Split"}}`],
    ["bind-addr", "setting", "localhost:2525"],
    ["bind-http", "setting", "localhost:8025"],
    ["external-url", "setting", ""],
    ["credentials", "setting", ""],
    ["fail-dir", "setting", "failed"],
    ["from", "setting", "failmail@mail.example"],
    ["group-expr", "setting", `{{.Header.Get "Subject"}}`],
    ["max-wait", "setting", "5m0s"],
    ["pidfile", "setting", ""],
    ["relay-addr", "setting", "localhost:25"],
    ["relay-all", "setting", "false"],
    ["relay-password", "setting", ""],
    ["relay-user", "setting", ""],
    ["shutdown-timeout", "setting", "5s"],
    ["socket-fd", "setting", "0"],
    ["proxy-protocol", "setting", ""],
    ["tls-cert", "setting", ""],
    ["tls-key", "setting", ""],
    ["wait-period", "setting", "30s"],
    ["ssl", "setting", "false"],
    ["allow-unencrypted-auth", "setting", "false"],
    ["message-store", "setting", "incoming"],
    ["store", "setting", ""],
    ["template", "setting", ""],
    ["subject-prefix", "setting", "[failmail]"],
    ["rewrite-src", "setting", ""],
    ["rewrite-dest", "setting", ""],
    ["debug-receiver", "setting", "false"],
    ["max-message-size", "setting", "10MB"],
    ["max-connections", "setting", "100"],
    ["max-connections-per-ip", "setting", "50%"],
    ["line-timeout", "setting", "1m0s"],
    ["data-timeout", "setting", "10m0s"],
    ["max-recipients", "setting", "100"],
    ["relay-timeout", "setting", "30s"],
    ["relay-retry-for", "setting", "10m0s"],
    ["relay-rate", "setting", "60/m"],
    ["storm-threshold", "setting", "20"],
    ["repeat-interval", "setting", "0s"],
    ["forget-after", "setting", "24h0m0s"],
    ["back-after", "setting", "1h0m0s"],
    ["log-level", "setting", "info"],
    ["log-format", "setting", "text"],
    ["poll", "deprecated", ""],
    ["receiver", "deprecated", ""],
    ["sender", "deprecated", ""],
    ["memory-store", "deprecated", ""]
  ]

  it.each(expected)("--%s exists as %s with default %j", (name, role, defaultText) => {
    const key = Settings.lookup(name)
    expect(key).toBeDefined()
    if (key === undefined) return
    const setting = Settings.settings[key]
    expect(setting.name).toBe(name)
    expect(setting.role).toBe(role)
    expect(setting.help).not.toBe("")
    expect(setting.help).not.toContain("\n")
    if (role === "setting") {
      expect(Settings.encodeValue(key as Settings.ConfigKey, setting.defaultValue(host) as never)).toBe(defaultText)
    }
  })

  it("has no settings beyond the ones the spec names", () => {
    expect(Settings.settingKeys.map((key) => Settings.settings[key].name).sort()).toEqual(
      expected.map(([name]) => name).sort()
    )
  })

  it("the secrets are the credentials, the relay password and the store URL (it may hold a password)", () => {
    expect(Settings.settingKeys.filter((key) => Settings.settings[key].secret).sort()).toEqual(
      ["credentials", "relayPassword", "store"].sort()
    )
  })

  it.each(Settings.configKeys.map((key) => [key]))("the default of %s reads back equal from its text", (key) => {
    const value = Settings.defaults(host)[key]
    const decoded = Settings.decodeValue(key, Settings.encodeValue(key, value as never))
    // Duration.equals, not Equal.equals: a parsed 5s and Duration.seconds(5) hash differently.
    const same = (a: unknown, b: unknown) =>
      Duration.isDuration(a) && Duration.isDuration(b) ? Duration.equals(a, b) : Equal.equals(a, b)
    expect(Either.isRight(decoded) && same(decoded.right, value)).toBe(true)
  })

  it("defaults hold one value per real setting", () => {
    const values = Settings.defaults(host)
    expect(Object.keys(values)).toEqual([...Settings.configKeys])
    expect(values.from).toBe("failmail@mail.example")
    expect(GoDuration.format(values.waitPeriod)).toBe("30s")
    expect(values.maxMessageSize).toBe(10 * 1024 * 1024)
  })
})
