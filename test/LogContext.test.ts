/**
 * The log fields: `annotate` adds to the fields a line already carries,
 * `own` gives a service's own fiber exactly its fields, whoever forked it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, HashMap, Logger } from "effect"
import * as LogContext from "../src/domain/LogContext.ts"

/** Runs `effect` with a logger that keeps each line's message and fields. */
const linesOf = <A>(effect: Effect.Effect<A>) =>
  Effect.gen(function* () {
    const lines: Array<{ readonly message: unknown; readonly fields: Record<string, unknown> }> = []
    const capture = Logger.make(({ message, annotations }) => {
      lines.push({ message: Array.isArray(message) ? message[0] : message, fields: Object.fromEntries(HashMap.toEntries(annotations)) })
    })
    yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
    return lines
  })

describe("LogContext", () => {
  it.effect("annotate adds fields to what the caller's lines carry, also on the fibers it forks", () =>
    Effect.gen(function* () {
      const lines = yield* linesOf(
        Effect.gen(function* () {
          yield* Effect.logInfo("stored")
          const forked = yield* Effect.fork(Effect.logInfo("archived").pipe(LogContext.annotate({ component: "all-dir" })))
          yield* Fiber.join(forked)
        }).pipe(LogContext.annotate({ component: "smtp", connection: "c1" }))
      )
      expect(lines).toEqual([
        { message: "stored", fields: { component: "smtp", connection: "c1" } },
        { message: "archived", fields: { component: "all-dir", connection: "c1" } }
      ])
    })
  )

  it.effect("own gives a fiber exactly its fields, dropping those of whoever forked it", () =>
    Effect.gen(function* () {
      const lines = yield* linesOf(
        Effect.gen(function* () {
          const timer = yield* Effect.fork(Effect.logInfo("due").pipe(LogContext.own({ component: "batcher", batch: "db" })))
          yield* Fiber.join(timer)
        }).pipe(LogContext.annotate({ component: "smtp", connection: "c1" }))
      )
      expect(lines).toEqual([{ message: "due", fields: { component: "batcher", batch: "db" } }])
    })
  )
})
