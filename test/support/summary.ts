/** Shared fixtures for the summary tests (SummaryText, Renderer). */
import type { SummaryGroup } from "../../src/domain/delivery/Summary.ts"

/** A fixed instant the fixtures' times count from. */
export const T0 = Date.UTC(2023, 10, 14, 22, 13, 20)

/** Group `n` of a summary: one instance, its own key, subject, sender and body, times after {@link T0}. */
export const summaryGroup = (n: number, overrides: Partial<SummaryGroup> = {}): SummaryGroup => ({
  batchKey: "batch",
  key: `key ${n}`,
  count: 1,
  firstAt: T0 + n * 1000,
  lastAt: T0 + n * 2000,
  subject: `subject ${n}`,
  senders: [`app${n}@example.com`],
  body: `body of group ${n}`,
  novelty: "new",
  quietMs: 0,
  firstSeen: T0 + n * 1000,
  instancesSince: 1,
  times: [T0 + n * 1000],
  ...overrides
})
