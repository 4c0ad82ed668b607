/**
 * The whole program as one effect: decide what to do from the command line,
 * then print, write, or launch the service graph. User errors become one
 * line on stderr and an exit status, never a stack trace.
 */
import { FileSystem } from "@effect/platform"
import type { Teardown } from "@effect/platform/Runtime"
import { Cause, Console, Effect, Exit, Layer, Option } from "effect"
import { ConfigError, exitCodeOf, StartError } from "../domain/Errors.ts"
import { VERSION } from "../domain/Version.ts"
import * as Invocation from "../services/Invocation.ts"
import * as Logging from "./Logging.ts"
import * as Main from "./Main.ts"

/** Runs failmail with these arguments (without the program name) and environment. */
export const program = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>) =>
  Effect.gen(function* () {
    const invocation = yield* Invocation.fromArgs(argv, env)
    yield* Invocation.Invocation.$match(invocation, {
      Help: ({ text }) => Console.log(text),
      Version: () => Console.log(`failmail ${VERSION}`),
      WriteConfig: ({ path, text }) =>
        Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(path, text)).pipe(
          Effect.mapError((error) => new ConfigError({ message: `write-config ${path}: ${error.message}` }))
        ),
      Run: ({ config, warnings }) =>
        Effect.gen(function* () {
          for (const warning of warnings) yield* Effect.logWarning(warning)
          return yield* Layer.launch(Main.layer(config))
        }).pipe(Effect.provide(Logging.layer(config)))
    })
  }).pipe(
    Effect.tapError((error) => Console.error(`failmail: ${error.message}`))
  )

/** Exit status: 0 after a clean run or a signal, 2 for configuration errors, 1 otherwise. */
export const teardown: Teardown = (exit, onExit) => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return onExit(0)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && (failure.value instanceof ConfigError || failure.value instanceof StartError)) {
    return onExit(exitCodeOf(failure.value))
  }
  console.error(Cause.pretty(exit.cause))
  onExit(1)
}
