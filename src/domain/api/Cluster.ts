/**
 * `GET /api/cluster`: the replicas sharing failmail's store and which one
 * sends. Every replica answers it itself (it is never forwarded to the
 * sender). On the embedded store: one replica, the sender.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import type { ClusterView } from "../cluster/Replica.ts"
import { rfc3339 } from "../Status.ts"
import { answer } from "./Errors.ts"
import { Time } from "./Fields.ts"

/** One replica. */
export const ClusterReplica = Schema.Struct({
  id: Schema.String.annotations({ description: "random, per running configuration (a restart or a reload gives a new one)" }),
  hostname: Schema.String,
  smtp: Schema.String.annotations({ description: "its SMTP listen address (--bind-addr)" }),
  http: Schema.String.annotations({ description: "its HTTP listen address (--bind-http; empty: off)" }),
  version: Schema.String,
  lastHeartbeat: Time.annotations({ description: "when it last said it is alive (every 3 s while it runs; RFC 3339, UTC)" }),
  sender: Schema.Boolean.annotations({ description: "whether it holds the sender lease now" }),
  self: Schema.Boolean.annotations({ description: "whether it is the replica that answered" })
}).annotations({ identifier: "ClusterReplica" })

/** The cluster. */
export const ClusterInfo = Schema.Struct({
  self: Schema.String.annotations({ description: "the id of the replica that answered" }),
  sender: Schema.NullOr(Schema.String).annotations({
    description: "the id of the replica that sends summaries; null while none holds the lease (a takeover under way)"
  }),
  replicas: Schema.Array(ClusterReplica)
}).annotations({ identifier: "Cluster" })

/** The cluster as it goes out. */
export type ClusterInfo = typeof ClusterInfo.Type

/** The cluster's shared state could not be read (503). */
export class ClusterUnavailable extends Schema.TaggedError<ClusterUnavailable>()(
  "ClusterUnavailable",
  { error: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** The answer: the replicas, most recently heard from first. */
export const clusterInfoOf = (view: ClusterView): ClusterInfo => ({
  self: view.self,
  sender: view.sender ?? null,
  replicas: [...view.replicas]
    .sort((a, b) => b.heartbeatAt - a.heartbeatAt || (a.id < b.id ? -1 : 1))
    .map((replica) => ({
      id: replica.id,
      hostname: replica.hostname,
      smtp: replica.smtp,
      http: replica.http,
      version: replica.version,
      lastHeartbeat: rfc3339(replica.heartbeatAt),
      sender: replica.id === view.sender,
      self: replica.id === view.self
    }))
})

/** The `cluster` endpoint group. */
export class ClusterApi extends HttpApiGroup.make("cluster").add(
  HttpApiEndpoint.get("cluster", "/api/cluster")
    .addSuccess(ClusterInfo)
    .addError(answer(ClusterUnavailable))
    .annotate(OpenApi.Summary, "The replicas sharing the store, and which one sends")
) {}
