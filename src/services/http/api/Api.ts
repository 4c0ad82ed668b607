/**
 * The API's handlers, one layer per endpoint group (see `src/domain/api/Api.ts`
 * for how groups are described and added).
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Layer } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { BatchesLive } from "./Batches.ts"
import { ClusterLive } from "./Cluster.ts"
import { DigestsLive } from "./Digests.ts"
import { MessagesLive } from "./Messages.ts"
import { PreviewLive } from "./Preview.ts"
import { ExpectationsLive } from "./Expectations.ts"
import { ProbesLive } from "./Probes.ts"
import { SilencesLive } from "./Silences.ts"
import { StatsLive } from "./Stats.ts"
import { SummariesLive } from "./Summaries.ts"

/** The implemented API. */
export const ApiLive = HttpApiBuilder.api(FailmailApi).pipe(
  Layer.provide([StatsLive, BatchesLive, MessagesLive, SummariesLive, ProbesLive, PreviewLive, SilencesLive, ExpectationsLive, DigestsLive, ClusterLive])
)
