/**
 * Silences: an operator's "I know, stop telling me" for the messages some
 * matchers select, until a given time. A silenced message is still stored,
 * counted and shown, but it never causes a summary; when its batch goes out
 * for other reasons, the summary says how many messages each silence held
 * back, and when the silence ends what it held is summarized like any other
 * mail. Pure rules: validation, which silence holds a message, the footer.
 */
import * as GoDuration from "../settings/GoDuration.ts"
import { parseRfc3339 } from "../Rfc3339.ts"
import { Duration, Either, Schema } from "effect"
import type { PendingMessage } from "../batching/Batching.ts"
import * as Matchers from "./Matchers.ts"

/** A silence as it is kept and listed. */
export interface Silence {
  readonly id: string
  readonly match: Matchers.Matchers
  /** When it was created (ms since the epoch). */
  readonly startsAt: number
  /** When it ends or ended (ms since the epoch); set to the moment it was ended early. */
  readonly endsAt: number
  readonly comment: string
  readonly author: string
}

/** What a request to create a silence holds (before validation). */
export interface SilenceRequest {
  readonly match: Readonly<Record<string, string>>
  readonly for?: string | undefined
  readonly until?: string | undefined
  readonly comment?: string | undefined
  readonly author?: string | undefined
}

/** Ended silences stay listed this long after their end. */
export const RECENTLY_ENDED_MS = 24 * 3_600_000

/** Longest comment or author kept, in characters. */
export const MAX_TEXT_CHARS = 1_000

/** When a silence of this request ends, or which field is wrong. */
export const endOf = (request: Pick<SilenceRequest, "for" | "until">, now: number): number | Matchers.FieldError => {
  if (request.for !== undefined && request.until !== undefined) {
    return { field: "for", message: 'give "for" or "until", not both' }
  }
  if (request.for !== undefined) {
    const parsed = GoDuration.parse(request.for)
    if (Either.isLeft(parsed)) return { field: "for", message: parsed.left }
    const ms = Duration.toMillis(parsed.right)
    if (!(ms > 0)) return { field: "for", message: "must be greater than zero" }
    return now + ms
  }
  if (request.until !== undefined) {
    const at = parseRfc3339(request.until)
    if (at === undefined) return { field: "until", message: `not an RFC 3339 time: "${request.until}"` }
    if (at <= now) return { field: "until", message: "is in the past" }
    return at
  }
  return { field: "for", message: 'needs an end: "for" (a duration such as 1h) or "until" (an RFC 3339 time)' }
}

const text = (value: string | undefined, field: string): string | Matchers.FieldError => {
  const clean = (value ?? "").trim()
  if (clean.length > MAX_TEXT_CHARS) return { field, message: `longer than ${MAX_TEXT_CHARS} characters` }
  return clean
}

/** Checks a request; the silence it creates (with `id`), or which field is wrong. */
export const create = (request: SilenceRequest, id: string, now: number): Silence | Matchers.FieldError => {
  const compiled = Matchers.compile(request.match)
  if (Matchers.isFieldError(compiled)) return compiled
  const endsAt = endOf(request, now)
  if (typeof endsAt !== "number") return endsAt
  const comment = text(request.comment, "comment")
  if (typeof comment !== "string") return comment
  const author = text(request.author, "author")
  if (typeof author !== "string") return author
  return { id, match: compiled.source, startsAt: now, endsAt, comment, author }
}

/** Whether a silence is in force at `now`. */
export const isActive = (silence: Silence, now: number): boolean => now < silence.endsAt

/** Whether a silence is still listed at `now` (active, or ended recently). */
export const isListed = (silence: Silence, now: number): boolean => now < silence.endsAt + RECENTLY_ENDED_MS

/** A silence with its matchers compiled (they were checked when it was created). */
export interface Compiled {
  readonly silence: Silence
  readonly matchers: Matchers.CompiledMatchers
}

/** Compiles a stored silence's matchers; `undefined` if they no longer compile. */
export const compiled = (silence: Silence): Compiled | undefined => {
  const matchers = Matchers.compile(silence.match as Record<string, string>)
  return Matchers.isFieldError(matchers) ? undefined : { silence, matchers }
}

/** The silence that holds a message: of those in force that match, the one ending last. */
export const holderOf = (active: ReadonlyArray<Compiled>, target: Matchers.MatchTarget): Silence | undefined => {
  let holder: Silence | undefined
  for (const entry of active) {
    if ((holder === undefined || entry.silence.endsAt > holder.endsAt) && Matchers.matches(entry.matchers, target)) {
      holder = entry.silence
    }
  }
  return holder
}

/** A batch's messages split at the moment it is due: those to summarize, and those each silence holds back. */
export interface Split {
  readonly released: ReadonlyArray<PendingMessage>
  /** Silence id → the messages it holds. */
  readonly held: ReadonlyMap<string, ReadonlyArray<PendingMessage>>
}

/** Splits a due batch's messages by the silences in force. */
export const split = (batchKey: string, messages: ReadonlyArray<PendingMessage>, active: ReadonlyArray<Compiled>): Split => {
  if (active.length === 0) return { released: messages, held: new Map() }
  const released: Array<PendingMessage> = []
  const held = new Map<string, Array<PendingMessage>>()
  for (const message of messages) {
    const holder = holderOf(active, Matchers.targetOfPending(batchKey, message))
    if (holder === undefined) {
      released.push(message)
      continue
    }
    const list = held.get(holder.id)
    if (list === undefined) held.set(holder.id, [message])
    else list.push(message)
  }
  return { released, held }
}

/** One line at the end of a summary: how many of the batch's messages a silence held back. */
export interface HeldNote {
  readonly silenceId: string
  /** The silence's matchers, on one line. */
  readonly matchers: string
  readonly endsAt: number
  readonly comment: string
  readonly author: string
  readonly count: number
}

/** The notes for the messages silences hold back, for one summary's recipients (only messages addressed to one of them count). */
export const heldNotes = (
  held: ReadonlyArray<{ readonly silence: Silence; readonly messages: ReadonlyArray<PendingMessage> }>,
  recipients: ReadonlyArray<string>
): ReadonlyArray<HeldNote> => {
  const wanted = new Set(recipients)
  return held
    .map(({ silence, messages }) => ({
      silenceId: silence.id,
      matchers: Matchers.describe(silence.match),
      endsAt: silence.endsAt,
      comment: silence.comment,
      author: silence.author,
      count: messages.filter((message) => message.recipients.some((recipient) => wanted.has(recipient))).length
    }))
    .filter((note) => note.count > 0)
}

/** How silences are kept as a state document (a JSON array). */
export const Stored = Schema.Array(
  Schema.Struct({
    id: Schema.String,
    match: Matchers.Stored,
    startsAt: Schema.Number,
    endsAt: Schema.Number,
    comment: Schema.String,
    author: Schema.String
  })
)
