import { describe, expect, it } from "@effect/vitest"
import type { SummaryGroup, SummaryInput } from "../src/domain/delivery/Summary.ts"
import * as SummaryText from "../src/domain/delivery/SummaryText.ts"
import { summaryGroup as group, T0 } from "./support/summary.ts"

const input = (groups: ReadonlyArray<SummaryGroup>): SummaryInput => ({
  batchKey: "batch",
  batches: [{ key: "batch", count: groups.reduce((sum, g) => sum + g.count, 0) }],
  recipients: ["ops@example.com"],
  groups,
  createdAt: T0 + 60_000
})

const isPlain = (value: unknown): boolean => {
  if (Array.isArray(value)) return value.every(isPlain)
  if (value !== null && typeof value === "object") {
    return Object.getPrototypeOf(value) === Object.prototype && Object.values(value).every(isPlain)
  }
  return true
}

describe("subjectOf", () => {
  it("one group, one instance", () => {
    expect(SummaryText.subjectOf(input([group(1, { subject: "disk full" })]), "[failmail]")).toBe(
      "[failmail] 1 instance: disk full"
    )
  })

  it("one group, several instances", () => {
    expect(SummaryText.subjectOf(input([group(1, { count: 7, subject: "disk full" })]), "[failmail]")).toBe(
      "[failmail] 7 instances: disk full"
    )
  })

  it("several groups", () => {
    const groups = [group(1, { count: 3 }), group(2, { count: 2 }), group(3, { count: 2 })]
    expect(SummaryText.subjectOf(input(groups), "[failmail]")).toBe("[failmail] 7 instances of 3 messages")
  })

  it("uses the given prefix", () => {
    expect(SummaryText.subjectOf(input([group(1, { subject: "x" })]), "[alerts]")).toBe("[alerts] 1 instance: x")
    expect(SummaryText.subjectOf(input([group(1, { subject: "x" })]), "")).toBe("1 instance: x")
  })

  it("strips CR, LF and other control characters and collapses whitespace", () => {
    const subject = SummaryText.subjectOf(
      input([group(1, { subject: "boom\r\nBcc: evil@x\u0000\t  tail\u2028end" })]),
      "[failmail]"
    )
    expect(subject).toBe("[failmail] 1 instance: boom Bcc: evil@x tail end")
    expect(subject).not.toMatch(/[\r\n\u0000-\u001f]/)
  })

  it("is bounded in length", () => {
    const subject = SummaryText.subjectOf(input([group(1, { subject: "x".repeat(100_000) })]), "[failmail]")
    expect(subject).toBe(`[failmail] 1 instance: ${"x".repeat(SummaryText.MAX_SUBJECT_CHARS - 1)}…`)
  })
})

describe("formatting", () => {
  it("formats RFC 2822 dates in UTC and ISO", () => {
    expect(SummaryText.formatRfc2822(T0)).toBe("Tue, 14 Nov 2023 22:13:20 +0000")
    expect(SummaryText.formatIso(T0)).toBe("2023-11-14T22:13:20.000Z")
    expect(SummaryText.formatRfc2822(Number.NaN)).toBe("unknown")
    expect(SummaryText.formatIso(Number.POSITIVE_INFINITY)).toBe("")
  })

  it("cuts long bodies and marks the cut", () => {
    const { text, cutChars } = SummaryText.excerpt("a".repeat(5_234), 4_000)
    expect(cutChars).toBe(1_234)
    expect(text).toBe(`${"a".repeat(4_000)}\n[… 1234 more characters cut]`)
    expect(SummaryText.excerpt("short\r\nbody\r\n", 4_000)).toEqual({ text: "short\nbody", cutChars: 0 })
  })

  it("never cuts inside a surrogate pair", () => {
    const { text } = SummaryText.excerpt(`${"a".repeat(9)}😀${"b".repeat(10)}`, 10)
    expect(text.startsWith(`${"a".repeat(9)}\n`)).toBe(true)
  })
})

