/**
 * The silences in force: created and ended through the API, the dashboard
 * or a signed link in a summary, each ending on its own when its time has
 * come (a timer on the Effect `Clock`). Whoever holds messages back for a
 * silence (the Batcher) hears of its end on {@link Silences.ended}, at the
 * end or when it is ended early.
 *
 * Silences are kept durably in the {@link Store} document `silences`: a
 * restart or a reload starts with them and their timers, and one that ended
 * while failmail was not running is simply over (what it held is summarized
 * as usual). In a cluster, only the sender holds them: it reads them when
 * it becomes the sender. Creating or ending a silence fails with the StateError when
 * it cannot be saved, and changes nothing: the API never claims a silence
 * (or its end) that a restart would lose.
 */
import { Clock, Effect, Either, FiberMap, PubSub, Schema } from "effect"
import * as crypto from "node:crypto"
import * as LogContext from "../../domain/LogContext.ts"
import type { FieldError } from "../../domain/silences/Matchers.ts"
import * as Silence from "../../domain/silences/Silence.ts"
import * as SenderState from "../cluster/SenderState.ts"
import { type StateError, Store } from "../store/Store.ts"

/** The name of the silences' state document. */
const DOCUMENT = "silences"

/** The silences, their end timers, and news of their ends. */
export class Silences extends Effect.Service<Silences>()("failmail/Silences", {
  scoped: Effect.gen(function* () {
    const state = yield* Store
    const entries = new Map<string, Silence.Compiled>()
    const ended = yield* PubSub.unbounded<string>()
    const timers = yield* FiberMap.make<string>()

    /** Saves a change, or undoes it (and fails) when it cannot be saved. */
    const saveOrUndo = (undo: () => void) =>
      Effect.suspend(() => state.save(DOCUMENT, () => [...entries.values()].map((entry) => entry.silence))).pipe(
        Effect.tapError((error) => Effect.zipRight(Effect.sync(undo), Effect.logError(`silences not saved, change refused: ${error.message}`))),
        // Saved on callers' fibers too (an HTTP request's).
        LogContext.annotate({ component: "silences" })
      )

    const announceEnd = (id: string) => Effect.asVoid(PubSub.publish(ended, id))
    /** Lines logged on a caller's fiber (an HTTP request's) still name the silences. */
    const inSilences = LogContext.annotate({ component: "silences" })

    const startTimer = (silence: Silence.Silence) =>
      FiberMap.run(
        timers,
        silence.id,
        Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sleep(Math.max(0, silence.endsAt - now))).pipe(
          Effect.zipRight(Effect.logInfo(`silence ${silence.id} ended (${silence.comment || "no comment"})`)),
          Effect.zipRight(announceEnd(silence.id)),
          LogContext.own({ component: "silences" })
        )
      ).pipe(Effect.asVoid)

    /** Forgets silences that ended longer ago than they are listed. */
    const prune = (now: number) => {
      for (const [id, entry] of entries) if (!Silence.isListed(entry.silence, now)) entries.delete(id)
    }

    const create = (request: Silence.SilenceRequest): Effect.Effect<Silence.Silence, FieldError | StateError> =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const silence = Silence.create(request, crypto.randomBytes(6).toString("hex"), now)
        if (!("id" in silence)) return yield* Effect.fail(silence)
        const compiled = Silence.compiled(silence)
        if (compiled === undefined) return yield* Effect.dieMessage("a checked silence does not compile")
        prune(now)
        entries.set(silence.id, compiled)
        yield* saveOrUndo(() => entries.delete(silence.id))
        yield* startTimer(silence)
        yield* Effect.logInfo(`silence ${silence.id} created until ${new Date(silence.endsAt).toISOString()} by ${silence.author || "(anonymous)"}`)
        return silence
      }).pipe(inSilences)

    const end = (id: string): Effect.Effect<Silence.Silence | undefined, StateError> =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const entry = entries.get(id)
        if (entry === undefined) return undefined
        if (!Silence.isActive(entry.silence, now)) return entry.silence
        const silence = { ...entry.silence, endsAt: now }
        entries.set(id, { silence, matchers: entry.matchers })
        yield* saveOrUndo(() => entries.set(id, entry))
        yield* FiberMap.remove(timers, id)
        yield* Effect.logInfo(`silence ${id} ended early`)
        yield* announceEnd(id)
        return silence
      }).pipe(inSilences)

    // The silences kept before this start or reload (or by the previous sender), with their timers.
    const loadStored = Effect.gen(function* () {
      const stored = Schema.decodeUnknownEither(Schema.UndefinedOr(Silence.Stored))(yield* state.load(DOCUMENT))
      if (Either.isLeft(stored)) yield* Effect.logError(`the kept silences cannot be read, starting without them: ${stored.left.message}`)
      const now = yield* Clock.currentTimeMillis
      for (const silence of Either.getOrElse(stored, () => undefined) ?? []) {
        const entry = Silence.compiled(silence)
        if (entry === undefined || !Silence.isListed(silence, now)) continue
        entries.set(silence.id, entry)
        if (Silence.isActive(silence, now)) yield* startTimer(silence)
      }
    })
    // Only the sender holds them (the others forward the API to it); it reads them when it becomes the sender.
    yield* SenderState.make({
      what: "the kept silences",
      component: "silences",
      load: loadStored,
      clear: Effect.zipRight(Effect.sync(() => entries.clear()), FiberMap.clear(timers))
    })

    return {
      /** Creates a silence from a request, or names the field that is wrong, or fails (keeping nothing) if it cannot be saved. */
      create,
      /** Ends a silence now; `undefined` if there is no such silence (an ended one is left as it is); fails (still in force) if its end cannot be saved. */
      end,
      /** The silences in force now, compiled. */
      active: Effect.map(Clock.currentTimeMillis, (now) =>
        [...entries.values()].filter((entry) => Silence.isActive(entry.silence, now))
      ),
      /** Silences in force and those ended recently, newest first. */
      list: Effect.map(Clock.currentTimeMillis, (now) => {
        prune(now)
        return [...entries.values()].map((entry) => entry.silence).sort((a, b) => b.startsAt - a.startsAt)
      }),
      /** A silence by id, if it is still listed. */
      get: (id: string) => Effect.sync(() => entries.get(id)?.silence),
      /** Ids of silences as they end (on time or early); subscribe before they end. */
      ended
    } as const
  }).pipe(LogContext.annotate({ component: "silences" }))
}) {}
