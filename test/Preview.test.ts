import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { PreviewAnswer, previewAnswerOf, PreviewRequest } from "../src/domain/api/Preview.ts"
import * as Preview from "../src/domain/batching/Preview.ts"

const timing = { waitPeriodMs: 30_000, maxWaitMs: 300_000 }

let serial = 0
const message = (fields: {
  readonly at: number
  readonly batch?: string
  readonly group?: string
  readonly subject?: string
  readonly to?: ReadonlyArray<string>
  readonly problems?: ReadonlyArray<string>
}): Preview.PreviewMessage => ({
  id: `m${++serial}`,
  receivedAt: fields.at,
  envelope: { mailFrom: "app@example.org", rcptTo: fields.to ?? ["ops@example.com"] },
  batchKey: fields.batch ?? "",
  groupKey: fields.group ?? fields.subject ?? "alert",
  subject: fields.subject ?? "alert",
  sender: "app@example.org",
  size: 100,
  problems: fields.problems ?? []
})

const build = (messages: ReadonlyArray<Preview.PreviewMessage>) => Preview.build(messages, [], { timing, subjectPrefix: "[failmail]" })

describe("preview of expressions", () => {
  it("titles each summary as the summary e-mail is titled, with its groups and counts", () => {
    const preview = build([
      message({ at: 0, subject: "disk full" }),
      message({ at: 1_000, subject: "disk full" }),
      message({ at: 2_000, subject: "timeout" }),
      message({ at: 3_000, batch: "db", subject: "replica lag" })
    ])
    expect(preview.summaries.map((summary) => [summary.subject, summary.batchKey, summary.groups])).toEqual([
      [
        "[failmail] 3 instances of 2 messages",
        "",
        [
          { key: "disk full", subject: "disk full", count: 2 },
          { key: "timeout", subject: "timeout", count: 1 }
        ]
      ],
      ["[failmail] 1 instance: replica lag", "db", [{ key: "replica lag", subject: "replica lag", count: 1 }]]
    ])
  })

  it("replays the batching windows: a message after the batch's deadline opens the next summary", () => {
    // Quiet period: 30 s after the last message; hard limit: 5 min after the first.
    const quiet = build([message({ at: 0 }), message({ at: 29_999 }), message({ at: 59_999 + 1 })])
    expect(quiet.summaries.map((summary) => summary.messageCount)).toEqual([2, 1])
    const steady = Array.from({ length: 12 }, (_, index) => message({ at: index * 29_000 }))
    expect(build(steady).summaries.map((summary) => summary.messageCount)).toEqual([11, 1])
  })

  it("splits by recipients so nobody gets a message not addressed to them", () => {
    const preview = build([
      message({ at: 0, to: ["ops@example.com", "DEV@example.com"], subject: "both" }),
      message({ at: 1, to: ["ops@example.com"], subject: "ops only" })
    ])
    expect(preview.summaries.map((summary) => [summary.recipients, summary.subject])).toEqual([
      [["dev@example.com"], "[failmail] 1 instance: both"],
      [["ops@example.com"], "[failmail] 2 instances of 2 messages"]
    ])
  })

  it("shows messages with no known recipient as a summary to nobody, not dropped", () => {
    const preview = build([message({ at: 0, to: [] }), message({ at: 1 })])
    expect(preview.summaries.map((summary) => [summary.recipients, summary.messageCount])).toEqual([
      [["ops@example.com"], 1],
      [[], 1]
    ])
  })

  it("lists the messages whose expressions failed, which still count under key \"\"", () => {
    const preview = build([message({ at: 0, subject: "x", group: "", problems: ["group-expr: invalid regular expression \"(\""] })])
    expect(preview.failures).toEqual([{ id: `m${serial}`, subject: "x", errors: ['group-expr: invalid regular expression "("'] }])
    const text = Preview.formatText(preview, "spool (failmail spool)")
    expect(text).toContain('1 message on which an expression failed (key ""):')
    expect(text).toContain(`m${serial} "x": group-expr: invalid regular expression "("`)
    expect(text.split("\n").slice(0, 3)).toEqual(["1 summary from 1 message in spool (failmail spool)", "", "[failmail] 1 instance: x"])
  })

  it("answers the API with the same structure, times in RFC 3339", () => {
    const json = Schema.encodeSync(PreviewAnswer)(previewAnswerOf(build([message({ at: Date.UTC(2026, 0, 1), subject: "s" })])))
    expect(json).toEqual({
      messages: 1,
      summaries: [
        {
          subject: "[failmail] 1 instance: s",
          recipients: ["ops@example.com"],
          batchKey: "",
          messages: 1,
          firstAt: "2026-01-01T00:00:00.000Z",
          lastAt: "2026-01-01T00:00:00.000Z",
          groups: [{ key: "s", subject: "s", count: 1 }]
        }
      ],
      failures: [],
      unreadable: []
    })
  })
})

describe("POST /api/preview request", () => {
  const decode = Schema.decodeUnknownEither(PreviewRequest)

  it("takes either expression, or none (the running ones)", () => {
    expect(decode({})).toEqual(Either.right({}))
    expect(decode({ groupExpr: "{{normalize subject}}" })).toEqual(Either.right({ groupExpr: "{{normalize subject}}" }))
  })

  it("refuses an expression that does not compile, naming the field and the setting", () => {
    const refused = decode({ batchExpr: "{{#if" })
    expect(Either.isLeft(refused)).toBe(true)
    if (Either.isLeft(refused)) {
      expect(refused.left.message).toContain("batchExpr")
      expect(refused.left.message).toContain('batch-expr: invalid expression "{{#if"')
    }
  })
})
