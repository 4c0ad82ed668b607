import { Duration, Either, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import * as Argv from "../src/domain/settings/Argv.ts"
import * as ConfigFile from "../src/domain/settings/ConfigFile.ts"
import * as Configuration from "../src/domain/settings/Configuration.ts"
import * as Settings from "../src/domain/settings/Settings.ts"

const host: Settings.HostFacts = { hostname: "mail.example" }

const right = <A>(result: Either.Either<A, unknown>): A => {
  if (Either.isLeft(result)) throw new Error(`expected success, got: ${JSON.stringify(result.left)}`)
  return result.right
}

const flagsOf = (argv: ReadonlyArray<string>) => right(Argv.parse(argv))
const envOf = (env: Record<string, string>) => right(Configuration.fromEnv(env))
const fileOf = (text: string) => right(ConfigFile.parse("test.conf", text))

const millis = (value: Duration.Duration): number => Duration.toMillis(value)

describe("Configuration.fromEnv", () => {
  it("reads FAILMAIL_<NAME> for every real setting", () => {
    const env = envOf({
      FAILMAIL_MAX_WAIT: "10m",
      FAILMAIL_BIND_ADDR: "0.0.0.0:25",
      FAILMAIL_ALLOW_UNENCRYPTED_AUTH: "true",
      FAILMAIL_MAX_MESSAGE_SIZE: "1MB",
      FAILMAIL_LOG_FORMAT: "json"
    })
    expect(millis(env.values.maxWait as Duration.Duration)).toBe(600_000)
    expect(env.values).toMatchObject({
      bindAddr: "0.0.0.0:25",
      allowUnencryptedAuth: true,
      maxMessageSize: 1024 * 1024,
      logFormat: "json"
    })
  })

  it("every real setting has its variable", () => {
    for (const key of Settings.configKeys) {
      const defaultText = Settings.encodeValue(key, Settings.settings[key].defaultValue(host) as never)
      if (defaultText === "") continue
      expect(Object.keys(envOf({ [Settings.envName(key)]: defaultText }).values)).toEqual([key])
    }
  })

  it("reads FAILMAIL_CONFIG as the config file", () => {
    expect(envOf({ FAILMAIL_CONFIG: "/etc/failmail.conf" }).values).toEqual({ config: "/etc/failmail.conf" })
  })

  it("ignores empty variables and other variables", () => {
    expect(envOf({ FAILMAIL_MAX_WAIT: "", PATH: "/bin", FAILMAIL_NOPE: "x", failmail_max_wait: "ten" }).values).toEqual({})
  })

  it.each([
    ["FAILMAIL_MAX_WAIT", "ten"],
    ["FAILMAIL_WAIT_PERIOD", "0"],
    ["FAILMAIL_SSL", "yes"],
    ["FAILMAIL_MAX_MESSAGE_SIZE", "lots"]
  ])("a bad %s=%s is one line naming the variable", (name, value) => {
    const result = Configuration.fromEnv({ [name]: value })
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left.startsWith(`${name}: `)).toBe(true)
      expect(result.left).not.toContain("\n")
    }
  })
})

