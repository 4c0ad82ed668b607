/**
 * Expected mail: a message that should arrive at least every so often (the
 * nightly "backup OK"). A matching message marks the expectation met and,
 * being routine, is not summarized. When none arrived for `every`, failmail
 * sends one "missing" notice, and one "back" notice when it arrives again.
 * Pure rules: validation, deadlines and the notices' subjects.
 */
import { Duration, Either, Schema } from "effect"
import * as GoDuration from "../settings/GoDuration.ts"
import * as Matchers from "../silences/Matchers.ts"
import { normalizeAddress } from "../message/Message.ts"
import { oneLine } from "../delivery/SummaryText.ts"
import { rfc3339 } from "../Status.ts"

/** An expectation as it is kept and listed. */
export interface Expectation {
  readonly id: string
  readonly name: string
  readonly match: Matchers.Matchers
  /** The longest a matching message may be absent (ms). */
  readonly everyMs: number
  /** Who gets the notices. */
  readonly to: ReadonlyArray<string>
  readonly createdAt: number
  /** When a matching message last arrived (ms since the epoch); 0: never. */
  readonly lastMetAt: number
  /** When the "missing" notice went out; 0 while it is met. */
  readonly missingSince: number
  /** Notices that came due and were not handed to the relay yet (waiting for the relay budget): sent after a restart. */
  readonly pending?: ReadonlyArray<PendingNotice>
}

/** A notice due and not sent yet, with what it says (the expectation's times when it came due). */
export interface PendingNotice {
  readonly kind: NoticeKind
  readonly lastMetAt: number
  readonly missingSince: number
}

/** What a request to create an expectation holds (before validation). */
export interface ExpectationRequest {
  readonly name: string
  readonly match: Readonly<Record<string, string>>
  readonly every: string
  readonly to: ReadonlyArray<string>
}

/** Longest name, in characters. */
export const MAX_NAME_CHARS = 200

const ADDRESS = /^[^\s@<>]+@[^\s@<>]+$/

/** Checks a request; the expectation it creates (with `id`), or which field is wrong. */
export const create = (request: ExpectationRequest, id: string, now: number): Expectation | Matchers.FieldError => {
  const name = oneLine(request.name)
  if (name === "") return { field: "name", message: "must not be empty" }
  if (name.length > MAX_NAME_CHARS) return { field: "name", message: `longer than ${MAX_NAME_CHARS} characters` }
  const compiled = Matchers.compile(request.match)
  if (Matchers.isFieldError(compiled)) return compiled
  const every = GoDuration.parse(request.every)
  if (Either.isLeft(every)) return { field: "every", message: every.left }
  const everyMs = Duration.toMillis(every.right)
  if (!(everyMs > 0)) return { field: "every", message: "must be greater than zero" }
  if (request.to.length === 0) return { field: "to", message: "needs at least one address" }
  const bad = request.to.find((address) => !ADDRESS.test(address.trim()))
  if (bad !== undefined) return { field: "to", message: `not an address: ${JSON.stringify(bad)}` }
  const to = [...new Set(request.to.map(normalizeAddress))].sort()
  return { id, name, match: compiled.source, everyMs, to, createdAt: now, lastMetAt: 0, missingSince: 0 }
}

/** When it is missing unless a matching message arrives: `every` after it was last met (or created). */
export const deadline = (expectation: Expectation): number =>
  (expectation.lastMetAt > 0 ? expectation.lastMetAt : expectation.createdAt) + expectation.everyMs

/** A matching message arrived at `at`: met again, and whether it was missing (a "back" notice is due). */
export const met = (expectation: Expectation, at: number): { readonly next: Expectation; readonly back: boolean } => ({
  next: { ...expectation, lastMetAt: Math.max(expectation.lastMetAt, at), missingSince: 0 },
  back: expectation.missingSince > 0
})

/** At `now`: whether the "missing" notice is due (once: it is not due again until the expectation was met). */
export const missingAt = (expectation: Expectation, now: number): Expectation | undefined =>
  expectation.missingSince === 0 && now >= deadline(expectation) ? { ...expectation, missingSince: now } : undefined

/** The kind of notice. */
export type NoticeKind = "missing" | "back"

/** `expectation` with a notice of `kind` due about `about` (the expectation as the notice describes it), kept until it is sent. */
export const withNotice = (expectation: Expectation, kind: NoticeKind, about: Expectation): { readonly next: Expectation; readonly notice: PendingNotice } => {
  const notice: PendingNotice = { kind, lastMetAt: about.lastMetAt, missingSince: about.missingSince }
  return { next: { ...expectation, pending: [...(expectation.pending ?? []), notice] }, notice }
}

/** `expectation` once `notice` was handed to the relay. */
export const withoutNotice = (expectation: Expectation, notice: PendingNotice): Expectation => {
  const pending = (expectation.pending ?? []).filter(
    (other) => !(other.kind === notice.kind && other.lastMetAt === notice.lastMetAt && other.missingSince === notice.missingSince)
  )
  const { pending: _, ...rest } = expectation
  return pending.length === 0 ? rest : { ...rest, pending }
}

/** The expectation as a pending notice describes it (its times when the notice came due). */
export const aboutNotice = (expectation: Expectation, notice: PendingNotice): Expectation => ({
  ...expectation,
  lastMetAt: notice.lastMetAt,
  missingSince: notice.missingSince
})

/** A notice's subject: `[failmail] missing: nightly backup (last seen never)` or `[failmail] back: nightly backup (missing since …)`. */
export const noticeSubject = (kind: NoticeKind, expectation: Expectation, prefix: string): string =>
  oneLine(
    kind === "missing"
      ? `${prefix} missing: ${expectation.name} (last seen ${expectation.lastMetAt > 0 ? rfc3339(expectation.lastMetAt) : "never"})`
      : `${prefix} back: ${expectation.name} (missing since ${rfc3339(expectation.missingSince)})`
  )

/** What a notice's template (`templates/notice.txt.hbs`) sees. */
export interface NoticeView {
  readonly subject: string
  readonly missing: boolean
  readonly name: string
  readonly matchers: string
  readonly every: string
  /** RFC 3339, or `never`. */
  readonly lastSeen: string
  /** RFC 3339 (the "back" notice), or `""`. */
  readonly missingSince: string
}

/** The view of a notice about `expectation` (as it was when the notice became due). */
export const noticeView = (kind: NoticeKind, expectation: Expectation, prefix: string): NoticeView => ({
  subject: noticeSubject(kind, expectation, prefix),
  missing: kind === "missing",
  name: expectation.name,
  matchers: Matchers.describe(expectation.match),
  every: GoDuration.format(Duration.millis(expectation.everyMs)),
  lastSeen: expectation.lastMetAt > 0 ? rfc3339(expectation.lastMetAt) : "never",
  missingSince: expectation.missingSince > 0 ? rfc3339(expectation.missingSince) : ""
})

/** How expectations are kept as a state document (a JSON array): with when each was last met and went missing. */
export const Stored = Schema.Array(
  Schema.Struct({
    id: Schema.String,
    name: Schema.String,
    match: Matchers.Stored,
    everyMs: Schema.Number,
    to: Schema.Array(Schema.String),
    createdAt: Schema.Number,
    lastMetAt: Schema.Number,
    missingSince: Schema.Number,
    pending: Schema.optionalWith(
      Schema.Array(Schema.Struct({ kind: Schema.Literal("missing", "back"), lastMetAt: Schema.Number, missingSince: Schema.Number })),
      { exact: true }
    )
  })
)
