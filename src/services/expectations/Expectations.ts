/**
 * Expected mail: expectations created through the API or the dashboard,
 * met by matching messages (which, being routine, are not summarized), and
 * watched by one timer each on the Effect `Clock`: when no matching message
 * arrived for `every`, one "missing" notice goes to the expectation's
 * recipients, and one "back" notice when a matching message arrives again.
 * The deadline is always computed from the last time it was met, so a
 * restart does not reset it: expectations, with when each was last met and
 * went missing, are kept durably in the {@link Store} document `expectations`,
 * saved before a notice goes out (so none is sent twice). Notices count
 * against `--relay-rate` like summaries: each waits for a send from the
 * Outbox's budget (on a fiber of its own, so neither an SMTP connection nor
 * the expectation's timer waits with it). Creating or deleting an
 * expectation fails with the StateError when it cannot be saved (and changes
 * nothing), so the API never claims what is not on disk; a later save that
 * fails (when one is met or goes missing) is logged, and the expectation
 * keeps working until failmail stops.
 */
import { Clock, Effect, Either, FiberMap, FiberSet, Schema } from "effect"
import * as crypto from "node:crypto"
import * as Expectation from "../../domain/expectations/Expectation.ts"
import * as LogContext from "../../domain/LogContext.ts"
import * as Matchers from "../../domain/silences/Matchers.ts"
import type { Received } from "../../domain/message/Message.ts"
import * as SenderState from "../cluster/SenderState.ts"
import { Dispatcher } from "../delivery/Dispatcher.ts"
import { Metrics } from "../runtime/Metrics.ts"
import { Outbox } from "../delivery/Outbox.ts"
import { Renderer } from "../delivery/Renderer.ts"
import { type StateError, Store } from "../store/Store.ts"

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
    const state = yield* Store
    const outbox = yield* Outbox
    const entries = new Map<string, Entry>()
    const timers = yield* FiberMap.make<string>()
    const notices = yield* FiberSet.make()

    /** Saves the expectations, or fails with the StateError (for a change the caller must not keep). */
    const saveOrFail = Effect.suspend(() => state.save(DOCUMENT, () => [...entries.values()].map((entry) => entry.expectation)))

    /** Saves a change, or undoes it (and fails) when it cannot be saved. */
    const saveOrUndo = (undo: () => void) =>
      Effect.tapError(saveOrFail, (error) =>
        Effect.zipRight(Effect.sync(undo), Effect.logError(`expectations not saved, change refused: ${error.message}`))
      ).pipe(LogContext.annotate({ component: "expectations" }))

    /** Saves a change already made (a failure is logged: it is kept in memory, and saved with the next change). */
    const save = SenderState.saving("the expectations", "expectations", saveOrFail)

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

    /**
     * Sends a pending notice of expectation `id` on a fiber of its own, once
     * the relay budget grants it a send. It stays in the expectation (and so
     * in the document) until it is handed to the relay: one still waiting for
     * the budget when failmail stops goes out after the next start. Handing
     * it over and saving that it was are one step, so it goes out once.
     */
    const notify = (id: string, notice: Expectation.PendingNotice) =>
      FiberSet.run(
        notices,
        Effect.gen(function* () {
          const entry = entries.get(id)
          if (entry === undefined) return
          const rendered = yield* renderer.renderNotice(notice.kind, Expectation.aboutNotice(entry.expectation, notice))
          yield* outbox.takeSend
          yield* Effect.uninterruptible(
            Effect.gen(function* () {
              yield* dispatcher.send(rendered)
              const current = entries.get(id)
              if (current !== undefined) update(Expectation.withoutNotice(current.expectation, notice))
              yield* save
            })
          )
          yield* Effect.logWarning(`expectation "${entry.expectation.name}": ${notice.kind}`)
        }).pipe(LogContext.own({ component: "expectations" }))
      ).pipe(Effect.asVoid)

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
          const { next, notice } = Expectation.withNotice(missing, "missing", missing)
          update(next)
          yield* save
          yield* notify(id, notice)
        }).pipe(LogContext.own({ component: "expectations" }))
      ).pipe(Effect.asVoid)

    const create = (request: Expectation.ExpectationRequest): Effect.Effect<Expectation.Expectation, Matchers.FieldError | StateError> =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const expectation = Expectation.create(request, crypto.randomBytes(6).toString("hex"), now)
        if (!("id" in expectation)) return yield* Effect.fail(expectation)
        const matchers = Matchers.compile(expectation.match as Record<string, string>)
        if (Matchers.isFieldError(matchers)) return yield* Effect.dieMessage("a checked expectation does not compile")
        entries.set(expectation.id, { expectation, matchers })
        yield* saveOrUndo(() => entries.delete(expectation.id))
        yield* watch(expectation.id)
        yield* Effect.logInfo(`expectation "${expectation.name}" created (${expectation.id})`)
        return expectation
      }).pipe(inExpectations)

    /** Whether an expectation was waiting for `message` (each one it matches is met); no fiber steps when there is none. */
    const observe = (message: Received): Effect.Effect<boolean> =>
      Effect.suspend(() => (entries.size === 0 ? Effect.succeed(false) : observeAny(message)))

    const observeAny = (message: Received): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        const target = Matchers.targetOfReceived(message)
        let matched = false
        for (const entry of [...entries.values()]) {
          if (!Matchers.matches(entry.matchers, target)) continue
          matched = true
          const { next, back } = Expectation.met(entry.expectation, message.receivedAt)
          const due = back ? Expectation.withNotice(next, "back", entry.expectation) : undefined
          update(due?.next ?? next)
          yield* save
          yield* watch(next.id)
          if (due !== undefined) yield* notify(next.id, due.notice)
        }
        if (matched) metrics.expectedMessages.inc()
        return matched
      })

    // The expectations kept before this start or reload (or by the previous sender); each deadline counts from when it was last met.
    const loadStored = Effect.gen(function* () {
      const stored = Schema.decodeUnknownEither(Schema.UndefinedOr(Expectation.Stored))(yield* state.load(DOCUMENT))
      if (Either.isLeft(stored)) {
        yield* Effect.logError(`the kept expectations cannot be read, starting without them: ${stored.left.message}`)
      }
      for (const expectation of Either.getOrElse(stored, () => undefined) ?? []) {
        const matchers = Matchers.compile(expectation.match as Record<string, string>)
        if (Matchers.isFieldError(matchers)) continue
        entries.set(expectation.id, { expectation, matchers })
        yield* watch(expectation.id)
        // Notices that came due before the stop (or before the previous sender stopped) and were not sent.
        for (const notice of expectation.pending ?? []) yield* notify(expectation.id, notice)
      }
      publishGauge()
    })
    // Only the sender watches them (the others forward the API to it), from when it becomes the sender.
    yield* SenderState.make({
      what: "the kept expectations",
      component: "expectations",
      load: loadStored,
      clear: Effect.zipRight(
        FiberMap.clear(timers),
        Effect.sync(() => {
          entries.clear()
          publishGauge()
        })
      )
    })

    return {
      /** Creates an expectation from a request, or names the field that is wrong, or fails (keeping nothing) if it cannot be saved. */
      create,
      /** Deletes an expectation; false if there is none with this id; fails (keeping it) if the deletion cannot be saved. */
      remove: (id: string): Effect.Effect<boolean, StateError> =>
        Effect.gen(function* () {
          const entry = entries.get(id)
          if (entry === undefined) return false
          entries.delete(id)
          yield* saveOrUndo(() => entries.set(id, entry))
          yield* FiberMap.remove(timers, id)
          publishGauge()
          return true
        }),
      /** Every expectation, in order of creation. */
      list: Effect.sync(() => [...entries.values()].map((entry) => entry.expectation)),
      /** Marks the expectations a message matches as met; true if any did (the message is routine). */
      observe,
      /** Whether any expectation is kept (plain code: when none is, `observe` has nothing to do). */
      waiting: (): boolean => entries.size > 0
    } as const
  }).pipe(LogContext.annotate({ component: "expectations" }))
}) {}
