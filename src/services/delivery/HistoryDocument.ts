/**
 * The recent summaries kept durably, in the {@link Store} document
 * `history` (see `src/domain/delivery/SummaryHistory.ts`), as state of the
 * sender (`cluster/SenderState.ts`): read when the layer is built or, in a
 * cluster, each time this replica becomes the sender, so a
 * restart, a reload and a new sender after a failover show the summaries
 * sent before; saved in the background whenever a summary is tracked or
 * changes (saves that come while one runs are coalesced into the next),
 * and once more when the layer closes, after the final summaries. In a
 * cluster only the sender saves, from when it becomes the sender until its
 * role ends, so a former sender never writes its stale view over the next
 * one's. The history is what failmail reports, not what it must not
 * lose: a save that fails is logged and made again at the next change,
 * never holding up a summary.
 */
import { Effect, Either, Layer, Queue } from "effect"
import * as LogContext from "../../domain/LogContext.ts"
import * as SummaryHistory from "../../domain/delivery/SummaryHistory.ts"
import * as SenderState from "../cluster/SenderState.ts"
import { History } from "./History.ts"
import { Store } from "../store/Store.ts"

const DOCUMENT = "history"

/** Reads the stored summaries into {@link History} and keeps the document up to date while the layer is open. */
export const HistoryDocument = Layer.scopedDiscard(
  Effect.gen(function* () {
    const store = yield* Store
    const history = yield* History
    const adoptStored = Effect.gen(function* () {
      const stored = SummaryHistory.recordsOf(yield* store.load(DOCUMENT))
      if (Either.isLeft(stored)) yield* Effect.logWarning(`the stored summary history cannot be read; it starts anew: ${stored.left}`)
      history.adopt(Either.getOrElse(stored, () => []))
    })

    const save = SenderState.saving(
      "the summary history",
      "history",
      store.save(DOCUMENT, () => SummaryHistory.documentOf(history.recent()))
    )
    /** Saves every change in the background until the scope closes, then the last ones. */
    const keepSaved = Effect.gen(function* () {
      const changes = yield* Queue.sliding<void>(1)
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Queue.take(changes), save)))
      let changed = false
      const listener = () => {
        changed = true
        Queue.unsafeOffer(changes, undefined)
      }
      history.onChange(listener)
      // Runs before the saver is interrupted (finalizers run in reverse): the last changes are saved.
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          history.offChange(listener)
          return changed ? save : Effect.void
        })
      )
    })

    // Only the sender saves (a former sender must not write its stale view over the next one's);
    // a replica that becomes the sender first takes in what the previous sender recorded meanwhile.
    yield* SenderState.make({ what: "the stored summary history", component: "history", load: Effect.zipRight(adoptStored, keepSaved) })
  }).pipe(LogContext.annotate({ component: "history" }))
)
