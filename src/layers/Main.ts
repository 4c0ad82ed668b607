/**
 * The production service graph for one configuration: SMTP in, spool,
 * batches, summaries, relay, fail-dir. Scopes close in reverse: the listener
 * stops first, then pending batches are flushed, then the relay closes.
 */
import { Effect, Layer } from "effect"
import * as Configuration from "../domain/Configuration.ts"
import { AppConfig, type RunningConfig } from "../services/AppConfig.ts"
import { Batcher } from "../services/Batcher.ts"
import { Classifier } from "../services/Classifier.ts"
import { Dispatcher } from "../services/Dispatcher.ts"
import { History } from "../services/History.ts"
import { Http } from "../services/Http.ts"
import { Ingress } from "../services/Ingress.ts"
import { Intake } from "../services/Intake.ts"
import { Metrics } from "../services/Metrics.ts"
import { Relay } from "../services/Relay.ts"
import { Renderer } from "../services/Renderer.ts"
import { Spool } from "../services/Spool.ts"

/**
 * The mail pipeline without the SMTP listener: intake, spool, batches,
 * summaries, fail-dir, with the given relay (tests pass an in-memory one).
 */
export const core = <E>(config: RunningConfig, relay: Layer.Layer<Relay, E, AppConfig>) =>
  Intake.Default.pipe(
    Layer.provideMerge(Batcher.Default),
    Layer.provideMerge(Dispatcher.Default),
    Layer.provideMerge(
      Layer.mergeAll(
        Spool.Default,
        Classifier.Default,
        Renderer.Default,
        relay
      )
    ),
    Layer.provideMerge(Layer.mergeAll(Metrics.Default, History.Default)),
    Layer.provideMerge(AppConfig.layer(config))
  )

/** Every service of the mail pipeline, for one configuration (tests use it with their own). */
export const pipeline = (config: RunningConfig) =>
  Http.Default.pipe(Layer.provideMerge(Ingress.Default), Layer.provideMerge(core(config, Relay.Default)))

const announce = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    yield* Effect.logInfo("failmail ready").pipe(Effect.annotateLogs(Configuration.redacted(config)))
    yield* Effect.addFinalizer(() => Effect.logInfo("failmail stopping"))
  })
)

/** Everything failmail runs, for this configuration. */
export const layer = (config: RunningConfig) => announce.pipe(Layer.provide(pipeline(config)))
