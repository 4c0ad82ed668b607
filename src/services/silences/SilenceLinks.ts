/**
 * The key that signs one-click silence links in summaries, and the links
 * themselves. The key is made once, at random (32 bytes), and kept in the
 * StateStore document `silence-link-key`, so links stay valid across
 * restarts; only this failmail knows it, and a link signed with another key
 * is refused.
 */
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as SilenceLink from "../../domain/silences/SilenceLink.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { Store } from "../store/Store.ts"

/** The name of the key's state document. */
const DOCUMENT = "silence-link-key"

/** Signs and checks silence links. */
export class SilenceLinks extends Effect.Service<SilenceLinks>()("failmail/SilenceLinks", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const state = yield* Store
    const kept = yield* state.load(DOCUMENT)
    const key = typeof kept === "string" && kept.length >= 43 ? Buffer.from(kept, "base64url") : crypto.randomBytes(32)
    if (kept !== key.toString("base64url")) yield* state.save(DOCUMENT, () => key.toString("base64url"))
    return {
      /** The links of a summary group, issued at `issuedAt` (none without `--external-url`). */
      forGroup: (batchKey: string, groupKey: string, issuedAt: number) =>
        SilenceLink.groupLinks(key, config.externalUrl, { batchKey, groupKey }, issuedAt),
      /** What a link's token asks for, or why it is refused. */
      verify: (token: string, now: number) => SilenceLink.verify(key, token, now)
    } as const
  })
}) {}
