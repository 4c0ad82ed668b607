/**
 * Log output from `--log-level` and `--log-format`: logfmt text or one JSON
 * object per line, always on stderr (stdout carries `--relay-addr=debug`).
 */
import { Layer, Logger, LogLevel } from "effect"
import type { RunningConfig } from "../services/AppConfig.ts"

const levels = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error
} as const

/** The logger for a configuration. */
export const layer = (config: Pick<RunningConfig, "logLevel" | "logFormat">): Layer.Layer<never> =>
  Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.withConsoleError(config.logFormat === "json" ? Logger.jsonLogger : Logger.logfmtLogger)
    ),
    Logger.minimumLogLevel(levels[config.logLevel])
  )
