/** Handlers of the `cluster` group (`src/domain/api/Cluster.ts`). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { FailmailApi } from "../../../domain/api/Api.ts"
import { clusterInfoOf, ClusterUnavailable } from "../../../domain/api/Cluster.ts"
import { Cluster } from "../../cluster/Cluster.ts"

/** The `cluster` handlers. */
export const ClusterLive = HttpApiBuilder.group(FailmailApi, "cluster", (handlers) =>
  Effect.map(Cluster, (cluster) =>
    handlers.handle("cluster", () =>
      cluster.view.pipe(
        Effect.map(clusterInfoOf),
        Effect.mapError((error) => new ClusterUnavailable({ error: `the cluster's state cannot be read: ${error.message}` }))
      )
    )
  )
)
