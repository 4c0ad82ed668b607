/**
 * The production service graph for one configuration: SMTP in, spool,
 * batches, summaries, relay, fail-dir. Scopes close in reverse: the listener
 * stops first, then pending batches are flushed, then the relay closes.
 *
 * What outlives a configuration ({@link processServices}) is not part of it:
 * the process builds those once, and a reload rebuilds only the graph.
 */
import { Effect, Layer } from "effect"
import * as Configuration from "../domain/settings/Configuration.ts"
import { StartError } from "../domain/settings/Errors.ts"
import * as LogContext from "../domain/LogContext.ts"
import * as Secrets from "../domain/settings/Secrets.ts"
import { AppConfig, type RunningConfig } from "../services/runtime/AppConfig.ts"
import { Batcher } from "../services/batching/Batcher.ts"
import { Classifier } from "../services/message/Classifier.ts"
import { Cluster } from "../services/cluster/Cluster.ts"
import { Dispatcher } from "../services/delivery/Dispatcher.ts"
import { Expectations } from "../services/expectations/Expectations.ts"
import { GroupMemory } from "../services/batching/GroupMemory.ts"
import { Threads } from "../services/batching/Threads.ts"
import { History } from "../services/delivery/History.ts"
import { Ledger } from "../services/delivery/Ledger.ts"
import { HistoryDocument } from "../services/delivery/HistoryDocument.ts"
import { Http } from "../services/http/Http.ts"
import { SmtpListener } from "../services/smtp/SmtpListener.ts"
import { MessageIntake } from "../services/smtp/MessageIntake.ts"
import { Lifecycle } from "../services/runtime/Lifecycle.ts"
import { Listeners } from "../services/runtime/Listeners.ts"
import { Maildir } from "../services/delivery/Maildir.ts"
import { Metrics } from "../services/runtime/Metrics.ts"
import { Outbox } from "../services/delivery/Outbox.ts"
import { Relay } from "../services/delivery/Relay.ts"
import { Renderer } from "../services/delivery/Renderer.ts"
import { SilenceLinks } from "../services/silences/SilenceLinks.ts"
import { Silences } from "../services/silences/Silences.ts"
import { EmbeddedStore } from "../services/store/embedded/EmbeddedStore.ts"
import type { SpoolError, StateError, Store } from "../services/store/Store.ts"
import * as StoreImport from "../services/store/StoreImport.ts"

/** What failmail keeps: the {@link Store} (what it received and its small state), and the maildirs it files into. */
export type Storage = Store | Maildir

/**
 * Where failmail keeps what it received and its small state: `--store`'s
 * PostgreSQL database, or (by default) the embedded store on disk; and the
 * maildirs it files into, on disk either way.
 */
export const storage: Layer.Layer<Storage, SpoolError | StateError | StartError, AppConfig> = Layer.merge(
  Layer.unwrapEffect(
    Effect.flatMap(AppConfig, (config): Effect.Effect<Layer.Layer<Store, SpoolError | StateError | StartError, AppConfig>> =>
      Secrets.isSet(config.store)
        ? // Loaded only when used: the PostgreSQL client costs memory a failmail on the embedded store does not need.
          Effect.promise(() => import("../services/store/postgres/PostgresStore.ts")).pipe(Effect.map((postgres) => postgres.layerOf(config.store)))
        : Effect.succeed(
            EmbeddedStore.pipe(Layer.mapError((error) => new StartError({ message: `message-store ${config.messageStore}: ${error.message}` })))
          )
    )
  ),
  Maildir.Default
)

/**
 * The replicas sharing the store: with `--store` PostgreSQL, every failmail
 * on that database (one of them sends, see Cluster); on the embedded store,
 * this one alone.
 */
