/**
 * Log output from `--log-level` and `--log-format`: logfmt text or one JSON
 * object per line, always on stderr (stdout carries `--relay-addr=debug`).
 */
import { Layer, Logger, LogLevel } from "effect"
import type { RunningConfig } from "../services/runtime/AppConfig.ts"

const levels = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error
} as const

/** Only the minimum level of a configuration (applied again on reload). */
export const levelLayer = (config: Pick<RunningConfig, "logLevel">): Layer.Layer<never> =>
  Logger.minimumLogLevel(levels[config.logLevel])

/**
 * A line of `--log-format`: logfmt text (`key=value`, the fields of
 * `domain/LogContext.ts` after the message) or one JSON object (the fields
 * under `annotations`).
 */
export const lineLogger = (format: RunningConfig["logFormat"]): Logger.Logger<unknown, string> =>
  format === "json" ? Logger.jsonLogger : Logger.logfmtLogger

/** The logger for a configuration: format and level (the format is fixed for the life of the process). */
export const layer = (config: Pick<RunningConfig, "logLevel" | "logFormat">): Layer.Layer<never> =>
  Layer.merge(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(lineLogger(config.logFormat))), levelLayer(config))
