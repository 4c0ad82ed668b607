import { Either, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { credentialsOf, isSet, sameSecret } from "../src/domain/settings/Secrets.ts"
import * as Settings from "../src/domain/settings/Settings.ts"

describe("secret settings (--credentials, --relay-password)", () => {
  it("are Redacted from the moment they are read: printed, inspected or serialized they show <redacted>", () => {
    const decoded = Settings.decodeValue("credentials", "alice:s3cr:et")
    if (Either.isLeft(decoded)) throw new Error(decoded.left)
    expect(String(decoded.right)).toBe("<redacted>")
    expect(JSON.stringify({ credentials: decoded.right })).toBe(`{"credentials":"<redacted>"}`)
    expect(`${decoded.right}`).not.toContain("s3cr")
    expect(Redacted.value(decoded.right)).toBe("alice:s3cr:et")
  })

  it("encode back to their real text (for --write-config)", () => {
    expect(Settings.encodeValue("relayPassword", Redacted.make(`p = w # "q"`))).toBe(`p = w # "q"`)
  })

  it("still refuse more than one line, without echoing the value", () => {
    const refused = Settings.decodeValue("relayPassword", "top\nsecret")
    expect(Either.isLeft(refused) && refused.left).toBe("must be a single line")
  })
})

describe("Secrets", () => {
  it("an empty secret is not set", () => {
    expect(isSet(Redacted.make(""))).toBe(false)
    expect(isSet(Redacted.make("x"))).toBe(true)
  })

  it("credentials split at the first colon, so the password may hold more", () => {
    const { user, password } = credentialsOf(Redacted.make("alice:pa:ss"))
    expect([Redacted.value(user), Redacted.value(password)]).toEqual(["alice", "pa:ss"])
    expect(String(password)).toBe("<redacted>")
  })

  it("sameSecret compares the text, any length", () => {
    expect(sameSecret("pa:ss", Redacted.make("pa:ss"))).toBe(true)
    expect(sameSecret("pa:s", Redacted.make("pa:ss"))).toBe(false)
    expect(sameSecret("", Redacted.make("pa:ss"))).toBe(false)
    expect(sameSecret("", Redacted.make(""))).toBe(true)
  })
})
