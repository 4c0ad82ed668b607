/**
 * The running configuration as a service, so that any test can run any part
 * of failmail with any configuration.
 */
import { Context, Layer } from "effect"
import type * as Settings from "../../domain/settings/Settings.ts"

/** The effective settings, plus the config file they were read from (for reload). */
export interface RunningConfig extends Settings.Values {
  /** The `--config` file, or `""`. */
  readonly configFile: string
}

/** The effective configuration of this process. */
export class AppConfig extends Context.Tag("failmail/AppConfig")<AppConfig, RunningConfig>() {
  /** A layer holding the given configuration. */
  static readonly layer = (config: RunningConfig): Layer.Layer<AppConfig> => Layer.succeed(AppConfig, config)
}
