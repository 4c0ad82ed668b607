/**
 * The embedded {@link Store}: everything durable on the local disk under
 * `--message-store`, needing no server. Messages are records in a segmented
 * append-only log under `log/` (`Spool.ts` over `MessageLog.ts`), the named
 * state is JSON documents under `state/` (`StateStore.ts`). The default when
 * `--store` is empty.
 */
import { Effect, Layer } from "effect"
import type { AppConfig } from "../../runtime/AppConfig.ts"
import { makeSpool } from "./Spool.ts"
import { makeStateDocuments } from "./StateStore.ts"
import { type SpoolError, type StateError, Store } from "../Store.ts"

/** The embedded store on `--message-store`; its files close with the layer's scope. */
export const EmbeddedStore: Layer.Layer<Store, SpoolError | StateError, AppConfig> = Layer.scoped(
  Store,
  Effect.zipWith(makeSpool, makeStateDocuments, (messages, documents) => Store.of({ ...messages, ...documents }))
)
