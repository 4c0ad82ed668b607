/**
 * `failmail preview` and `POST /api/preview`: the summaries a pair of
 * expressions would make over a set of messages, with the daemon's own
 * rules: batches open and close by `--wait-period` / `--max-wait` on the
 * messages' arrival times (Batching.deadline), split by recipients
 * (Batching.partition), grouped (Batching.groups), and titled as the
 * summary e-mail would be (SummaryText.subjectOf). Pure: no I/O, no clock.
 */
import * as Batching from "./Batching.ts"
import type { Received } from "../message/Message.ts"
import { formatIso, plural, subjectOf } from "../delivery/SummaryText.ts"

/** One message, keyed by the expressions being previewed. */
export interface PreviewMessage extends Received {
  /** Why an expression failed on it (its key is then `""`). */
  readonly problems: ReadonlyArray<string>
}

/** A group inside a previewed summary. */
export interface PreviewGroup {
  readonly key: string
  /** Subject of the group's latest message. */
  readonly subject: string
  readonly count: number
}

/** One summary e-mail the expressions would make. */
export interface PreviewSummary {
  /** The subject exactly as it would be sent (before MIME encoding). */
  readonly subject: string
  readonly recipients: ReadonlyArray<string>
  readonly batchKey: string
  readonly messageCount: number
  readonly firstAt: number
  readonly lastAt: number
  readonly groups: ReadonlyArray<PreviewGroup>
}

/** A message an expression failed on. */
export interface PreviewFailure {
  /** Where it came from (spool id or file name). */
  readonly id: string
  readonly subject: string
  readonly errors: ReadonlyArray<string>
}

/** A file that could not be read as a message. */
export interface Unreadable {
  readonly id: string
  readonly error: string
}

/** What a preview shows. */
export interface Preview {
  readonly messageCount: number
  readonly summaries: ReadonlyArray<PreviewSummary>
  readonly failures: ReadonlyArray<PreviewFailure>
  readonly unreadable: ReadonlyArray<Unreadable>
}

/**
 * Replays the messages in arrival order through the batching rules: a
 * message arriving at or after its open batch's deadline finds that batch
 * already sent and opens a new one.
 */
const replay = (messages: ReadonlyArray<PreviewMessage>, timing: Batching.Timing): ReadonlyArray<Batching.PendingBatch> => {
  const ordered = [...messages].sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const open = new Map<string, Batching.PendingBatch>()
  const sent: Array<Batching.PendingBatch> = []
  let serial = 0
  for (const message of ordered) {
    const batch = open.get(message.batchKey)
    if (batch !== undefined && message.receivedAt < Batching.deadline(batch, timing)) {
      Batching.add(batch, message)
      continue
    }
    if (batch !== undefined) sent.push(batch)
    open.set(message.batchKey, Batching.open(++serial, message))
  }
  return [...sent, ...open.values()].sort((a, b) => a.firstAt - b.firstAt || a.serial - b.serial)
}

/**
 * The deliveries of one batch, one per set of recipients; messages with no
 * known recipient (a maildir keeps no envelope, and some name nobody in To
 * or Cc) are shown as one more summary with no recipients.
 */
const deliveriesOf = (batch: Batching.PendingBatch): ReadonlyArray<Batching.Delivery> => {
  const unaddressed = batch.messages.filter((message) => message.recipients.length === 0)
  const deliveries = Batching.partition(batch.messages)
  return unaddressed.length === 0 ? deliveries : [...deliveries, { recipients: [], messages: unaddressed }]
}

/** The summaries of one batch. */
const summariesOf = (batch: Batching.PendingBatch, subjectPrefix: string): ReadonlyArray<PreviewSummary> =>
  deliveriesOf(batch).map((delivery) => {
    const groups = Batching.groups(delivery.messages)
    const subject = subjectOf(
      {
        batchKey: batch.key,
        batches: [{ key: batch.key, count: delivery.messages.length }],
        recipients: delivery.recipients,
        groups: groups.map((group) => ({
          ...group,
          batchKey: batch.key,
          senders: [...group.senders],
          body: "",
          novelty: "new" as const,
          quietMs: 0,
          firstSeen: group.firstAt,
          instancesSince: group.count
        })),
        createdAt: 0
      },
      subjectPrefix
    )
    return {
      subject,
      recipients: delivery.recipients,
      batchKey: batch.key,
      messageCount: delivery.messages.length,
      firstAt: delivery.messages.reduce((first, message) => Math.min(first, message.receivedAt), Infinity),
      lastAt: delivery.messages.reduce((last, message) => Math.max(last, message.receivedAt), -Infinity),
      groups: groups.map((group) => ({ key: group.key, subject: group.subject, count: group.count }))
    }
  })

/** Builds the preview of keyed messages. */
export const build = (
  messages: ReadonlyArray<PreviewMessage>,
  unreadable: ReadonlyArray<Unreadable>,
  options: { readonly timing: Batching.Timing; readonly subjectPrefix: string }
): Preview => ({
  messageCount: messages.length,
  summaries: replay(messages, options.timing).flatMap((batch) => summariesOf(batch, options.subjectPrefix)),
  failures: messages
    .filter((message) => message.problems.length > 0)
    .map((message) => ({ id: message.id, subject: message.subject, errors: message.problems })),
  unreadable
})

/** A key or subject on one line, quoted (so `""` and edge spaces show). */
const quoted = (text: string): string => JSON.stringify(text)

/** The preview as text for a terminal: a line per summary, its groups under it, then what failed. */
export const formatText = (preview: Preview, source: string): string => {
  const lines: Array<string> = [
    `${plural(preview.summaries.length, "summary", "summaries")} from ${plural(preview.messageCount, "message", "messages")} in ${source}`
  ]
  for (const summary of preview.summaries) {
    lines.push(
      "",
      summary.subject,
      `  to: ${summary.recipients.length === 0 ? "(unknown: no envelope stored and no To or Cc)" : summary.recipients.join(", ")}`,
      `  batch ${quoted(summary.batchKey)}, ${plural(summary.messageCount, "message", "messages")} from ${formatIso(summary.firstAt)} to ${formatIso(summary.lastAt)}`
    )
    for (const group of summary.groups) {
      const subject = group.subject === group.key ? "" : `  (latest subject: ${quoted(group.subject)})`
      lines.push(`  ${String(group.count).padStart(6)} × ${quoted(group.key)}${subject}`)
    }
  }
  if (preview.failures.length > 0) {
    lines.push("", `${plural(preview.failures.length, "message", "messages")} on which an expression failed (key ""):`)
    for (const failure of preview.failures) {
      lines.push(`  ${failure.id} ${quoted(failure.subject)}: ${failure.errors.join("; ")}`)
    }
  }
  if (preview.unreadable.length > 0) {
    lines.push("", `${plural(preview.unreadable.length, "file", "files")} could not be read:`)
    for (const file of preview.unreadable) lines.push(`  ${file.id}: ${file.error}`)
  }
  return lines.join("\n") + "\n"
}
