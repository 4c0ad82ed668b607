/** Fixtures of what failmail reports about itself: totals, a pending batch and a summary, at a fixed moment. */
import type { TotalsInput } from "../../src/domain/api/Stats.ts"
import type { BatchSnapshot, SummaryRecord } from "../../src/domain/Status.ts"

/** 2026-11-25T08:30:00Z. */
export const T0 = Date.UTC(2026, 10, 25, 8, 30, 0)

/** Totals since a start at {@link T0}. */
export const totals: TotalsInput = {
  startedAt: T0,
  received: 5,
  rejected: 1,
  summariesDelivered: 2,
  summariesFailed: 1,
  lastReceivedAt: T0 + 60_000
}

/** A pending batch "db" with two groups, due at T0 + 2 min. */
export const batch = (overrides: Partial<BatchSnapshot> = {}): BatchSnapshot => ({
  key: "db",
  recipients: ["ops@example.com", "dev@example.com"],
  messageCount: 3,
  firstAt: T0 + 10_000,
  lastAt: T0 + 50_000,
  dueAt: T0 + 120_000,
  held: "",
  groups: [
    { key: "g1", subject: "disk full", count: 2 },
    { key: "g2", subject: "cpu hot", count: 1 }
  ],
  ...overrides
})

/** A delivered summary of batch "web". */
export const summary = (overrides: Partial<SummaryRecord> = {}): SummaryRecord => ({
  id: 7,
  batchKey: "web",
  subject: "[failmail] 2 instances: timeout",
  recipients: ["ops@example.com"],
  messageCount: 2,
  groupCount: 1,
  createdAt: T0 + 30_000,
  status: "delivered",
  attempts: 1,
  updatedAt: T0 + 31_000,
  error: "",
  failedPath: "",
  messageId: "<7@test>",
  thread: "<7@test>",
  ...overrides
})
