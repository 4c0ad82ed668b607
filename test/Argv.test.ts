import { Duration, Either } from "effect"
import { describe, expect, it } from "vitest"
import * as Argv from "../src/domain/settings/Argv.ts"

const parsed = (argv: ReadonlyArray<string>): Argv.FlagSettings => {
  const result = Argv.parse(argv)
  if (Either.isLeft(result)) throw new Error(`expected ${JSON.stringify(argv)} to parse, got: ${result.left}`)
  return result.right
}

const problem = (argv: ReadonlyArray<string>): string => {
  const result = Argv.parse(argv)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(argv)} to be refused`)
  expect(result.left).not.toContain("\n")
  return result.left
}

describe("Argv.parse: Go flag grammar", () => {
  it("no arguments set nothing", () => {
    expect(parsed([])).toEqual({ values: {}, warnings: [] })
  })

  it.each([
    [["-bind-addr", "0.0.0.0:25"]],
    [["--bind-addr", "0.0.0.0:25"]],
    [["-bind-addr=0.0.0.0:25"]],
    [["--bind-addr=0.0.0.0:25"]]
  ])("%j sets bind-addr", (argv) => {
    expect(parsed(argv).values).toEqual({ bindAddr: "0.0.0.0:25" })
  })

  it("decodes values with the setting's codec", () => {
    const values = parsed(["--max-wait", "1h30m", "-max-message-size=512KB", "--socket-fd", "3"]).values
    expect(Duration.toMillis(values.maxWait as Duration.Duration)).toBe(90 * 60 * 1000)
    expect(values.maxMessageSize).toBe(512 * 1024)
    expect(values.socketFd).toBe(3)
  })

  it("keeps everything after the first = as the value, and allows empty values", () => {
    expect(parsed(["--batch-expr=a=b"]).values).toEqual({ batchExpr: "a=b" })
    expect(parsed(["--bind-http="]).values).toEqual({ bindHttp: "" })
    expect(parsed(["--bind-http", ""]).values).toEqual({ bindHttp: "" })
  })

  it("takes the next argument as the value even if it starts with -", () => {
    expect(parsed(["--subject-prefix", "-x-"]).values).toEqual({ subjectPrefix: "-x-" })
  })

  it("a later flag wins over an earlier one", () => {
    expect(parsed(["--bind-addr", "a:1", "--bind-addr=b:2"]).values).toEqual({ bindAddr: "b:2" })
  })

  describe("booleans", () => {
    it.each([[["--ssl"]], [["-ssl"]], [["--ssl=true"]], [["-ssl=1"]], [["--ssl=T"]]])("%j is true", (argv) => {
      expect(parsed(argv).values).toEqual({ ssl: true })
    })

    it.each([[["--ssl=false"]], [["-ssl=false"]], [["--ssl=0"]], [["--ssl=F"]]])("%j is false", (argv) => {
      expect(parsed(argv).values).toEqual({ ssl: false })
    })

    it("do not take the next argument as their value", () => {
      expect(parsed(["--relay-all", "--ssl"]).values).toEqual({ relayAll: true, ssl: true })
      expect(problem(["--ssl", "false"])).toContain(`"false"`)
    })

    it("a bad boolean names the flag", () => {
      expect(problem(["--ssl=yes"])).toMatch(/^-ssl: .*"yes"/)
    })
  })

  describe("--", () => {
    it("ends the flags", () => {
      expect(parsed(["--ssl", "--"]).values).toEqual({ ssl: true })
    })

    it("what follows it is not a flag (and failmail takes no arguments)", () => {
      expect(problem(["--", "--ssl"])).toContain(`"--ssl"`)
    })
  })

  it("refuses positional arguments", () => {
    expect(problem(["serve"])).toContain(`"serve"`)
    expect(problem(["-"])).toContain(`"-"`)
  })

  describe("unknown flags", () => {
    it.each([[["--nope"]], [["-nope"]], [["--nope=1"]], [["--ssl", "--nope", "x"]]])("%j is one line naming -nope", (argv) => {
      expect(problem(argv)).toMatch(/^unknown flag -nope\b/)
    })

    it("there is no prefix matching", () => {
      expect(problem(["--relay=x"])).toContain("-relay")
      expect(problem(["--wait=30s"])).toContain("-wait")
    })
  })

  describe("bad values", () => {
    it.each([
      [["--max-wait", "ten"], "-max-wait", "ten"],
      [["--max-wait=5"], "-max-wait", "5"],
      [["-wait-period=0"], "-wait-period", "greater than zero"],
      [["--max-message-size", "huge"], "-max-message-size", "huge"],
      [["--socket-fd=-1"], "-socket-fd", "-1"],
      [["--log-level", "loud"], "-log-level", "loud"]
    ])("%j names the flag", (argv, flag, detail) => {
      const message = problem(argv)
      expect(message.startsWith(`${flag}: `)).toBe(true)
      expect(message).toContain(detail)
    })

    it("a missing value names the flag", () => {
      expect(problem(["--bind-addr"])).toContain("-bind-addr")
    })
  })

  describe("help and version", () => {
    it.each([[["-h"]], [["--h"]], [["-help"]], [["--help"]]])("%j asks for help", (argv) => {
      expect(parsed(argv).values.help).toBe(true)
    })

    it.each([[["-version"]], [["--version"]]])("%j asks for the version", (argv) => {
      expect(parsed(argv).values.version).toBe(true)
    })

    it("--config and --write-config take paths", () => {
      expect(parsed(["--config", "a.conf", "-write-config=b.conf"]).values).toEqual({
        config: "a.conf",
        writeConfig: "b.conf"
      })
    })
  })

  describe("deprecated flags", () => {
    it.each([[["--poll", "5s"]], [["--poll=10s"]], [["--receiver"]], [["--sender=false"]], [["-memory-store"]]])(
      "%j is accepted with one warning and no effect",
      (argv) => {
        const result = parsed(argv)
        expect(result.values).toEqual({})
        expect(result.warnings).toHaveLength(1)
        expect(result.warnings[0]).toMatch(/deprecated/)
        expect(result.warnings[0]).toContain(`-${argv[0]?.replace(/^-+/, "").replace(/=.*/, "")}`)
      }
    )

    it("still consume their value", () => {
      expect(parsed(["--poll", "5s", "--ssl"])).toEqual({ values: { ssl: true }, warnings: [expect.any(String)] })
    })
  })
})