describe("Configuration.merge: flag > FAILMAIL_<NAME> > config file > default", () => {
  const merge = (flags: ReadonlyArray<string>, env: Record<string, string>, file: string | undefined) =>
    Configuration.merge({ flags: flagsOf(flags), env: envOf(env), file: file === undefined ? undefined : fileOf(file), host })

  it("the default when nothing sets it", () => {
    expect(millis(merge([], {}, undefined).maxWait)).toBe(5 * 60_000)
    expect(millis(merge([], {}, "").maxWait)).toBe(5 * 60_000)
    expect(merge([], {}, undefined).from).toBe("failmail@mail.example")
  })

  it("the config file over the default", () => {
    expect(millis(merge([], {}, "max_wait = 6m\n").maxWait)).toBe(6 * 60_000)
  })

  it("the environment over the config file", () => {
    expect(millis(merge([], { FAILMAIL_MAX_WAIT: "7m" }, "max_wait = 6m\n").maxWait)).toBe(7 * 60_000)
  })

  it("the flag over the environment and the config file", () => {
    expect(millis(merge(["--max-wait", "8m"], { FAILMAIL_MAX_WAIT: "7m" }, "max_wait = 6m\n").maxWait)).toBe(8 * 60_000)
    expect(millis(merge(["--max-wait=8m"], {}, "max_wait = 6m\n").maxWait)).toBe(8 * 60_000)
  })

  it("each setting is decided on its own", () => {
    const config = merge(
      ["--bind-addr", "flag:1"],
      { FAILMAIL_BIND_ADDR: "env:1", FAILMAIL_RELAY_ADDR: "env:2" },
      "bind_addr = file:1\nrelay_addr = file:2\nfrom = file@example\n"
    )
    expect(config.bindAddr).toBe("flag:1")
    expect(config.relayAddr).toBe("env:2")
    expect(config.from).toBe("file@example")
    expect(config.failDir).toBe("failed")
  })

  it("a flag setting a boolean false wins over a file setting it true", () => {
    expect(merge(["--relay-all=false"], {}, "relay_all = true\n").relayAll).toBe(false)
    expect(merge([], { FAILMAIL_RELAY_ALL: "false" }, "relay_all = true\n").relayAll).toBe(false)
  })

  it("the config file is named by --config, else FAILMAIL_CONFIG", () => {
    expect(Configuration.configPath(flagsOf(["--config", "a.conf"]), envOf({ FAILMAIL_CONFIG: "b.conf" }))).toBe("a.conf")
    expect(Configuration.configPath(flagsOf([]), envOf({ FAILMAIL_CONFIG: "b.conf" }))).toBe("b.conf")
    expect(Configuration.configPath(flagsOf([]), envOf({}))).toBe("")
  })
})

