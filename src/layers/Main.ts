/**
 * The production service graph for one configuration.
 */
import { Effect, Layer } from "effect"
import * as Configuration from "../domain/Configuration.ts"
import { AppConfig, type RunningConfig } from "../services/AppConfig.ts"

/** Everything failmail runs, for this configuration. */
export const layer = (config: RunningConfig): Layer.Layer<never> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const current = yield* AppConfig
      yield* Effect.logInfo("failmail starting").pipe(Effect.annotateLogs(Configuration.redacted(current)))
      yield* Effect.addFinalizer(() => Effect.logInfo("failmail stopped"))
    })
  ).pipe(Layer.provide(AppConfig.layer(config)))
