/**
 * `--pidfile`: written at start, removed at exit (also after a start-up
 * error, since it is a scoped resource). A pidfile whose process is alive
 * blocks a second start; a stale one is replaced.
 */
import { Effect, type Scope } from "effect"
import * as fs from "node:fs/promises"
import { StartError } from "../../domain/settings/Errors.ts"
import * as LogContext from "../../domain/LogContext.ts"

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

const readPid = (file: string) =>
  Effect.tryPromise(() => fs.readFile(file, "utf8")).pipe(
    Effect.map((text) => Number.parseInt(text.trim(), 10)),
    Effect.orElseSucceed(() => Number.NaN)
  )

/** Holds the pidfile at `file` for the enclosing scope (`""`: no pidfile). */
export const hold = (file: string): Effect.Effect<void, StartError, Scope.Scope> =>
  file === ""
    ? Effect.void
    : Effect.acquireRelease(
        Effect.gen(function* () {
          const existing = yield* readPid(file)
          if (Number.isInteger(existing) && existing > 0 && existing !== process.pid && isAlive(existing)) {
            return yield* new StartError({ message: `pidfile ${file}: failmail is already running as process ${existing}` })
          }
          if (Number.isInteger(existing)) {
            yield* Effect.logWarning(`replacing stale pidfile ${file} of process ${existing}`).pipe(
              LogContext.annotate({ component: "lifecycle" })
            )
          }
          yield* Effect.tryPromise({
            try: () => fs.writeFile(file, `${process.pid}\n`, { mode: 0o644 }),
            catch: (error) => new StartError({ message: `pidfile ${file}: ${(error as Error).message}` })
          })
        }),
        () =>
          readPid(file).pipe(
            Effect.flatMap((pid) => (pid === process.pid ? Effect.promise(() => fs.rm(file, { force: true })) : Effect.void))
          )
      )
