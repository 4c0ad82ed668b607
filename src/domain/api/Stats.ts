/**
 * `GET /api/stats`: counts and totals, in the original failmail's
 * PascalCase shape (scripts that read `ActiveBatches` keep working).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { rfc3339 } from "../Status.ts"

const Time = Schema.String.annotations({ description: "RFC 3339, UTC; 0001-01-01T00:00:00Z when it never happened" })
const Count = Schema.NonNegativeInt

/**
 * The stats object. The first three fields are the original failmail's:
 * `LastReceived` is the latest arrival among pending batches, so it is the
 * zero time whenever nothing is pending (it resets after a flush). The
 * others use the same PascalCase; `LastAccepted` is the last message
 * accepted since start, pending or not.
 */
export const Stats = Schema.Struct({
  ActiveBatches: Count,
  ActiveMessages: Count,
  LastReceived: Time,
  LastAccepted: Time,
  Received: Count,
  Rejected: Count,
  Silenced: Count.annotations({ description: "messages silences hold back now (stored, not summarized until the silence ends)" }),
  SummariesDelivered: Count,
  SummariesFailed: Count,
  StartedAt: Time,
  Now: Time,
  UptimeSeconds: Count,
  Version: Schema.String
}).annotations({ identifier: "Stats" })

/** The stats object as it goes out. */
export type Stats = typeof Stats.Type

/** Totals since start, as History keeps them. */
export interface TotalsInput {
  readonly startedAt: number
  readonly received: number
  readonly rejected: number
  readonly summariesDelivered: number
  readonly summariesFailed: number
  readonly lastReceivedAt: number
  /** Messages summarized whose removal from the store is not written yet. */
  readonly removalsPending?: number
}

/** What the stats are computed from. */
export interface StatsInput {
  readonly now: number
  readonly version: string
  /** Pending now; `lastAt` is the latest arrival among pending batches, 0 when none is pending. */
  readonly counts: { readonly batches: number; readonly messages: number; readonly silenced: number; readonly lastAt: number }
  readonly totals: TotalsInput
}

/** The stats object of a moment. */
export const statsOf = (input: StatsInput): Stats => ({
  ActiveBatches: input.counts.batches,
  ActiveMessages: input.counts.messages,
  LastReceived: rfc3339(input.counts.lastAt),
  LastAccepted: rfc3339(input.totals.lastReceivedAt),
  Received: input.totals.received,
  Rejected: input.totals.rejected,
  Silenced: input.counts.silenced,
  SummariesDelivered: input.totals.summariesDelivered,
  SummariesFailed: input.totals.summariesFailed,
  StartedAt: rfc3339(input.totals.startedAt),
  Now: rfc3339(input.now),
  UptimeSeconds: Math.max(0, Math.floor((input.now - input.totals.startedAt) / 1000)),
  Version: input.version
})

/** The `stats` endpoint group. */
export class StatsApi extends HttpApiGroup.make("stats").add(
  HttpApiEndpoint.get("stats", "/api/stats")
    .addSuccess(Stats)
    .annotate(OpenApi.Summary, "Pending counts and totals since start")
) {}
