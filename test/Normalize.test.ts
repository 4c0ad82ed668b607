import { describe, expect, it } from "vitest"
import { normalize } from "../src/domain/message/Normalize.ts"

describe("normalize", () => {
  const table: ReadonlyArray<readonly [string, string]> = [
    // numbers
    ["user 42", "user <n>"],
    ["retries: -3", "retries: <n>"],
    ["load 0.25 over 1.5", "load <n> over <n>"],
    ["offset +0100", "offset <n>"],
    ["used 512MB", "used <n>MB"],
    ["count 12345678", "count <n>"],
    ["answer is 42.", "answer is <n>."],
    ["range a-5", "range a-<n>"],
    ["host db01 is down", "host db01 is down"],
    ["version v1.2.3 and 1.2.3", "version v1.2.3 and 1.2.3"],
    // e-mail addresses
    ["bounce from Ops+alerts@mail.example.com today", "bounce from <email> today"],
    ["<root@localhost.localdomain>", "<<email>>"],
    // URLs
    ["see https://example.com/a/b?c=1&d=2 now", "see <url> now"],
    ["see https://example.com/x.", "see <url>."],
    ["(http://example.com:8080/)", "(<url>)"],
    // UUIDs
    ["job 123e4567-e89b-12d3-a456-426614174000 failed", "job <uuid> failed"],
    ["job 123E4567-E89B-12D3-A456-426614174000 failed", "job <uuid> failed"],
    // IP addresses
    ["from 10.0.0.1", "from <ip>"],
    ["from 192.168.1.20:2525.", "from <ip>."],
    ["from [::1]:8080", "from <ip>"],
    ["from fe80::1 and ::1", "from <ip> and <ip>"],
    ["from 2001:db8:0:0:0:0:0:1", "from <ip>"],
    ["from 2001:db8::8a2e:370:7334", "from <ip>"],
    ["from ::ffff:192.0.2.1", "from <ip>"],
    ["a :: b std::vector", "a :: b std::vector"],
    // hex ids
    ["commit deadbeef1234", "commit <hex>"],
    ["ptr 0x7ffee4b2 and 0x1f", "ptr <hex> and <hex>"],
    ["trace 4bf92f3577b34da6a3ce929d0e0e4736", "trace <hex>"],
    ["deadbeef facade", "deadbeef facade"],
    // dates and times
    ["at 2026-11-25T09:03:00Z", "at <time>"],
    ["at 2026-11-25T09:03:00.123+01:00", "at <time>"],
    ["on 2026-11-25", "on <time>"],
    ["at 09:03:00.123", "at <time>"],
    ["at 09:03", "at <time>"],
    ["at 2026-11-25 09:03:00", "at <time>"],
    // durations
    ["timeout after 1523ms", "timeout after <duration>"],
    ["took 1.5s, then 30s.", "took <duration>, then <duration>."],
    ["wait 5m or 1h30m or 250us", "wait <duration> or <duration> or <duration>"],
    ["uptime 3d", "uptime <duration>"],
    // quoted strings
    ['key "user 42" missing', "key <str> missing"],
    ['escaped "a \\" b" here', "escaped <str> here"],
    ["table 'users' locked", "table <str> locked"],
    ["don't won't", "don't won't"],
    // whitespace
    ["  a \n\t b  ", "a b"],
    ["", ""]
  ]

  it.each(table)("normalize(%j) = %j", (input, expected) => {
    expect(normalize(input)).toBe(expected)
  })

  it("groups the docs/batching.md example together", () => {
    expect(normalize("timeout after 1523ms for user 42")).toBe(normalize("timeout after 87ms for user 7"))
    expect(normalize("timeout after 87ms for user 7")).toBe("timeout after <duration> for user <n>")
  })

  it("keeps different messages apart", () => {
    expect(normalize("disk full on db01")).not.toBe(normalize("disk full on web01"))
    expect(normalize("connection refused")).not.toBe(normalize("connection reset"))
  })

  it("is idempotent", () => {
    for (const [input] of table) expect(normalize(normalize(input))).toBe(normalize(input))
  })
})
