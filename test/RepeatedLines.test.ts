import { describe, expect, it } from "vitest"
import * as RepeatedLines from "../src/domain/RepeatedLines.ts"

describe("RepeatedLines (bounded logs)", () => {
  it("writes the first of a kind, counts the rest until its interval ends, and goes on counting while they come", () => {
    const tally = RepeatedLines.empty()
    expect(RepeatedLines.note(tally, "451 ENOSPC")).toBe(true)
    for (let n = 0; n < 3_593; n++) expect(RepeatedLines.note(tally, "451 ENOSPC")).toBe(false)
    // Another kind is written at once.
    expect(RepeatedLines.note(tally, "451 ECONNREFUSED")).toBe(true)
    expect(RepeatedLines.endInterval(tally, "451 ENOSPC")).toBe(3_593)
    expect(RepeatedLines.note(tally, "451 ENOSPC")).toBe(false)
    expect(RepeatedLines.endInterval(tally, "451 ENOSPC")).toBe(1)
  })

  it("a kind with nothing counted in its interval is closed: its next occurrence is written at once", () => {
    const tally = RepeatedLines.empty()
    expect(RepeatedLines.note(tally, "k")).toBe(true)
    expect(RepeatedLines.endInterval(tally, "k")).toBe(0)
    expect(RepeatedLines.note(tally, "k")).toBe(true)
    expect(RepeatedLines.endInterval(tally, "never")).toBe(0)
  })

  it("says how many, with the reason", () => {
    expect(RepeatedLines.countLine("cannot store messages; answered 451", 3_593, "ENOSPC")).toBe(
      "cannot store messages; answered 451 × 3,593 more in the last 10 s: ENOSPC"
    )
  })
})
