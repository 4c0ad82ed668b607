/**
 * The memory of reported groups (see `src/domain/batching/GroupMemory.ts`), kept
 * durably in the {@link Store} document `groups`: state of the sender
 * (`cluster/SenderState.ts`), loaded when the service is built (so restarts
 * and reloads keep it) or, in a cluster, each time this replica becomes the
 * sender; saved after every digest that was relayed or filed, before its
 * messages leave the spool.
 */
import { Duration, Effect } from "effect"
import * as Memory from "../../domain/batching/GroupMemory.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import * as SenderState from "../cluster/SenderState.ts"
import { Store } from "../store/Store.ts"

const DOCUMENT = "groups"

/** A record as saved: a row, not an object, so the document is about half the size to write and read. */
type Row = readonly [string, string, number, number, number, number, number]

const rowOf = (record: Memory.GroupRecord): Row => [
  record.batchKey,
  record.groupKey,
  record.firstSeen,
  record.lastSeen,
  record.lastReported,
  record.instances,
  record.reports
]

const recordOf = (row: unknown): Memory.GroupRecord | undefined => {
  if (!Array.isArray(row) || row.length !== 7) return undefined
  const [batchKey, groupKey, ...numbers] = row as Array<unknown>
  if (typeof batchKey !== "string" || typeof groupKey !== "string") return undefined
  if (!numbers.every((n) => typeof n === "number" && Number.isFinite(n))) return undefined
  const [firstSeen, lastSeen, lastReported, instances, reports] = numbers as Array<number>
  return { batchKey, groupKey, firstSeen, lastSeen, lastReported, instances, reports } as Memory.GroupRecord
}

const recordsOf = (saved: unknown): ReadonlyArray<Memory.GroupRecord> => {
  const rows = (saved as { groups?: unknown } | undefined)?.groups
  return Array.isArray(rows) ? rows.flatMap((row) => recordOf(row) ?? []) : []
}

/** Reported groups: what is new, what is ongoing, what may wait for its repeat. */
export class GroupMemory extends Effect.Service<GroupMemory>()("failmail/GroupMemory", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* Store
    const forgetAfterMs = Duration.toMillis(config.forgetAfter)
    const backAfterMs = Duration.toMillis(config.backAfter)
    const repeatMs = Duration.toMillis(config.repeatInterval)
    let memory: Memory.Memory = new Map()
    // A replica that becomes the sender reads what the previous sender remembered meanwhile.
    yield* SenderState.make({
      what: "the group memory",
      load: Effect.map(store.load(DOCUMENT), (saved) => {
        memory = new Map(recordsOf(saved).map((record) => [Memory.memoryKey(record.batchKey, record.groupKey), record]))
      }),
      clear: Effect.sync(() => {
        memory = new Map()
      })
    })
    const save = SenderState.saving(
      "the group memory",
      undefined,
      Effect.suspend(() => {
        const remembered = memory
        return store.save(DOCUMENT, () => ({ groups: [...remembered.values()].map(rowOf) }))
      })
    )

    const recordOf = (batchKey: string, groupKey: string) => memory.get(Memory.memoryKey(batchKey, groupKey))

    return {
      /** What is remembered of a group, if anything. */
      recordOf,
      /** New or ongoing, for a group whose first instance in this digest arrived at `firstAt`. */
      classify: (batchKey: string, groupKey: string, firstAt: number): Memory.Novelty =>
        Memory.classify(recordOf(batchKey, groupKey), { firstAt }, forgetAfterMs, backAfterMs),
      /** With `--repeat-interval`: until when a due batch of these groups waits (`undefined`: it goes now). */
      repeatHoldUntil: (groups: ReadonlyArray<Memory.SeenGroup>, now: number): number | undefined =>
        Memory.repeatHoldUntil(memory, groups, now, repeatMs, forgetAfterMs, backAfterMs),
      /** Remembers that these groups were reported at `now`; resolves once that is on disk (or the failure to save it logged). */
      reported: (groups: ReadonlyArray<Memory.SeenGroup>, now: number): Effect.Effect<void> =>
        Effect.suspend(() => {
          memory = Memory.remember(memory, groups, now, forgetAfterMs)
          return save
        }),
      /** Every remembered group, most recently seen first. */
      list: Effect.sync(() => Memory.listed(memory)),
      /** Whether `--repeat-interval` is on. */
      repeats: repeatMs > 0
    } as const
  })
}) {}
