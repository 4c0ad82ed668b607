/** `failmail spool`'s own flag and its one line per message (pure). */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { listingLine, oldestFirst, takeExport } from "../src/domain/store/SpoolListing.ts"

describe("--export", () => {
  it("is taken out of the command line in every spelling; the rest is left to the daemon's flags", () => {
    for (const args of [["--export", "out"], ["-export", "out"], ["--export=out"], ["-export=out"]]) {
      expect(takeExport(["--message-store", "s", ...args, "--config=c"])).toEqual(
        Either.right({ exportDir: "out", rest: ["--message-store", "s", "--config=c"] })
      )
    }
    expect(takeExport(["--message-store", "s"])).toEqual(Either.right({ exportDir: undefined, rest: ["--message-store", "s"] }))
    // After "--" nothing is a flag.
    expect(takeExport(["--", "--export", "x"])).toEqual(Either.right({ exportDir: undefined, rest: ["--", "--export", "x"] }))
    // Not a prefix match: --exporter is the daemon's to refuse.
    expect(takeExport(["--exporter"])).toEqual(Either.right({ exportDir: undefined, rest: ["--exporter"] }))
  })

  it("needs one non-empty directory", () => {
    expect(takeExport(["--export"])).toEqual(Either.left("flag -export needs a maildir directory"))
    expect(takeExport(["--export="])).toEqual(Either.left("flag -export needs a maildir directory"))
    expect(takeExport(["--export", "a", "--export", "b"])).toEqual(Either.left("flag -export given twice"))
  })
})

describe("listing lines", () => {
  it("are tab-separated: RFC 3339 arrival, key and subject as JSON strings, recipients", () => {
    expect(listingLine({ receivedAt: Date.UTC(2026, 10, 20, 8, 0, 1), batchKey: "", subject: "disk full", recipients: ["a@x", "B@x"] })).toBe(
      '2026-11-20T08:00:01.000Z\t""\t"disk full"\ta@x,B@x'
    )
  })

  it("never pass a tab, line break or control character from an e-mail", () => {
    const line = listingLine({ receivedAt: 1, batchKey: "a\tb", subject: "x\r\ny\u001b[31m", recipients: ["a\tb@x"] })
    expect(line.split("\t")).toHaveLength(4)
    expect(line).not.toMatch(/[\r\n\u001b]/)
    expect(line).toContain('"x\\r\\ny\\u001b[31m"')
  })

  it("come oldest first, equal times in id order", () => {
    const messages = [
      { id: "b", receivedAt: 2 },
      { id: "c", receivedAt: 1 },
      { id: "a", receivedAt: 2 }
    ]
    expect(oldestFirst(messages).map((message) => message.id)).toEqual(["c", "a", "b"])
  })
})