export const cluster: Layer.Layer<Cluster, StartError, AppConfig | Store> = Layer.unwrapEffect(
  Effect.flatMap(AppConfig, (config): Effect.Effect<Layer.Layer<Cluster, StartError, AppConfig | Store>> =>
    Secrets.isSet(config.store)
      ? Effect.promise(() => import("../services/cluster/PostgresCluster.ts")).pipe(Effect.map((postgres) => postgres.layerOf(config.store)))
      : Effect.succeed(Cluster.single)
  )
)

/**
 * What outlives a configuration: the process phase, the listening sockets,
 * what failmail reports about itself (the summary history and totals of
 * `/api/stats`, the Prometheus counters), so a reload never resets them, and
 * the ledger of summaries under way, which a reload's old and new graphs share.
 */
export const processServices = Layer.mergeAll(
  Lifecycle.Default,
  Listeners.Default,
  History.Default,
  Metrics.Default,
  Ledger.Default
)

/** The services in {@link processServices}. */
export type ProcessServices = Layer.Layer.Success<typeof processServices>

/**
 * The sender role of this replica: heartbeats and the sender lease, started
 * once the pipeline is built, and stopped (the lease let go) before it closes.
 */
const senderRole = Layer.scopedDiscard(
  Effect.gen(function* () {
    const cluster = yield* Cluster
    const metrics = yield* Metrics
    // failmail_sender is 1 while this replica sends.
    yield* cluster.whileSender(Effect.acquireRelease(Effect.sync(() => metrics.sender.set(1)), () => Effect.sync(() => metrics.sender.set(0))))
    yield* cluster.run
  })
)

/**
 * The mail pipeline without the SMTP listener: intake, spool (with what an
 * older store left in `--message-store` taken in), batches, summaries, fail-dir, with the given relay and storage (tests pass
 * in-memory ones), as one replica of `cluster` (alone by default).
 */
export const core = <E1, E2, E3 = never>(
  config: RunningConfig,
  relay: Layer.Layer<Relay, E1, AppConfig>,
  store: Layer.Layer<Storage, E2, AppConfig>,
  cluster: Layer.Layer<Cluster, E3, AppConfig | Store> = Cluster.single
) =>
  senderRole.pipe(
    Layer.provideMerge(MessageIntake.Default),
    Layer.provideMerge(Batcher.Default),
    Layer.provideMerge(Layer.mergeAll(Expectations.Default, Silences.Default)),
    Layer.provideMerge(Outbox.Default),
    Layer.provideMerge(Dispatcher.Default),
    // Below the Dispatcher: the history is read before the first summary and saved after the last.
    Layer.provideMerge(Layer.mergeAll(GroupMemory.Default, Threads.Default, HistoryDocument)),
    Layer.provideMerge(Renderer.Default),
    Layer.provideMerge(SilenceLinks.Default),
    // Before the Batcher recovers the spool and before any state document is read: what an older store left is in by then.
    Layer.provideMerge(StoreImport.layer),
    Layer.provideMerge(cluster),
    Layer.provideMerge(
      Layer.mergeAll(
        store,
        Classifier.Default,
        relay
      )
    ),
    Layer.provideMerge(AppConfig.layer(config))
  )

/** Every service of one configuration: SMTP, HTTP and the mail pipeline, on the process's {@link processServices}. */
export const graph = (config: RunningConfig) =>
  Http.Default.pipe(Layer.provideMerge(SmtpListener.Default), Layer.provideMerge(core(config, Relay.Default, storage, cluster)))

/** {@link graph} with process services of its own: a failmail that never reloads, as tests run it. */
export const pipeline = (config: RunningConfig) => graph(config).pipe(Layer.provideMerge(processServices))

const announce = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    yield* Effect.logInfo("failmail ready").pipe(Effect.annotateLogs(Configuration.redacted(config)))
    yield* Effect.addFinalizer(() => Effect.logInfo("failmail stopping"))
  }).pipe(LogContext.annotate({ component: "lifecycle" }))
)

/** Everything failmail runs, for this configuration. */
export const layer = (config: RunningConfig) => announce.pipe(Layer.provide(graph(config)))
