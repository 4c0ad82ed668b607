/**
 * Summaries on their way out: a due batch split by recipients, held while
 * the relay budget is spent, and merged when more are held than the budget
 * allows — those for the same recipients become one "storm" digest instead
 * of a flood, listing each merged batch by key with its count.
 *
 * Pure data and functions, no I/O and no clock.
 */
import * as crypto from "node:crypto"
import * as Batching from "../batching/Batching.ts"
import * as RelayBudget from "./RelayBudget.ts"
import * as Silence from "../silences/Silence.ts"

/** One batch's share of an outgoing summary. */
export interface Part {
  readonly batchKey: string
  readonly messages: ReadonlyArray<Batching.PendingMessage>
  /** What silences held back of this batch from these recipients (a line each at the end of the summary). */
  readonly held: ReadonlyArray<Silence.HeldNote>
}

/** One summary to send: its recipients and the batches it covers (more than one: a storm digest). */
export interface Outgoing {
  readonly recipients: ReadonlyArray<string>
  /** The recipients joined: identifies the recipient set. */
  readonly recipientsKey: string
  readonly parts: ReadonlyArray<Part>
  /** When it came due (ms): held summaries go out oldest first. */
  readonly dueAt: number
}

/** A silence and the messages of one batch it holds back. */
export interface HeldBack {
  readonly silence: Silence.Silence
  readonly messages: ReadonlyArray<Batching.PendingMessage>
}

/** The summaries of a due batch, one per recipient set (SPEC §3), each with what silences held back from its recipients. */
export const outgoingOf = (
  batch: Pick<Batching.PendingBatch, "key" | "messages">,
  held: ReadonlyArray<HeldBack>,
  dueAt: number
): ReadonlyArray<Outgoing> =>
  Batching.partition(batch.messages).map((delivery) => ({
    recipients: delivery.recipients,
    recipientsKey: delivery.recipients.join("\n"),
    parts: [{ batchKey: batch.key, messages: delivery.messages, held: Silence.heldNotes(held, delivery.recipients) }],
    dueAt
  }))

/** The silence lines of a summary: one per silence, its counts over every part added up. */
export const heldNotesOf = (outgoing: Outgoing): ReadonlyArray<Silence.HeldNote> => {
  const bySilence = new Map<string, Silence.HeldNote>()
  for (const note of outgoing.parts.flatMap((part) => part.held)) {
    const known = bySilence.get(note.silenceId)
    bySilence.set(note.silenceId, known === undefined ? note : { ...known, count: known.count + note.count })
  }
  return [...bySilence.values()]
}

/** Whether a summary merges several batches. */
export const isStorm = (outgoing: Outgoing): boolean => outgoing.parts.length > 1

/** Every message of a summary. */
export const messagesOf = (outgoing: Outgoing): ReadonlyArray<Batching.PendingMessage> =>
  outgoing.parts.flatMap((part) => part.messages)

/**
 * The local part of a summary's `Message-ID`: a hash of its recipients and,
 * batch by batch, the ids of the messages it covers. Any replica that
 * builds the summary of the same messages for the same recipients gives it
 * the same Message-ID, so a summary sent again after an ambiguous relay
 * failure is recognisable as the same one.
 */
export const summaryIdOf = (outgoing: Pick<Outgoing, "recipients" | "parts">): string => {
  const hash = crypto.createHash("sha256")
  hash.update(`${outgoing.recipients.join("\n")}\0`)
  const parts = [...outgoing.parts].sort((a, b) => (a.batchKey < b.batchKey ? -1 : a.batchKey > b.batchKey ? 1 : 0))
  for (const part of parts) {
    hash.update(`${part.batchKey}\0${part.messages.map((message) => message.id).sort().join("\n")}\0`)
  }
  return hash.digest("hex").slice(0, 40)
}

/** How many messages a summary covers. */
export const messageCountOf = (outgoing: Outgoing): number =>
  outgoing.parts.reduce((sum, part) => sum + part.messages.length, 0)

/** Merges summaries for the same recipients into one; parts of the same batch key become one part, the busiest first. */
export const merge = (items: ReadonlyArray<Outgoing>): Outgoing => {
  const first = items[0]
  if (first === undefined) throw new Error("merge: nothing to merge")
  const parts = new Map<string, { messages: Array<Batching.PendingMessage>; held: Array<Silence.HeldNote> }>()
  for (const item of items) {
    for (const part of item.parts) {
      const known = parts.get(part.batchKey)
      if (known === undefined) parts.set(part.batchKey, { messages: [...part.messages], held: [...part.held] })
      else {
        known.messages.push(...part.messages)
        known.held.push(...part.held)
      }
    }
  }
  return {
    recipients: first.recipients,
    recipientsKey: first.recipientsKey,
    parts: [...parts]
      .map(([batchKey, { messages, held }]) => ({ batchKey, messages, held }))
      .sort((a, b) => b.messages.length - a.messages.length),
    dueAt: Math.min(...items.map((item) => item.dueAt))
  }
}

/**
 * The summary to send next from what is held, given how many sends the
 * budget allows right now: the one due first, alone — unless it takes the
 * last send the budget allows and more are held; then it is merged with
 * every other summary held for the same recipients (a storm digest). Also
 * returns what stays held.
 */
export const takeNext = (
  held: ReadonlyArray<Outgoing>,
  allowedNow: number
): { readonly next: Outgoing; readonly rest: ReadonlyArray<Outgoing> } | undefined => {
  if (held.length === 0) return undefined
  const oldest = held.reduce((a, b) => (b.dueAt < a.dueAt ? b : a))
  if (held.length === 1 || allowedNow > 1) return { next: oldest, rest: held.filter((item) => item !== oldest) }
  const same = held.filter((item) => item.recipientsKey === oldest.recipientsKey)
  return { next: merge(same), rest: held.filter((item) => item.recipientsKey !== oldest.recipientsKey) }
}

/** What to send now and what stays held. */
export interface Sendable {
  readonly send: ReadonlyArray<Outgoing>
  readonly held: ReadonlyArray<Outgoing>
}

/**
 * Everything the budget allows at `now` with `inFlight` sends under way
 * (each send taken here is one more under way, until it is done and
 * recorded in the log), taken from what is held with {@link takeNext}
 * (merging on the budget's last send).
 */
export const sendable = (
  held: ReadonlyArray<Outgoing>,
  log: RelayBudget.SendLog,
  now: number,
  rate: RelayBudget.RelayRate,
  inFlight: number
): Sendable => {
  const send: Array<Outgoing> = []
  let rest = held
  while (RelayBudget.nextSendAt(log, now, rate, inFlight + send.length) <= now) {
    const taken = takeNext(rest, RelayBudget.remaining(log, now, rate, inFlight + send.length))
    if (taken === undefined) break
    send.push(taken.next)
    rest = taken.rest
  }
  return { send, held: rest }
}
