/** The replicas of a cluster as failmail records them (pure data; see `src/services/cluster/Cluster.ts`). */

/** One replica as the cluster sees it. */
export interface Replica {
  /** Random, per running configuration. */
  readonly id: string
  readonly hostname: string
  /** Its SMTP listen address (`--bind-addr`). */
  readonly smtp: string
  /** Its HTTP listen address: `--bind-http`'s host with the port it bound (empty: off). */
  readonly http: string
  readonly version: string
  /** When it last said it is alive (ms). */
  readonly heartbeatAt: number
}

/** The replicas of the cluster and which one sends, for `GET /api/cluster`. */
export interface ClusterView {
  /** This replica's id. */
  readonly self: string
  readonly replicas: ReadonlyArray<Replica>
  /** The id of the replica that sends, if one holds the lease now. */
  readonly sender: string | undefined
}
