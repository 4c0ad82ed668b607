/**
 * The command lines of `failmail silence` and `failmail expect`
 * (src/domain/cli/ApiCommand.ts), and what they print
 * (src/domain/cli/ApiOutput.ts): what each asks the API, and the argument
 * each bad command line is refused for.
 */
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { DEFAULT_URL, parse, parseMatcher, type Noun } from "../src/domain/cli/ApiCommand.ts"
import { describeAnswer, expectationsTable, silencesTable, table } from "../src/domain/cli/ApiOutput.ts"

const ok = (noun: Noun, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const parsed = parse(noun, args, env, "operator")
  if (Either.isLeft(parsed)) throw new Error(`refused: ${parsed.left}`)
  return parsed.right
}

const refused = (noun: Noun, args: ReadonlyArray<string>): string => {
  const parsed = parse(noun, args, {}, "operator")
  if (Either.isRight(parsed)) throw new Error(`accepted: ${JSON.stringify(parsed.right)}`)
  return parsed.left
}

describe("matchers", () => {
  it("split at the first =~, keeping everything after it as the regular expression", () => {
    expect(parseMatcher("subject=~^disk full")).toEqual(Either.right(["subject", "^disk full"]))
    expect(parseMatcher("to=~a=~b")).toEqual(Either.right(["to", "a=~b"]))
    expect(parseMatcher("group=~")).toEqual(Either.right(["group", ""]))
  })

  it("are refused, named, without =~ or without a field", () => {
    expect(Either.getLeft(parseMatcher("subject=disk"))._tag).toBe("Some")
    expect(refused("silence", ["add", "--for", "1h", "subject=disk"])).toBe(`matcher "subject=disk": write field=~regex (for instance 'subject=~^disk full')`)
    expect(refused("silence", ["add", "--for", "1h", "=~x"])).toMatch(/^matcher "=~x": write field=~regex/)
    expect(refused("silence", ["add", "--for", "1h", "subject=~a", "subject=~b"])).toBe(`matcher "subject=~b": subject given twice`)
    expect(refused("silence", ["add", "--for", "1h"])).toBe("at least one matcher is needed (field=~regex)")
  })
})

describe("failmail silence", () => {
  it("add: matchers, --for, --comment, and the login name as the default author", () => {
    expect(ok("silence", ["add", "--for", "2h", "--comment", "maintenance", "subject=~^disk full", "to=~ops@"])).toEqual({
      connection: { url: DEFAULT_URL, credentialsFile: undefined, timeoutMs: 10_000, output: "table" },
      action: { _tag: "AddSilence", body: { match: { subject: "^disk full", to: "ops@" }, for: "2h", comment: "maintenance", author: "operator" } }
    })
  })

  it("add: --until an RFC 3339 time, --author, options written --name=value and after the matchers", () => {
    expect(ok("silence", ["add", "batch=~db", "--until=2030-01-31T18:00:00Z", "--author=alice"]).action).toEqual({
      _tag: "AddSilence",
      body: { match: { batch: "db" }, until: "2030-01-31T18:00:00Z", comment: "", author: "alice" }
    })
  })

  it("add: refuses a bad --for or --until naming the argument, both, or neither", () => {
    expect(refused("silence", ["add", "--for", "banana", "subject=~x"])).toBe(
      `--for banana: invalid duration "banana" (use Go syntax such as 30s, 5m, 1h30m, 250ms)`
    )
    expect(refused("silence", ["add", "--for", "0s", "subject=~x"])).toBe("--for 0s: must be greater than zero")
    expect(refused("silence", ["add", "--until", "tomorrow", "subject=~x"])).toBe(
      "--until tomorrow: not an RFC 3339 time (for instance 2026-01-31T18:00:00Z)"
    )
    expect(refused("silence", ["add", "--for", "1h", "--until", "2030-01-01T00:00:00Z", "subject=~x"])).toBe("give --for or --until, not both")
    expect(refused("silence", ["add", "subject=~x"])).toBe("silence add needs --for (a duration such as 2h) or --until (an RFC 3339 time)")
    expect(refused("silence", ["add", "--for", "1h", "--for", "2h", "subject=~x"])).toBe("--for given more than once")
  })

  it("list and expire", () => {
    expect(ok("silence", ["list"]).action).toEqual({ _tag: "List", noun: "silence" })
    expect(ok("silence", ["expire", "s1", "s2"]).action).toEqual({ _tag: "Remove", noun: "silence", ids: ["s1", "s2"] })
    expect(refused("silence", ["expire"])).toBe("silence expire needs the id of what to expire")
    expect(refused("silence", ["list", "extra"])).toBe(`silence list takes no arguments, got "extra"`)
    expect(refused("silence", ["delete", "s1"])).toBe(`unknown command "delete": use add, list or expire (see failmail silence --help)`)
  })

  it("--url, $FAILMAIL_URL, -o json, --timeout, --credentials-file", () => {
    expect(ok("silence", ["list", "--url", "http://failmail.internal:8025/", "-o", "json", "--timeout", "3s", "--credentials-file", "/etc/failmail/api"]).connection).toEqual({
      url: "http://failmail.internal:8025",
      credentialsFile: "/etc/failmail/api",
      timeoutMs: 3_000,
      output: "json"
    })
    expect(ok("silence", ["list", "-ojson"], { FAILMAIL_URL: "https://failmail.example.com" }).connection).toMatchObject({
      url: "https://failmail.example.com",
      output: "json"
    })
    expect(ok("silence", ["list", "--url", "127.0.0.1:8025"]).connection.url).toBe("http://127.0.0.1:8025")
    expect(refused("silence", ["list", "--url", "ftp://failmail.internal"])).toBe("--url ftp://failmail.internal: not an http:// or https:// URL")
    expect(refused("silence", ["list", "--url", "http://"])).toBe("--url http://: not an http:// or https:// URL")
    expect(parse("silence", ["list"], { FAILMAIL_URL: "ftp://x" }, "operator")).toEqual(Either.left("FAILMAIL_URL=ftp://x: not an http:// or https:// URL"))
    expect(refused("silence", ["list", "-o", "yaml"])).toBe("--output yaml: use table or json")
    expect(refused("silence", ["list", "--timeout", "soon"])).toMatch(/^--timeout soon: invalid duration/)
    expect(refused("silence", ["list", "--bogus"])).toBe("unknown option --bogus")
    expect(refused("silence", ["list", "--for", "1h"])).toBe("unknown option --for")
  })

  it("never takes credentials as an argument, which ps would show", () => {
    expect(refused("silence", ["list", "--credentials", "ops:secret"])).toMatch(/^--credentials is not taken on the command line, where ps shows it/)
    expect(refused("silence", ["list", "--credentials=ops:secret"])).toMatch(/^--credentials is not taken/)
  })

  it("--help, or no verb, is the usage", () => {
    expect(ok("silence", []).action).toEqual({ _tag: "Help", noun: "silence" })
    expect(ok("silence", ["add", "--help"]).action).toEqual({ _tag: "Help", noun: "silence" })
  })
})

