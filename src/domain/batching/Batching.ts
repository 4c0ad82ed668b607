/**
 * The batching rules: when a batch is due, who receives which messages, and
 * how messages group inside a summary. Pure data and functions, no I/O.
 */
import { normalizeAddress, type Received } from "../message/Message.ts"

/** The two timing settings, in milliseconds. */
export interface Timing {
  readonly waitPeriodMs: number
  readonly maxWaitMs: number
}

/** What a batch keeps per message: ids, keys and times, not bodies. */
export interface PendingMessage {
  readonly id: string
  readonly receivedAt: number
  readonly groupKey: string
  readonly subject: string
  readonly sender: string
  /** Lower-cased, sorted, unique envelope recipients. */
  readonly recipients: ReadonlyArray<string>
  /** `recipients` joined: identifies the recipient set. */
  readonly recipientsKey: string
  readonly size: number
}

/** A pending batch: the messages sharing one batch key, in arrival order. */
export interface PendingBatch {
  /** Unique per batch, so a batch key that reopens gets a new timer. */
  readonly serial: number
  readonly key: string
  readonly firstAt: number
  lastAt: number
  readonly messages: Array<PendingMessage>
  /** Interned strings, so a flood of one alert holds one copy of its texts. */
  readonly strings: Map<string, string>
  /** Envelope recipients as received (joined) → their normalized set, so a flood to one list holds one copy of it. */
  readonly recipientSets: Map<string, { readonly key: string; readonly recipients: ReadonlyArray<string> }>
}

const intern = (batch: PendingBatch, text: string): string => {
  const known = batch.strings.get(text)
  if (known !== undefined) return known
  batch.strings.set(text, text)
  return text
}

/** Lower-cases and de-duplicates recipients (compared case-insensitively), sorted. */
export const normalizeRecipients = (addresses: ReadonlyArray<string>): ReadonlyArray<string> =>
  [...new Set(addresses.map(normalizeAddress).filter((address) => address !== ""))].sort()

/** The normalized recipient set of an envelope, shared by every message of the batch with the same envelope recipients. */
const recipientSetOf = (batch: PendingBatch, rcptTo: ReadonlyArray<string>) => {
  // "\n" cannot occur in an SMTP address, so the joined list identifies the envelope's recipients.
  const raw = rcptTo.join("\n")
  const known = batch.recipientSets.get(raw)
  if (known !== undefined) return known
  const key = intern(batch, normalizeRecipients(rcptTo).join("\n"))
  const set = { key, recipients: key === "" ? [] : key.split("\n").map((address) => intern(batch, address)) }
  batch.recipientSets.set(raw, set)
  return set
}

/** Opens a batch with its first message. */
export const open = (serial: number, message: Received): PendingBatch => {
  const batch: PendingBatch = {
    serial,
    key: message.batchKey,
    firstAt: message.receivedAt,
    lastAt: message.receivedAt,
    messages: [],
    strings: new Map(),
    recipientSets: new Map()
  }
  add(batch, message)
  return batch
}

/** A batch of messages already pending elsewhere (those a silence held back), under `key`. */
export const ofMessages = (serial: number, key: string, messages: ReadonlyArray<PendingMessage>): PendingBatch => ({
  serial,
  key,
  firstAt: messages.reduce((min, message) => Math.min(min, message.receivedAt), Number.POSITIVE_INFINITY),
  lastAt: messages.reduce((max, message) => Math.max(max, message.receivedAt), 0),
  messages: [...messages],
  strings: new Map(),
  recipientSets: new Map()
})

/** Adds a message to a batch (in place; batches are owned by one service). */
export const add = (batch: PendingBatch, message: Received): void => {
  const { key: recipientsKey, recipients } = recipientSetOf(batch, message.envelope.rcptTo)
  batch.messages.push({
    id: message.id,
    receivedAt: message.receivedAt,
    groupKey: intern(batch, message.groupKey),
    subject: intern(batch, message.subject),
    sender: intern(batch, message.sender),
    recipients,
    recipientsKey,
    size: message.size
  })
  batch.lastAt = Math.max(batch.lastAt, message.receivedAt)
}

/**
 * When a batch is summarized: `min(last + wait-period, first + max-wait)`.
 * Every new message pushes the quiet deadline, never past the hard one.
 */
export const deadline = (batch: Pick<PendingBatch, "firstAt" | "lastAt">, timing: Timing): number =>
  Math.min(batch.lastAt + timing.waitPeriodMs, batch.firstAt + timing.maxWaitMs)

/** The messages one set of recipients receives together in one summary. */
export interface Delivery {
  readonly recipients: ReadonlyArray<string>
  readonly messages: ReadonlyArray<PendingMessage>
}

/**
 * Splits a batch by recipients: the union of all recipients, except that
 * nobody receives a message not addressed to them. Recipients who received
 * exactly the same messages share one summary.
 */
export const partition = (messages: ReadonlyArray<PendingMessage>): ReadonlyArray<Delivery> => {
  const setsOfRecipient = new Map<string, Set<string>>()
  for (const message of messages) {
    for (const recipient of message.recipients) {
      let sets = setsOfRecipient.get(recipient)
      if (sets === undefined) setsOfRecipient.set(recipient, (sets = new Set()))
      sets.add(message.recipientsKey)
    }
  }
  const bySignature = new Map<string, { recipients: Array<string>; sets: Set<string> }>()
  for (const [recipient, sets] of setsOfRecipient) {
    const signature = [...sets].sort().join("\u0000")
    const entry = bySignature.get(signature)
    if (entry === undefined) bySignature.set(signature, { recipients: [recipient], sets })
    else entry.recipients.push(recipient)
  }
  return [...bySignature.values()]
    .map(({ recipients, sets }) => ({
      recipients: recipients.sort(),
      messages: messages.filter((message) => sets.has(message.recipientsKey))
    }))
    .sort((a, b) => (a.recipients[0] ?? "").localeCompare(b.recipients[0] ?? ""))
}

/** Messages sharing a group key, as a summary shows them. */
export interface Group {
  readonly key: string
  count: number
  readonly firstAt: number
  lastAt: number
  /** Subject of the latest message. */
  subject: string
  /** Id of the latest message (whose body the summary shows). */
  latestId: string
  readonly senders: Set<string>
  /** Arrival time of every message, in the batch's order. */
  readonly times: Array<number>
}

/** Groups messages by group key, in order of first arrival. */
export const groups = (messages: ReadonlyArray<PendingMessage>): ReadonlyArray<Group> => {
  const byKey = new Map<string, Group>()
  for (const message of messages) {
    const group = byKey.get(message.groupKey)
    if (group === undefined) {
      byKey.set(message.groupKey, {
        key: message.groupKey,
        count: 1,
        firstAt: message.receivedAt,
        lastAt: message.receivedAt,
        subject: message.subject,
        latestId: message.id,
        senders: new Set(message.sender === "" ? [] : [message.sender]),
        times: [message.receivedAt]
      })
      continue
    }
    group.count++
    group.times.push(message.receivedAt)
    if (message.receivedAt >= group.lastAt) {
      group.lastAt = message.receivedAt
      group.subject = message.subject
      group.latestId = message.id
    }
    if (message.sender !== "") group.senders.add(message.sender)
  }
  return [...byKey.values()]
}

/** Every recipient of a batch (the union), sorted. */
export const allRecipients = (messages: ReadonlyArray<PendingMessage>): ReadonlyArray<string> =>
  [...new Set(messages.flatMap((message) => message.recipients))].sort()
