/** Handlers of the `stats` group (`src/domain/api/Stats.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Clock, Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { type StatsInput, statsOf } from "../../../domain/api/Stats.ts"
import { VERSION } from "../../../domain/settings/Version.ts"
import { Batcher } from "../../batching/Batcher.ts"
import { History } from "../../delivery/History.ts"

/** What the stats are computed from, now (also what the dashboard's cards show). */
export const currentStats: Effect.Effect<StatsInput, never, Batcher | History> = Effect.gen(function* () {
  const batcher = yield* Batcher
  const history = yield* History
  const now = yield* Clock.currentTimeMillis
  const counts = yield* batcher.counts
  return { now, version: VERSION, counts, totals: history.totals }
})

/** The `stats` handlers. */
export const StatsLive = HttpApiBuilder.group(FailmailApi, "stats", (handlers) =>
  handlers.handle("stats", () => Effect.map(currentStats, statsOf))
)
