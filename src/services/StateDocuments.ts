/**
 * Named state documents (JSON values) that outlive a configuration: the
 * silences, the expectations and the key that signs silence links. Kept in
 * the process's memory, so a reload keeps them and a restart does not; the
 * durable state store (`<message-store>/state/`) takes its place when it
 * lands, with the same `load`/`save`.
 */
import { Effect } from "effect"

/** The documents, by name. */
export class StateDocuments extends Effect.Service<StateDocuments>()("failmail/StateDocuments", {
  sync: () => {
    const documents = new Map<string, string>()
    return {
      /** The document `name` as last saved, or `undefined` if it was never saved. */
      load: (name: string): Effect.Effect<unknown> =>
        Effect.sync(() => {
          const text = documents.get(name)
          return text === undefined ? undefined : (JSON.parse(text) as unknown)
        }),
      /** Replaces the document `name`. */
      save: (name: string, value: unknown): Effect.Effect<void> => Effect.sync(() => void documents.set(name, JSON.stringify(value)))
    } as const
  }
}) {}
