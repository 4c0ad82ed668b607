/**
 * Expected mail: expectations created through the API or the dashboard,
 * met by matching messages (which, being routine, are not summarized), and
 * watched by one timer each on the Effect `Clock`: when no matching message
 * arrived for `every`, one "missing" notice goes to the expectation's
 * recipients, and one "back" notice when a matching message arrives again.
 * The deadline is always computed from the last time it was met, so a
 * restart does not reset it: expectations, with when each was last met and
 * went missing, are kept durably in the StateStore document `expectations`,
 * saved before a notice goes out (so none is sent twice). A save that fails
 * is logged, and the expectation keeps working until failmail stops.
 */
import { Clock, Effect, Either, FiberMap, Schema } from "effect"
import * as crypto from "node:crypto"
import * as Expectation from "../domain/Expectation.ts"
import * as LogContext from "../domain/LogContext.ts"
import * as Matchers from "../domain/Matchers.ts"
import type { Received } from "../domain/Message.ts"
import { Dispatcher } from "./Dispatcher.ts"
import { Metrics } from "./Metrics.ts"
import { Renderer } from "./Renderer.ts"
import { StateStore } from "./StateStore.ts"

/** The name of the expectations' state document. */
const DOCUMENT = "expectations"

interface Entry {
  readonly expectation: Expectation.Expectation
  readonly matchers: Matchers.CompiledMatchers
}

/** The expectations, their timers and their notices. */
export class Expectations extends Effect.Service<Expectations>()("failmail/Expectations", {
  scoped: Effect.gen(function* () {
    const dispatcher = yield* Dispatcher
    const renderer = yield* Renderer
    const metrics = yield* Metrics
    const state = yield* StateStore
    const entries = new Map<string, Entry>()
    const timers = yield* FiberMap.make<string>()

    const save = Effect.suspend(() => state.save(DOCUMENT, () => [...entries.values()].map((entry) => entry.expectation))).pipe(
      Effect.catchAll((error) => Effect.logError(`expectations not saved (kept until failmail stops): ${error.message}`)),
      // Saved on callers' fibers too (an HTTP request's, an SMTP connection's).
      LogContext.annotate({ component: "expectations" })
    )

    const publishGauge = () => {
      let missing = 0
      for (const entry of entries.values()) if (entry.expectation.missingSince > 0) missing++
      metrics.expectationsMissing.set(missing)
    }

    const update = (expectation: Expectation.Expectation) => {
      const entry = entries.get(expectation.id)
      if (entry !== undefined) entries.set(expectation.id, { expectation, matchers: entry.matchers })
      publishGauge()
    }

    /** Lines logged on a caller's fiber (an HTTP request's, an SMTP connection's) still name the expectations. */
    const inExpectations = LogContext.annotate({ component: "expectations" })

    const notify = (kind: Expectation.NoticeKind, expectation: Expectation.Expectation) =>
      renderer.renderNotice(kind, expectation).pipe(
        Effect.flatMap(dispatcher.send),
        Effect.zipRight(Effect.logWarning(`expectation "${expectation.name}": ${kind}`)),
        inExpectations
      )

    /** Sleeps until the expectation's deadline, then sends the "missing" notice (once until it is met again). */
    const watch = (id: string) =>
      FiberMap.run(
        timers,
        id,
        Effect.gen(function* () {
          const entry = entries.get(id)
          if (entry === undefined || entry.expectation.missingSince > 0) return
          const now = yield* Clock.currentTimeMillis
          yield* Effect.sleep(Math.max(0, Expectation.deadline(entry.expectation) - now))
          const current = entries.get(id)
          if (current === undefined) return
          const missing = Expectation.missingAt(current.expectation, yield* Clock.currentTimeMillis)
          if (missing === undefined) return
          update(missing)
          yield* save
          yield* notify("missing", missing)
        }).pipe(LogContext.own({ component: "expectations" }))
      ).pipe(Effect.asVoid)

    const create = (request: Expectation.ExpectationRequest): Effect.Effect<Expectation.Expectation, Matchers.FieldError> =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const expectation = Expectation.create(request, crypto.randomBytes(6).toString("hex"), now)
        if (!("id" in expectation)) return yield* Effect.fail(expectation)
        const matchers = Matchers.compile(expectation.match as Record<string, string>)
        if (Matchers.isFieldError(matchers)) return yield* Effect.dieMessage("a checked expectation does not compile")
        entries.set(expectation.id, { expectation, matchers })
        yield* save
        yield* watch(expectation.id)
        yield* Effect.logInfo(`expectation "${expectation.name}" created (${expectation.id})`)
        return expectation
      }).pipe(inExpectations)

    const observe = (message: Received): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        const target = Matchers.targetOfReceived(message)
        let matched = false
        for (const entry of [...entries.values()]) {
          if (!Matchers.matches(entry.matchers, target)) continue
          matched = true
          const { next, back } = Expectation.met(entry.expectation, message.receivedAt)
          update(next)
          yield* save
          yield* watch(next.id)
          if (back) yield* notify("back", entry.expectation)
        }
        if (matched) metrics.expectedMessages.inc()
        return matched
      })

    // The expectations kept before this start or reload; each deadline counts from when it was last met.
    const stored = Schema.decodeUnknownEither(Schema.UndefinedOr(Expectation.Stored))(yield* state.load(DOCUMENT))
    if (Either.isLeft(stored)) {
      yield* Effect.logError(`the kept expectations cannot be read, starting without them: ${stored.left.message}`)
    }
    for (const expectation of Either.getOrElse(stored, () => undefined) ?? []) {
      const matchers = Matchers.compile(expectation.match as Record<string, string>)
      if (Matchers.isFieldError(matchers)) continue
      entries.set(expectation.id, { expectation, matchers })
      yield* watch(expectation.id)
    }
    publishGauge()

    return {
      /** Creates an expectation from a request, or names the field that is wrong. */
      create,
      /** Deletes an expectation; false if there is none with this id. */
      remove: (id: string) =>
        Effect.gen(function* () {
          if (!entries.delete(id)) return false
          yield* save
          yield* FiberMap.remove(timers, id)
          publishGauge()
          return true
        }),
      /** Every expectation, in order of creation. */
      list: Effect.sync(() => [...entries.values()].map((entry) => entry.expectation)),
      /** Marks the expectations a message matches as met; true if any did (the message is routine). */
      observe
    } as const
  }).pipe(LogContext.annotate({ component: "expectations" }))
}) {}