describe("Configuration.validate: start-time rules, each a one-line error naming the setting", () => {
  const defaults = Settings.defaults(host)

  const refused = (changes: Partial<Settings.Values>): string => {
    const result = Configuration.validate({ ...defaults, ...changes })
    if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(changes)} to be refused`)
    expect(result.left).not.toContain("\n")
    return result.left
  }

  const accepted = (changes: Partial<Settings.Values>) => {
    expect(Configuration.validate({ ...defaults, ...changes })).toEqual(Either.right({ ...defaults, ...changes }))
  }

  it("the defaults are valid", () => {
    accepted({})
  })

  it("credentials without a colon", () => {
    expect(refused({ credentials: Redacted.make("alice") })).toMatch(/^credentials: .*username:password/)
  })

  it("credentials are split at the first colon, so the password may hold more", () => {
    accepted({ credentials: Redacted.make("alice:pa:ss") })
    accepted({ credentials: Redacted.make("alice:") })
  })

  it("only one of tls-cert and tls-key", () => {
    expect(refused({ tlsCert: "cert.pem" })).toMatch(/^tls-(cert|key): --tls-cert and --tls-key must be given together$/)
    expect(refused({ tlsKey: "key.pem" })).toMatch(/^tls-(cert|key): --tls-cert and --tls-key must be given together$/)
    accepted({ tlsCert: "cert.pem", tlsKey: "key.pem" })
  })

  it("ssl without a certificate", () => {
    expect(refused({ ssl: true })).toMatch(/^ssl: /)
    accepted({ ssl: true, tlsCert: "cert.pem", tlsKey: "key.pem" })
  })

  it("rewrite-src without rewrite-dest, and the reverse", () => {
    expect(refused({ rewriteSrc: "^(.*)@a$" })).toMatch(/^rewrite-(src|dest): --rewrite-src and --rewrite-dest must be given together$/)
    expect(refused({ rewriteDest: "$1@b" })).toMatch(/^rewrite-(src|dest): --rewrite-src and --rewrite-dest must be given together$/)
    accepted({ rewriteSrc: "^(.*)@a$", rewriteDest: "$1@b" })
  })

  it("rewrite-src that does not compile", () => {
    expect(refused({ rewriteSrc: "(", rewriteDest: "x" })).toMatch(/^rewrite-src: .*"\("/)
  })

  it("max-wait shorter than wait-period", () => {
    expect(refused({ maxWait: Duration.seconds(10) })).toMatch(/^max-wait: .*wait-period/)
    expect(refused({ waitPeriod: Duration.minutes(6) })).toMatch(/^max-wait: .*wait-period/)
    accepted({ maxWait: Duration.seconds(30) })
    accepted({ maxWait: Duration.nanos(30_000_000_000n) })
  })

  it.each([["wait-period"], ["max-wait"], ["shutdown-timeout"], ["relay-timeout"]])(
    "zero %s, however it is given",
    (name) => {
      const key = Settings.lookup(name) as Settings.SettingKey
      const problems = [
        Argv.parse([`--${name}=0`]),
        Configuration.fromEnv({ [Settings.envName(key)]: "0s" }),
        Either.mapLeft(ConfigFile.parse("z.conf", `${Settings.fileKey(key)} = 0\n`), ConfigFile.describeProblem)
      ]
      for (const result of problems) {
        expect(Either.isLeft(result)).toBe(true)
        if (Either.isLeft(result)) {
          expect(result.left).toContain("greater than zero")
          expect(result.left).not.toContain("\n")
        }
      }
      const [fromFlag, fromEnv, fromFile] = problems.map((result) => (Either.isLeft(result) ? result.left : ""))
      expect(fromFlag).toBe(`-${name}: duration must be greater than zero, got "0"`)
      expect(fromEnv?.startsWith(`${Settings.envName(key)}: `)).toBe(true)
      expect(fromFile?.startsWith(`z.conf:1: ${Settings.fileKey(key)}: `)).toBe(true)
    }
  )

  it("empty directories and relay", () => {
    expect(refused({ messageStore: "" })).toMatch(/^message-store: /)
    expect(refused({ failDir: "" })).toMatch(/^fail-dir: /)
    expect(refused({ relayAddr: "" })).toMatch(/^relay-addr: /)
    expect(refused({ bindAddr: "" })).toMatch(/^bind-addr: /)
    accepted({ bindAddr: "", socketFd: 3 })
  })
})

describe("Configuration.redacted", () => {
  it("hides secrets that are set, shows everything else", () => {
    const shown = Configuration.redacted({ ...Settings.defaults(host), credentials: Redacted.make("alice:pw"), relayPassword: Redacted.make("pw2") })
    expect(shown.credentials).toBe("<redacted>")
    expect(shown["relay-password"]).toBe("<redacted>")
    expect(shown["max-wait"]).toBe("5m0s")
    expect(JSON.stringify(shown)).not.toContain("pw")
    expect(Configuration.redacted(Settings.defaults(host)).credentials).toBe("")
  })
})

describe("Configuration.usage (--help)", () => {
  const text = Configuration.usage(host)
  const lines = text.split("\n")

  it.each(Settings.settingKeys.map((key) => [Settings.settings[key].name, key] as const))(
    "lists --%s with its help and default",
    (name, key) => {
      const setting = Settings.settings[key]
      const line = lines.find((candidate) => candidate.trimStart().startsWith(`--${name} `) || candidate.trim() === `--${name}`)
      expect(line, `no line for --${name}`).toBeDefined()
      expect(line).toContain(setting.help)
      if (setting.role === "setting" && setting.codec !== Settings.Bool) {
        const defaultText = Settings.encodeValue(key as Settings.ConfigKey, setting.defaultValue(host) as never)
        if (defaultText !== "") expect(line).toContain(`(default ${defaultText})`)
      }
    }
  )

  it("shows the host-dependent default of --from", () => {
    expect(text).toContain("(default failmail@mail.example)")
  })
})
