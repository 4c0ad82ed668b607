/**
 * The whole program as one effect: decide what to do from the command line,
 * then print, write, or serve. Serving runs the service graph until a
 * signal: SIGTERM/SIGINT close it (flushing every batch), SIGHUP re-reads
 * the configuration and rebuilds the graph, keeping pending batches in the
 * spool. User errors become one line on stderr and an exit status.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type { Teardown } from "@effect/platform/Runtime"
import { Cause, Console, Deferred, Effect, Either, Exit, Fiber, FiberSet, Layer, Option, Ref, Scope } from "effect"
import { ConfigError, exitCodeOf, StartError } from "../domain/settings/Errors.ts"
import * as LogContext from "../domain/LogContext.ts"
import { VERSION } from "../domain/settings/Version.ts"
import * as Invocation from "./Invocation.ts"
import { Lifecycle } from "../services/runtime/Lifecycle.ts"
import * as Pidfile from "../services/runtime/Pidfile.ts"
import * as Logging from "../layers/Logging.ts"
import * as Main from "../layers/Main.ts"

const ignoreSignal = () => undefined

/** Resolves on the next SIGHUP. */
const nextHangup = Effect.async<void>((resume) => {
  const onHangup = () => resume(Effect.void)
  process.once("SIGHUP", onHangup)
  return Effect.sync(() => process.off("SIGHUP", onHangup))
})

/** Waits for a SIGHUP whose configuration is valid; an invalid one is logged and the running one kept. */
const nextValidConfig = (reread: Effect.Effect<Invocation.Resolved, ConfigError, FileSystem.FileSystem>) =>
  Effect.gen(function* () {
    while (true) {
      yield* nextHangup
      yield* Effect.logInfo("reloading the configuration on SIGHUP")
      const next = yield* Effect.either(reread)
      if (Either.isRight(next)) return next.right
      yield* Effect.logError(`reload refused, keeping the running configuration: ${next.left.message}`)
    }
  }).pipe(LogContext.annotate({ component: "reload" }))

/**
 * Runs one configuration's graph until a valid reload is requested; returns
 * the new configuration. Only the wait for that request is `interruptible`:
 * a stop that comes while a graph is being built or closed for a reload
 * takes effect once the next graph runs, so it is a stop of a running graph
 * (every pending batch summarized), never the end of a reload half done.
 *
 * A reload closes the old graph in the background (on `closing`) and returns
 * as soon as that graph is quiet: it takes no more mail and starts no more
 * summaries (see `Lifecycle.nextQuiet`). The next graph is then built while
 * the old one's summaries under way finish beside it, so intake never waits
 * for a relay; the Ledger keeps the two from sending a message twice.
 */
const runUntilReload = (
  current: Invocation.Resolved,
  reread: Effect.Effect<Invocation.Resolved, ConfigError, FileSystem.FileSystem>,
  interruptible: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
  closing: FiberSet.FiberSet
) =>
  Effect.gen(function* () {
    const lifecycle = yield* Lifecycle
    for (const warning of current.warnings) yield* Effect.logWarning(warning).pipe(LogContext.annotate({ component: "lifecycle" }))
    const scope = yield* Scope.make()
    // Built on a fiber of its own, interruptible, so that the fibers the graph forks can be interrupted when it closes.
    const built = yield* Layer.buildWithScope(Main.layer(current.config), scope).pipe(
      Effect.interruptible,
      Effect.forkDaemon,
      Effect.flatMap(Fiber.join),
      Effect.exit
    )
    if (Exit.isFailure(built)) {
      yield* Scope.close(scope, built)
      return yield* Effect.failCause(built.cause)
    }
    yield* Ref.set(lifecycle.phase, "running")
    const next = yield* Effect.exit(interruptible(nextValidConfig(reread)))
    if (Exit.isFailure(next)) {
      // A close that is not a reload is a stop.
      yield* Ref.set(lifecycle.phase, "stopping")
      yield* Scope.close(scope, next)
      return yield* Effect.failCause(next.cause)
    }
    yield* Ref.set(lifecycle.phase, "reloading")
    const quiet = yield* lifecycle.nextQuiet
    const closed = yield* FiberSet.run(closing, Scope.close(scope, Exit.void))
    // A graph that closes without saying it is quiet (it failed before) lets the next one start once it is closed.
    yield* Fiber.await(closed).pipe(Effect.zipRight(Deferred.succeed(quiet, undefined)), Effect.forkDaemon)
    yield* Deferred.await(quiet)
    return next.value
  }).pipe(Effect.provide(Logging.levelLayer(current.config)))

/** Serves until stopped, rebuilding on every valid SIGHUP; a new graph that fails to start falls back to the old one. */
const serve = (first: Invocation.Resolved, reread: Effect.Effect<Invocation.Resolved, ConfigError, FileSystem.FileSystem>) =>
  Effect.scoped(
    Effect.gen(function* () {
      // SIGHUP between two graphs must not fall through to Node's default (terminate).
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("SIGHUP", ignoreSignal)),
        () => Effect.sync(() => process.off("SIGHUP", ignoreSignal))
      )
      yield* Pidfile.hold(first.config.pidfile)
      // Graphs closing after a reload, their last summaries under way: a stop waits for them too.
      const closing = yield* FiberSet.make()
      yield* Effect.addFinalizer(() => FiberSet.awaitEmpty(closing))
      yield* Effect.uninterruptibleMask((interruptible) =>
        Effect.gen(function* () {
          let running = first
          let next = yield* runUntilReload(running, reread, interruptible, closing)
          while (true) {
            const attempt = yield* Effect.either(runUntilReload(next, reread, interruptible, closing))
            if (Either.isRight(attempt)) {
              running = next
              next = attempt.right
              continue
            }
            yield* Effect.logError(`reload failed, going back to the previous configuration: ${attempt.left.message}`).pipe(
              LogContext.annotate({ component: "reload" })
            )
            next = yield* runUntilReload(running, reread, interruptible, closing)
          }
        })
      )
    })
  ).pipe(Effect.provide(Layer.merge(Main.processServices, Logging.layer(first.config))))

/**
 * Writes `--write-config`'s file. One that holds a secret is made 0600 before
 * anything is written into it, also when it existed with a wider mode.
 */
const writeConfigFile = (path: string, text: string, holdsSecret: boolean) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    holdsSecret
      ? Effect.scoped(
          Effect.gen(function* () {
            const file = yield* fs.open(path, { flag: "w", mode: 0o600 })
            yield* fs.chmod(path, 0o600)
            yield* file.writeAll(new TextEncoder().encode(text))
          })
        )
      : fs.writeFileString(path, text)
  )

/** Runs failmail with these arguments (without the program name) and environment. */
export const program = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>) =>
  Effect.gen(function* () {
    const invocation = yield* Invocation.fromArgs(argv, env)
    yield* Invocation.Invocation.$match(invocation, {
      Help: ({ text }) => Console.log(text),
      Version: () => Console.log(`failmail ${VERSION}`),
      WriteConfig: ({ path, text, warnings, holdsSecret }) =>
        Effect.forEach(warnings, (warning) => Console.error(`failmail: warning: ${warning}`)).pipe(
          Effect.zipRight(writeConfigFile(path, text, holdsSecret)),
          Effect.mapError((error) => new ConfigError({ message: `write-config ${path}: ${error.message}` }))
        ),
      Run: ({ config, warnings, reread }) => serve({ config, warnings }, reread)
    })
  }).pipe(Effect.tapError((error) => Console.error(`failmail: ${error.message}`)))

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
