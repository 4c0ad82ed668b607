import { describe, expect, it } from "@effect/vitest"
import { makeRule, rewriteAll } from "../src/domain/message/Rewrite.ts"

describe("Rewrite", () => {
  const plusAddressing = makeRule("failmail\\+([^@]*)@example.com", "$1@example.com")

  it("rewrites a matching address with $1 expanded", () => {
    expect(rewriteAll(plusAddressing, ["failmail+user@example.com"])).toEqual(["user@example.com"])
  })

  it("keeps an address the pattern does not match", () => {
    expect(rewriteAll(plusAddressing, ["test@example.com"])).toEqual(["test@example.com"])
  })

  it("rewrites every address with .* to exactly the destination (no second, empty match)", () => {
    const everything = makeRule(".*", "user@example.com")
    expect(rewriteAll(everything, ["test@example.com"])).toEqual(["user@example.com"])
    expect(rewriteAll(everything, ["failmail+someone@example.com", "root@example.com"])).toEqual(["user@example.com"])
    expect(rewriteAll(everything, [""])).toEqual(["user@example.com"])
  })

  it("removes duplicates after rewriting", () => {
    expect(
      rewriteAll(plusAddressing, ["test@example.com", "failmail+test@example.com", "root@example.com"])
    ).toEqual(["test@example.com", "root@example.com"])
  })

  it("expands named groups and ${n}", () => {
    const rule = makeRule("^(?<user>[^@]+)@old\\.example$", "${user}@new.example")
    expect(rewriteAll(rule, ["ops@old.example", "ops@other.example"])).toEqual(["ops@new.example", "ops@other.example"])
  })

  it("is off when the source pattern is empty", () => {
    expect(makeRule("", "user@example.com")).toBeUndefined()
    expect(rewriteAll(undefined, ["a@example.com", "a@example.com"])).toEqual(["a@example.com"])
  })
})
