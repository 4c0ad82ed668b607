/**
 * One-click silence links in summaries: a token that says "silence these
 * matchers for this long", signed with HMAC-SHA256 under a key only this
 * failmail knows, and dated, so a link that was changed, or is older than
 * {@link MAX_LINK_AGE_MS}, is refused. Pure (the key is given).
 */
import * as crypto from "node:crypto"
import { exactly, type Matchers } from "./Matchers.ts"

/** The oldest link accepted. */
export const MAX_LINK_AGE_MS = 7 * 24 * 3_600_000

/** Links dated this far in the future (clock skew) are still accepted. */
const SKEW_MS = 5 * 60_000

/** What a link asks for. */
export interface LinkClaim {
  readonly match: Matchers
  /** How long the silence lasts (ms). */
  readonly forMs: number
  /** When the link was made (ms since the epoch). */
  readonly issuedAt: number
}

const mac = (key: Uint8Array, payload: string): Buffer => crypto.createHmac("sha256", key).update(payload).digest()

/** The signed token of a claim: `<payload>.<signature>`, both base64url. */
export const sign = (key: Uint8Array, claim: LinkClaim): string => {
  const payload = Buffer.from(JSON.stringify([claim.match, claim.forMs, claim.issuedAt]), "utf8").toString("base64url")
  return `${payload}.${mac(key, payload).toString("base64url")}`
}

const isMatchers = (value: unknown): value is Matchers =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string")

/** The claim of a token signed with `key` and not too old at `now`, or why it is refused. */
export const verify = (key: Uint8Array, token: string, now: number): LinkClaim | { readonly refused: string } => {
  const [payload, signature, ...rest] = token.split(".")
  if (payload === undefined || signature === undefined || rest.length > 0) return { refused: "this link is not a failmail silence link" }
  const given = Buffer.from(signature, "base64url")
  const expected = mac(key, payload)
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    return { refused: "this link's signature does not match (it was changed, or made by another failmail)" }
  }
  let decoded: unknown
  try {
    decoded = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"))
  } catch {
    return { refused: "this link is not a failmail silence link" }
  }
  if (!Array.isArray(decoded) || decoded.length !== 3) return { refused: "this link is not a failmail silence link" }
  const [match, forMs, issuedAt] = decoded as [unknown, unknown, unknown]
  if (!isMatchers(match) || typeof forMs !== "number" || typeof issuedAt !== "number" || !(forMs > 0)) {
    return { refused: "this link is not a failmail silence link" }
  }
  if (now - issuedAt > MAX_LINK_AGE_MS) return { refused: "this link is older than 7 days" }
  if (issuedAt - now > SKEW_MS) return { refused: "this link is dated in the future" }
  return { match, forMs, issuedAt }
}

/** Whether verify refused the token. */
export const isRefused = (value: LinkClaim | { readonly refused: string }): value is { readonly refused: string } => "refused" in value

/** The links each summary group gets: label and duration. */
export const LINK_DURATIONS: ReadonlyArray<{ readonly label: string; readonly forMs: number }> = [
  { label: "silence 1 h", forMs: 3_600_000 },
  { label: "silence 24 h", forMs: 24 * 3_600_000 }
]

/** The dashboard path that confirms (GET) and creates (POST) a linked silence. */
export const LINK_PATH = "/silence"

/** The matchers that select exactly one group of one batch. */
export const groupMatchers = (batchKey: string, groupKey: string): Matchers => ({
  batch: exactly(batchKey),
  group: exactly(groupKey)
})

/** The URL of a token under failmail's public URL (`--external-url`, which may have a path). */
export const linkUrl = (externalUrl: string, token: string): string => {
  const base = externalUrl.endsWith("/") ? externalUrl : `${externalUrl}/`
  return new URL(`${LINK_PATH.slice(1)}?t=${encodeURIComponent(token)}`, base).toString()
}

/** The silence links of one summary group, made at `issuedAt`; none without an external URL. */
export const groupLinks = (
  key: Uint8Array,
  externalUrl: string,
  group: { readonly batchKey: string; readonly groupKey: string },
  issuedAt: number
): ReadonlyArray<{ readonly label: string; readonly url: string }> =>
  externalUrl === ""
    ? []
    : LINK_DURATIONS.map(({ label, forMs }) => ({
        label,
        url: linkUrl(externalUrl, sign(key, { match: groupMatchers(group.batchKey, group.groupKey), forMs, issuedAt }))
      }))
