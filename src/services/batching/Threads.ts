/**
 * The threads of digests and what each recipient set was sent (see
 * `src/domain/batching/Threads.ts`), kept durably in the {@link Store}
 * document `threads`: state of the sender (`cluster/SenderState.ts`),
 * loaded when the service is built (so restarts and reloads keep threads
 * going) or, in a cluster, each time this replica becomes the sender, and
 * cleared when it stops being the sender; saved as each digest is built,
 * before it is relayed, so the next digest (on this sender or the next)
 * continues its thread. A save that fails is logged: the digest still
 * goes, and the next one saves again.
 *
 * The Batcher tells which groups came again and wait in a pending batch (or
 * behind a silence): those have not stopped, though they are not in the
 * digest being built.
 */
import { Duration, Effect, Either } from "effect"
import * as Rules from "../../domain/batching/Threads.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import * as SenderState from "../cluster/SenderState.ts"
import { Store } from "../store/Store.ts"

const DOCUMENT = "threads"

/** The group keys of a batch key that wait to be summarized (pending, or held by a silence). */
export type PendingGroups = (batchKey: string) => ReadonlySet<string>

/** Threads of digests, and what stopped since the last digest to the same recipients. */
export class Threads extends Effect.Service<Threads>()("failmail/Threads", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* Store
    const forgetAfterMs = Duration.toMillis(config.forgetAfter)
    let state: Rules.State = Rules.empty
    let pendingGroups: PendingGroups = () => new Set()

    const loadStored = Effect.flatMap(store.load(DOCUMENT), (saved) =>
      Either.match(Rules.stateOf(saved), {
        onLeft: (problem) =>
          Effect.logWarning(`the stored threads cannot be read; digests start new threads: ${problem}`).pipe(
            Effect.zipRight(Effect.sync(() => void (state = Rules.empty)))
          ),
        onRight: (stored) => Effect.sync(() => void (state = stored))
      })
    )
    // A replica that becomes the sender continues the threads of the previous sender.
    yield* SenderState.make({
      what: "the threads",
      load: loadStored,
      clear: Effect.sync(() => {
        state = Rules.empty
      })
    })
    const save = SenderState.saving(
      "the threads",
      undefined,
      Effect.suspend(() => {
        const kept = state
        return store.save(DOCUMENT, () => Rules.documentOf(kept))
      })
    )

    return {
      /**
       * Places a digest about to be built: the thread it continues (the
       * first digest's `Message-ID`, or `undefined` when it starts one) and
       * the groups of the previous digest to its recipients that stopped
       * (neither in it, nor `reportedSince`, nor waiting to be summarized).
       * Resolves once that is saved (or the failure to save it logged).
       */
      place: (digest: Rules.Digest, reportedSince: (group: Rules.DigestGroup) => boolean) =>
        Effect.suspend(() => {
          const waiting = new Map<string, ReadonlySet<string>>()
          const isWaiting = (group: Rules.DigestGroup) => {
            let keys = waiting.get(group.batchKey)
            if (keys === undefined) waiting.set(group.batchKey, (keys = pendingGroups(group.batchKey)))
            return keys.has(group.groupKey)
          }
          const placed = Rules.place(state, digest, forgetAfterMs, (group) => reportedSince(group) || isWaiting(group))
          state = placed.state
          return Effect.as(save, { inReplyTo: placed.inReplyTo, stopped: placed.stopped })
        }),
      /** Tells, while the current scope is open, which groups wait to be summarized (the Batcher's). */
      watchPending: (groups: PendingGroups) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            pendingGroups = groups
          }),
          () =>
            Effect.sync(() => {
              if (pendingGroups === groups) pendingGroups = () => new Set()
            })
        )
    } as const
  })
}) {}
