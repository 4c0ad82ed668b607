/**
 * Errors that end the process before or while it starts, each with the exit
 * status an operator's scripts can rely on.
 */
import { Data } from "effect"

/** A bad flag, variable, config line or setting: one line, exit status 2. */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string }> {}

/** The environment refused something at start (address in use, pidfile held): exit status 1. */
export class StartError extends Data.TaggedError("StartError")<{ readonly message: string }> {}

/** Exit status for an error that ended the program. */
export const exitCodeOf = (error: unknown): number => (error instanceof ConfigError ? 2 : 1)