describe("failmail expect", () => {
  it("add: --name, --every, --to (repeatable) and matchers", () => {
    expect(ok("expect", ["add", "--name", "nightly backup", "--every", "24h", "--to", "ops@example.com", "--to", "dba@example.com", "subject=~^backup done"]).action).toEqual({
      _tag: "AddExpectation",
      body: { name: "nightly backup", match: { subject: "^backup done" }, every: "24h", to: ["ops@example.com", "dba@example.com"] }
    })
  })

  it("add: refuses what is missing or wrong, naming it", () => {
    expect(refused("expect", ["add", "--every", "24h", "--to", "a@b", "subject=~x"])).toBe("expect add needs --name")
    expect(refused("expect", ["add", "--name", "n", "--to", "a@b", "subject=~x"])).toBe("expect add needs --every (a Go duration such as 24h)")
    expect(refused("expect", ["add", "--name", "n", "--every", "daily", "--to", "a@b", "subject=~x"])).toMatch(/^--every daily: invalid duration/)
    expect(refused("expect", ["add", "--name", "n", "--every", "24h", "subject=~x"])).toBe("expect add needs --to (who gets the missing notice; repeat it for several)")
    expect(refused("expect", ["add", "--name", "n", "--every", "24h", "--to", "a@b"])).toBe("at least one matcher is needed (field=~regex)")
  })

  it("list and delete", () => {
    expect(ok("expect", ["list"]).action).toEqual({ _tag: "List", noun: "expect" })
    expect(ok("expect", ["delete", "e1"]).action).toEqual({ _tag: "Remove", noun: "expect", ids: ["e1"] })
    expect(refused("expect", ["expire", "e1"])).toBe(`unknown command "expire": use add, list or delete (see failmail expect --help)`)
  })
})

describe("output", () => {
  it("tables align their columns, two spaces apart, with no trailing blanks", () => {
    expect(table(["ID", "NAME"], [["a1", "x"], ["b", "longer"]])).toBe("ID  NAME\na1  x\nb   longer\n")
  })

  it("silences and expectations as tables", () => {
    const silences = silencesTable([
      {
        id: "s1",
        match: { subject: "^disk full" },
        startsAt: "2026-01-01T00:00:00.000Z",
        endsAt: "2026-01-01T02:00:00.000Z",
        comment: "reboot",
        author: "alice",
        active: true,
        heldMessages: 3
      }
    ]).split("\n")
    expect(silences[0]).toMatch(/^ID\s+STATE\s+MATCHERS\s+ENDS\s+HELD\s+AUTHOR\s+COMMENT$/)
    expect(silences[1]).toMatch(/^s1\s+active\s+subject=~\^disk full\s+2026-01-01T02:00:00.000Z\s+3\s+alice\s+reboot$/)
    const expectations = expectationsTable([
      {
        id: "e1",
        name: "backup",
        match: { subject: "^backup" },
        every: "24h0m0s",
        to: ["a@x", "b@x"],
        createdAt: "2026-01-01T00:00:00.000Z",
        lastMetAt: "",
        dueAt: "2026-01-02T00:00:00.000Z",
        missing: false,
        missingSince: ""
      }
    ]).split("\n")
    expect(expectations[1]).toMatch(/^e1\s+backup\s+met\s+24h0m0s\s+never\s+2026-01-02T00:00:00.000Z\s+a@x,b@x\s+subject=~\^backup$/)
  })

  it("a refusal is one line: status, field and error of the API's JSON, or the text of anything else", () => {
    expect(describeAnswer(400, "Bad Request", '{"error":"Invalid regular expression: /(/: Unterminated group","field":"match.subject"}')).toBe(
      "400 Bad Request: match.subject: Invalid regular expression: /(/: Unterminated group"
    )
    expect(describeAnswer(404, "Not Found", '{"error":"no silence s9","id":"s9"}')).toBe("404 Not Found: no silence s9")
    expect(describeAnswer(401, "Unauthorized", "authentication required\n")).toBe("401 Unauthorized: authentication required")
    expect(describeAnswer(502, "", "")).toBe("502")
  })
})
