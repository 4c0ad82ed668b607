/**
 * What failmail holds back and remembers for quieter digests:
 *
 * - `GET /api/groups` — the memory of reported groups (batch key, group key,
 *   first and last seen, last reported, instances since first seen), most
 *   recently seen first;
 * - `GET /api/held` — summaries held back by the relay budget
 *   (`--relay-rate`), oldest first, with when the budget allows the next send;
 *   then the storms (`--storm-threshold`): per recipient set, the batches
 *   gathered for its next storm digest, with when it goes.
 *
 * Batches waiting for `--repeat-interval` are pending batches: `GET
 * /api/batches` marks them `held: "repeat"`.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import type { GroupRecord } from "../batching/GroupMemory.ts"
import { type HeldSummary, rfc3339 } from "../Status.ts"
import { Time } from "./Fields.ts"

/** One remembered group. */
export const RememberedGroup = Schema.Struct({
  batchKey: Schema.String,
  groupKey: Schema.String,
  firstSeen: Time.annotations({ description: "first instance since the group was last new" }),
  lastSeen: Time.annotations({ description: "latest reported instance" }),
  lastReported: Time.annotations({ description: "when it was last in a digest that was relayed or filed" }),
  instances: Schema.NonNegativeInt.annotations({ description: "instances reported since firstSeen" }),
  reports: Schema.NonNegativeInt.annotations({ description: "digests it was in since firstSeen" })
}).annotations({ identifier: "RememberedGroup" })

/** A remembered group for the API. */
export const rememberedGroupOf = (record: GroupRecord): typeof RememberedGroup.Type => ({
  batchKey: record.batchKey,
  groupKey: record.groupKey,
  firstSeen: rfc3339(record.firstSeen),
  lastSeen: rfc3339(record.lastSeen),
  lastReported: rfc3339(record.lastReported),
  instances: record.instances,
  reports: record.reports
})

/** One summary held back by the relay budget. */
export const Held = Schema.Struct({
  reason: Schema.Literal("budget", "storm").annotations({
    description: "budget: --relay-rate is spent for now; storm: gathered into the storm digest of its recipients (--storm-threshold)"
  }),
  recipients: Schema.Array(Schema.String),
  messageCount: Schema.NonNegativeInt,
  batches: Schema.Array(Schema.Struct({ key: Schema.String, count: Schema.NonNegativeInt })).annotations({
    description: "the batches it covers; several go out as one storm digest"
  }),
  dueAt: Time.annotations({ description: "when it came due" }),
  nextSendAt: Time.annotations({ description: "when the relay budget allows the next send, or the storm's digest goes" })
}).annotations({ identifier: "Held" })

/** A held summary for the API. */
export const heldOf = (held: HeldSummary): typeof Held.Type => ({
  reason: held.reason,
  recipients: [...held.recipients],
  messageCount: held.messageCount,
  batches: held.batches.map((batch) => ({ key: batch.key, count: batch.count })),
  dueAt: rfc3339(held.dueAt),
  nextSendAt: rfc3339(held.nextSendAt)
})

/** The `digests` endpoint group. */
export class DigestsApi extends HttpApiGroup.make("digests")
  .add(
    HttpApiEndpoint.get("groups", "/api/groups")
      .addSuccess(Schema.Array(RememberedGroup))
      .annotate(OpenApi.Summary, "Groups failmail reported (new or ongoing in the next digest), most recently seen first")
  )
  .add(
    HttpApiEndpoint.get("held", "/api/held")
      .addSuccess(Schema.Array(Held))
      .annotate(OpenApi.Summary, "Summaries held back by the relay budget (--relay-rate), oldest first, then storms gathering their digests (--storm-threshold)")
  ) {}