describe("viewOf", () => {
  it("describes the summary with plain objects", () => {
    const view = SummaryText.viewOf(
      input([
        group(1, { count: 3, senders: ["a@x", "", "b@x"], body: "line 1\r\nline 2" }),
        group(2, { subject: "second\r\nline" })
      ]),
      { subjectPrefix: "[failmail]" }
    )
    expect(isPlain(view)).toBe(true)
    expect(view).toMatchObject({
      subject: "[failmail] 4 instances of 2 messages",
      batchKey: "batch",
      recipients: ["ops@example.com"],
      messageCount: 4,
      groupCount: 2,
      first: "Tue, 14 Nov 2023 22:13:21 +0000",
      firstIso: "2023-11-14T22:13:21.000Z",
      last: "Tue, 14 Nov 2023 22:13:24 +0000",
      hasBriefGroups: false,
      hasOmitted: false,
      bodiesLimited: false
    })
    expect(view.groups[0]).toMatchObject({
      index: 1,
      count: 3,
      instancesWord: "instances",
      senders: ["a@x", "<>", "b@x"],
      sendersText: "a@x, <>, b@x",
      hasBody: true,
      body: "line 1\nline 2",
      bodyCut: false
    })
    expect(view.groups[1]).toMatchObject({ index: 2, count: 1, instancesWord: "instance", subject: "second line" })
  })

  it("stays bounded whatever the flood", () => {
    const groups = Array.from({ length: 1_500 }, (_, i) =>
      group(i + 1, { count: 2, body: "x".repeat(10_000), senders: Array.from({ length: 50 }, (_, j) => `s${j}@x`) })
    )
    const view = SummaryText.viewOf(input(groups), { subjectPrefix: "[failmail]" })
    expect(view.groupCount).toBe(1_500)
    expect(view.messageCount).toBe(3_000)
    expect(view.groups).toHaveLength(SummaryText.MAX_DETAILED_GROUPS)
    expect(view.groups.filter((g) => g.hasBody)).toHaveLength(SummaryText.MAX_BODY_GROUPS)
    expect(view.groups[0]?.body).toContain("[… 6000 more characters cut]")
    expect(view.groups[0]?.bodyCut).toBe(true)
    expect(view.groups[0]?.senders).toHaveLength(SummaryText.MAX_SENDERS)
    expect(view.groups[0]?.sendersText).toMatch(/ and 45 more$/)
    expect(view.groups[SummaryText.MAX_BODY_GROUPS]?.body).toBe("")
    expect(view.bodiesLimited).toBe(true)
    expect(view.briefGroups).toHaveLength(SummaryText.MAX_LISTED_GROUPS - SummaryText.MAX_DETAILED_GROUPS)
    expect(view.briefGroups[0]).toEqual({
      index: 201,
      count: 2,
      instancesWord: "instances",
      subject: "subject 201",
      isNew: true,
      novelty: "new"
    })
    expect(view).toMatchObject({ hasOmitted: true, omittedGroups: 500, omittedMessages: 1_000 })
    expect(JSON.stringify(view).length).toBeLessThan(600_000)
  })

  it("takes smaller limits", () => {
    const view = SummaryText.viewOf(input([group(1), group(2), group(3), group(4)]), {
      subjectPrefix: "[failmail]",
      limits: { bodyGroups: 1, detailedGroups: 2, listedGroups: 3 }
    })
    expect(view.groups.map((g) => g.hasBody)).toEqual([true, false])
    expect(view.briefGroups.map((g) => g.index)).toEqual([3])
    expect(view.omittedGroups).toBe(1)
  })
})

describe("plainText", () => {
  it("renders the original failmail layout", () => {
    const text = SummaryText.plainText(
      SummaryText.viewOf(input([group(1, { count: 2, subject: "disk full", body: "df says 100%" })]), {
        subjectPrefix: "[failmail]"
      })
    )
    expect(text).toContain("--- Failmail ---\nTotal messages: 2\nUnique messages: 1\n")
    expect(text).toContain("- Message group 1 of 1: 2 instances\n")
    expect(text).toContain('Subject: "disk full"\n')
    expect(text).toContain("Body:\ndf says 100%\n")
  })
})

describe("new and ongoing groups", () => {
  it("the view counts new and ongoing groups; an ongoing one says since when and how many", () => {
    const view = SummaryText.viewOf(
      input([
        group(1),
        group(2, { count: 3, novelty: "ongoing", firstSeen: T0 - 86_400_000, instancesSince: 120 })
      ]),
      { subjectPrefix: "[failmail]" }
    )
    expect(view).toMatchObject({ newCount: 1, ongoingCount: 1 })
    expect(view.groups.map((g) => [g.novelty, g.ongoingText])).toEqual([
      ["new", ""],
      ["ongoing", "first seen Mon, 13 Nov 2023 22:13:20 +0000, 120 instances since"]
    ])
    const text = SummaryText.plainText(view)
    expect(text).toContain("- Message group 1 of 2: 1 instance\n  New\n")
    expect(text).toContain("- Message group 2 of 2: 3 instances\n  Ongoing: first seen Mon, 13 Nov 2023 22:13:20 +0000, 120 instances since\n")
  })
})

describe("back and stopped groups", () => {
  it("a quiet spell reads in its two largest units", () => {
    expect(SummaryText.formatQuiet(7_500_000)).toBe("2h 5m")
    expect(SummaryText.formatQuiet(7_200_000)).toBe("2h")
    expect(SummaryText.formatQuiet(3 * 86_400_000 + 4 * 3_600_000 + 5_000)).toBe("3d 4h")
    expect(SummaryText.formatQuiet(45_000)).toBe("45s")
    expect(SummaryText.formatQuiet(750)).toBe("750ms")
  })

  it("counts back groups apart, marks them back after their quiet spell, and lists what stopped, one line each, bounded in width", () => {
    const view = SummaryText.viewOf(
      {
        ...input([group(1), group(2, { novelty: "back", quietMs: 5_400_000 }), group(3, { novelty: "ongoing" })]),
        stopped: [{ subject: "db down\r\nBcc: x@evil.example", lastSeen: T0 }, { subject: "x".repeat(500), lastSeen: T0 }]
      },
      { subjectPrefix: "[failmail]" }
    )
    expect([view.newCount, view.backCount, view.ongoingCount]).toEqual([1, 1, 1])
    expect(view.groups.map((g) => [g.novelty, g.isBack, g.backText])).toEqual([
      ["new", false, ""],
      ["back", true, "back after 1h 30m"],
      ["ongoing", false, ""]
    ])
    expect(view.stopped[0]?.line).toBe("Stopped: db down Bcc: x@evil.example (last seen Tue, 14 Nov 2023 22:13:20 +0000)")
    expect(view.stopped[1]?.subject).toHaveLength(SummaryText.MAX_SUBJECT_CHARS)
    const plain = SummaryText.plainText(view)
    expect(plain).toContain("New groups: 1\nBack groups: 1\nOngoing groups: 1\n")
    expect(plain).toContain("  Back: back after 1h 30m; first seen")
    expect(plain).toContain("\nStopped: db down Bcc: x@evil.example (last seen Tue, 14 Nov 2023 22:13:20 +0000)\n")
  })
})
