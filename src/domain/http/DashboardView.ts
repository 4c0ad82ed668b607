/**
 * What the dashboard shows, as plain data for its templates
 * (`templates/dashboard/`): every number formatted and every time turned
 * into words ("in 4m 58s", "12s ago") here, once, on the server. No HTML:
 * the templates are the markup, and Handlebars escapes everything put into
 * it (subjects, keys, recipients and relay errors come from e-mails).
 */
import bytes from "bytes"
import { soonestFirst } from "../api/Batches.ts"
import type { PendingMessage } from "../batching/Batching.ts"
import { type StatsInput, statsOf } from "../api/Stats.ts"
import { Duration } from "effect"
import * as Expectation from "../expectations/Expectation.ts"
import * as GoDuration from "../settings/GoDuration.ts"
import * as Matchers from "../silences/Matchers.ts"
import * as Silence from "../silences/Silence.ts"
import { groupMatchers } from "../silences/SilenceLink.ts"
import { type BatchSnapshot, type HeldSummary, rfc3339, type SummaryRecord } from "../Status.ts"

/** A span of time, coarse: `45s`, `9m 58s`, `2h 05m`, `3d 4h`. */
export const formatSpan = (ms: number): string => {
  const seconds = Math.max(0, Math.floor(ms / 1000))
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, "0")}s`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`
  return `${Math.floor(hours / 24)}d ${hours % 24}h`
}

/** Time left until a deadline. */
export const formatCountdown = (ms: number): string => (ms <= 0 ? "due now" : `in ${formatSpan(ms)}`)

/** Time since a moment. */
export const formatAge = (ms: number): string => (ms < 1000 ? "just now" : `${formatSpan(ms)} ago`)

/** Wall-clock time of day in UTC, `HH:MM:SS`. */
export const formatClock = (ms: number): string => new Date(ms).toISOString().slice(11, 19)

/** How the default (empty) batch key is shown. */
export const DEFAULT_KEY_LABEL = "(default)"

/** Most groups listed per batch; the rest are counted. */
export const GROUPS_SHOWN = 8

/** A moment: RFC 3339 (for `title`/`datetime`) and in words. */
export interface MomentView {
  readonly iso: string
  readonly text: string
}

/** A batch key; the default batch's (empty) key is shown as its `label`. */
export interface KeyView {
  readonly key: string
  readonly isDefault: boolean
  readonly label: string
}

/** One stats card. */
export interface CardView {
  readonly id: string
  readonly label: string
  readonly value: string
  /** When the value is a moment, its RFC 3339 (empty otherwise). */
  readonly iso: string
}

/** One pending batch. */
export interface BatchView extends KeyView {
  readonly recipients: ReadonlyArray<string>
  readonly messageCount: number
  readonly groups: ReadonlyArray<{
    readonly count: number
    readonly subject: string
    /** The matchers a "Silence" action prefills: exactly this batch and group. */
    readonly silenceBatch: string
    readonly silenceGroup: string
  }>
  /** Groups not listed (beyond {@link GROUPS_SHOWN}); 0 when all are. */
  readonly moreGroups: number
  readonly first: MomentView
  readonly last: MomentView
  readonly due: MomentView
  /** `held: repeat` while it waits for `--repeat-interval` (it came due; every group was reported lately); empty otherwise. */
  readonly heldText: string
  /** The page listing its messages (relative to the page). */
  readonly messagesUrl: string
  /** The API call that sends it now (relative to the page). */
  readonly flushUrl: string
  /** What the page says once it asked. */
  readonly flushNotice: string
}

/** One silence. */
export interface SilenceView {
  readonly id: string
  readonly matchers: ReadonlyArray<{ readonly field: string; readonly pattern: string }>
  readonly active: boolean
  /** "in 59m 10s" while active, "12m 03s ago" once ended. */
  readonly ends: MomentView
  readonly comment: string
  readonly author: string
  readonly held: number
  /** The API call that ends it now (DELETE, relative to the page). */
  readonly endUrl: string
}

/** One expectation. */
export interface ExpectationView {
  readonly id: string
  readonly name: string
  readonly matchers: ReadonlyArray<{ readonly field: string; readonly pattern: string }>
  readonly every: string
  readonly to: ReadonlyArray<string>
  readonly missing: boolean
  /** When it was last met, in words ("never" when it never was). */
  readonly lastMet: MomentView
  /** When it goes missing unless met ("in 3h 10m"), or since when it is missing. */
  readonly due: MomentView
  /** The API call that deletes it (DELETE, relative to the page). */
  readonly deleteUrl: string
}

const matcherList = (matchers: Matchers.Matchers) =>
  Matchers.MATCH_FIELDS.filter((field) => matchers[field] !== undefined).map((field) => ({ field, pattern: matchers[field] ?? "" }))

const silenceView = ({ silence, held }: PageInput["silences"][number], now: number): SilenceView => {
  const active = Silence.isActive(silence, now)
  return {
    id: silence.id,
    matchers: matcherList(silence.match),
    active,
    ends: { iso: rfc3339(silence.endsAt), text: active ? formatCountdown(silence.endsAt - now) : formatAge(now - silence.endsAt) },
    comment: silence.comment,
    author: silence.author,
    held,
    endUrl: `api/silences/${encodeURIComponent(silence.id)}`
  }
}

const expectationView = (expectation: Expectation.Expectation, now: number): ExpectationView => {
  const missing = expectation.missingSince > 0
  const due = Expectation.deadline(expectation)
  return {
    id: expectation.id,
    name: expectation.name,
    matchers: matcherList(expectation.match),
    every: GoDuration.format(Duration.millis(expectation.everyMs)),
    to: expectation.to,
    missing,
    lastMet: expectation.lastMetAt > 0 ? age(expectation.lastMetAt, now) : { iso: "", text: "never" },
    due: missing
      ? { iso: rfc3339(expectation.missingSince), text: `missing since ${formatAge(now - expectation.missingSince)}` }
      : { iso: rfc3339(due), text: formatCountdown(due - now) },
    deleteUrl: `api/expectations/${encodeURIComponent(expectation.id)}`
  }
}

/** One recent summary. */
export interface SummaryView {
  readonly id: number
  readonly status: SummaryRecord["status"]
  readonly created: MomentView
  readonly subject: string
  readonly batch: KeyView
  readonly recipients: ReadonlyArray<string>
  readonly messageCount: number
  readonly groupCount: number
  /** "4 attempts" when it took more than one, empty otherwise. */
  readonly attempts: string
  readonly error: string
  readonly failedPath: string
  /** Whether any of attempts, error and failedPath is to be shown. */
  readonly hasDetail: boolean
  /** Its place in a thread: `thread #12: 1st of 3` (`""` for a summary alone in its thread). */
  readonly thread: string
  /** The `Message-ID` of its thread's first summary, to pick a thread out (`""` when not known). */
  readonly threadRoot: string
}

/** Everything the page shows. */
export interface PageView {
  readonly version: string
  readonly startedAt: string
  readonly uptime: string
  readonly cards: ReadonlyArray<CardView>
  readonly batches: ReadonlyArray<BatchView>
  /** Summaries the relay budget holds back, oldest first, then storms gathering their digests. */
  readonly held: ReadonlyArray<HeldView>
  readonly summaries: ReadonlyArray<SummaryView>
  readonly silences: ReadonlyArray<SilenceView>
  readonly expectations: ReadonlyArray<ExpectationView>
  readonly config: ReadonlyArray<{ readonly name: string; readonly value: string }>
  /** The CSP nonce of the page's script and style. */
  readonly nonce: string
}

/** A summary held back by the relay budget (`--relay-rate`), or a storm's next digest (`--storm-threshold`). */
export interface HeldView {
  readonly reason: HeldSummary["reason"]
  readonly recipients: ReadonlyArray<string>
  readonly messageCount: number
  /** The batches it covers, by key with their counts (several: it goes out as one storm digest). */
  readonly batches: ReadonlyArray<KeyView & { readonly count: number }>
  readonly due: MomentView
  /** When the budget allows the next send, or the storm's digest goes. */
  readonly next: MomentView
}

/** What the page is made from. */
export interface PageInput {
  readonly stats: StatsInput
  readonly batches: ReadonlyArray<BatchSnapshot>
  /** Summaries the relay budget holds back, and storms gathering their digests. */
  readonly held: ReadonlyArray<HeldSummary>
  readonly summaries: ReadonlyArray<SummaryRecord>
  /** Silences listed now, with how many messages each holds back. */
  readonly silences: ReadonlyArray<{ readonly silence: Silence.Silence; readonly held: number }>
  readonly expectations: ReadonlyArray<Expectation.Expectation>
  /** The running configuration without secrets (setting name → value). */
  readonly config: Readonly<Record<string, string>>
  readonly nonce: string
}

/** The page of one pending batch's messages (`GET /batch?key=…`), relative to the dashboard. */
export const batchPageUrl = (key: string): string => `batch?key=${encodeURIComponent(key)}`

const keyView = (key: string): KeyView => ({ key, isDefault: key === "", label: key === "" ? DEFAULT_KEY_LABEL : key })

const age = (at: number, now: number): MomentView => ({ iso: rfc3339(at), text: formatAge(now - at) })

const heldView = (held: HeldSummary, now: number): HeldView => ({
  reason: held.reason,
  recipients: held.recipients,
  messageCount: held.messageCount,
  batches: held.batches.map((batch) => ({ ...keyView(batch.key), count: batch.count })),
  due: age(held.dueAt, now),
  next: { iso: rfc3339(held.nextSendAt), text: formatCountdown(held.nextSendAt - now) }
})

const batchView = (batch: BatchSnapshot, now: number): BatchView => ({
  ...keyView(batch.key),
  recipients: batch.recipients,
  messageCount: batch.messageCount,
  groups: batch.groups.slice(0, GROUPS_SHOWN).map((group) => {
    const matchers = groupMatchers(batch.key, group.key)
    return { count: group.count, subject: group.subject, silenceBatch: matchers.batch ?? "", silenceGroup: matchers.group ?? "" }
  }),
  moreGroups: Math.max(0, batch.groups.length - GROUPS_SHOWN),
  first: age(batch.firstAt, now),
  last: age(batch.lastAt, now),
  due: { iso: rfc3339(batch.dueAt), text: formatCountdown(batch.dueAt - now) },
  heldText: batch.held === "" ? "" : `held: ${batch.held}`,
  messagesUrl: batchPageUrl(batch.key),
  flushUrl: `api/batches/flush?key=${encodeURIComponent(batch.key)}`,
  flushNotice: `Sending batch ${keyView(batch.key).label} now.`
})

/** `1st`, `2nd`, `3rd`, `4th`, … `11th`, `21st`. */
const ordinal = (n: number): string => {
  const tens = n % 100
  const suffix = tens >= 11 && tens <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th")
  return `${n}${suffix}`
}

/**
 * The threads among the recent summaries (newest first): for each, a line
 * naming its thread by the id of its first summary and its place in it, as
 * far as the recent ones show; `""` for one alone in its thread.
 */
const threadLines = (summaries: ReadonlyArray<SummaryRecord>): ReadonlyMap<SummaryRecord, string> => {
  const idOf = new Map(summaries.map((summary) => [summary.messageId, summary.id]))
  const members = new Map<string, Array<SummaryRecord>>()
  for (const summary of [...summaries].reverse()) {
    if (summary.thread === "") continue
    const list = members.get(summary.thread)
    if (list === undefined) members.set(summary.thread, [summary])
    else list.push(summary)
  }
  const lines = new Map<SummaryRecord, string>()
  for (const [root, list] of members) {
    const rootId = idOf.get(root)
    const isReply = (summary: SummaryRecord) => summary.messageId !== root
    if (list.length === 1 && !isReply(list[0]!)) continue
    const name = rootId === undefined ? "thread of an earlier summary" : `thread #${rootId}`
    // Numbered from its first summary when that is still shown; otherwise only as replies.
    list.forEach((summary, i) => lines.set(summary, rootId === undefined ? `reply in ${name}` : `${name}: ${ordinal(i + 1)} of ${list.length}`))
  }
  return lines
}

const summaryView = (summary: SummaryRecord, thread: string): SummaryView => ({
  id: summary.id,
  status: summary.status,
  created: { iso: rfc3339(summary.createdAt), text: formatClock(summary.createdAt) },
  subject: summary.subject,
  batch: keyView(summary.batchKey),
  recipients: summary.recipients,
  messageCount: summary.messageCount,
  groupCount: summary.groupCount,
  attempts: summary.attempts > 1 ? `${summary.attempts} attempts` : "",
  error: summary.error,
  failedPath: summary.failedPath,
  hasDetail: summary.attempts > 1 || summary.error !== "" || summary.failedPath !== "",
  thread,
  threadRoot: summary.thread
})

const cards = (input: StatsInput): ReadonlyArray<CardView> => {
  const stats = statsOf(input)
  const count = (id: string, label: string, value: number): CardView => ({ id, label, value: String(value), iso: "" })
  const last = input.totals.lastReceivedAt
  return [
    count("stat-batches", "pending batches", stats.ActiveBatches),
    count("stat-messages", "pending messages", stats.ActiveMessages),
    count("stat-received", "messages received", stats.Received),
    count("stat-rejected", "messages refused", stats.Rejected),
    count("stat-silenced", "messages silenced", stats.Silenced),
    count("stat-delivered", "summaries delivered", stats.SummariesDelivered),
    count("stat-failed", "summaries failed", stats.SummariesFailed),
    // Only while it happens: the store cannot write what summaries took out of it (a stop now would summarize them again).
    ...((input.totals.removalsPending ?? 0) > 0 ? [count("stat-removals", "removals not written", input.totals.removalsPending ?? 0)] : []),
    last > 0
      ? { id: "stat-last", label: "last message", value: formatAge(input.now - last), iso: rfc3339(last) }
      : { id: "stat-last", label: "last message", value: "never", iso: "" }
  ]
}

/** The page's view of a moment. */
export const pageView = (input: PageInput): PageView => {
  const now = input.stats.now
  const threads = threadLines(input.summaries)
  return {
    version: input.stats.version,
    startedAt: rfc3339(input.stats.totals.startedAt),
    uptime: formatSpan(now - input.stats.totals.startedAt),
    cards: cards(input.stats),
    batches: soonestFirst(input.batches).map((batch) => batchView(batch, now)),
    held: input.held.map((held) => heldView(held, now)),
    summaries: input.summaries.map((summary) => summaryView(summary, threads.get(summary) ?? "")),
    silences: input.silences.map((entry) => silenceView(entry, now)),
    expectations: input.expectations.map((expectation) => expectationView(expectation, now)),
    config: Object.entries(input.config).map(([name, value]) => ({ name, value })),
    nonce: input.nonce
  }
}

/**
 * The Content-Security-Policy that goes with a page whose script and style
 * carry `nonce`; `formAction` is where its forms may post (none: the
 * dashboard posts with its script).
 */
export const contentSecurityPolicy = (nonce: string, formAction = "'none'"): string =>
  [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    `form-action ${formAction}`,
    "frame-ancestors 'none'"
  ].join("; ")

/** The page of a one-click silence link: confirm it, it was created, or it is refused. */
export interface LinkPageView {
  readonly nonce: string
  readonly state: "confirm" | "created" | "refused"
  readonly matchers: ReadonlyArray<{ readonly field: string; readonly pattern: string }>
  /** How long, in words ("1h 00m"). */
  readonly duration: string
  /** Until when (RFC 3339). */
  readonly until: string
  /** The signed token the confirming POST carries. */
  readonly token: string
  readonly reason: string
  readonly silenceId: string
}

/** The link page: `claim` when the token was accepted (confirm or created), `refused` otherwise. */
export const linkPageView = (
  input:
    | { readonly state: "confirm"; readonly claim: { readonly match: Matchers.Matchers; readonly forMs: number }; readonly token: string }
    | { readonly state: "created"; readonly silence: Silence.Silence }
    | { readonly state: "refused"; readonly reason: string },
  now: number,
  nonce: string
): LinkPageView => {
  const empty = { nonce, matchers: [], duration: "", until: "", token: "", reason: "", silenceId: "" }
  switch (input.state) {
    case "confirm":
      return {
        ...empty,
        state: "confirm",
        matchers: matcherList(input.claim.match),
        duration: formatSpan(input.claim.forMs),
        until: rfc3339(now + input.claim.forMs),
        token: input.token
      }
    case "created":
      return {
        ...empty,
        state: "created",
        matchers: matcherList(input.silence.match),
        duration: formatSpan(input.silence.endsAt - input.silence.startsAt),
        until: rfc3339(input.silence.endsAt),
        silenceId: input.silence.id
      }
    case "refused":
      return { ...empty, state: "refused", reason: input.reason }
  }
}

/** Most messages listed on a batch's page; the rest are counted (the API lists them all). */
export const MESSAGES_SHOWN = 1000

/** One held message on a batch's page. */
export interface MessageView {
  readonly id: string
  readonly received: MomentView
  readonly subject: string
  readonly sender: string
  readonly recipients: ReadonlyArray<string>
  /** `2.1KB`. */
  readonly size: string
  /** Where to download it as received (`message/rfc822`), relative to the page. */
  readonly rawUrl: string
}

/** The page of one pending batch's messages. */
export interface BatchPageView {
  readonly version: string
  readonly nonce: string
  readonly batch: KeyView
  /** Whether the batch is pending (it may have been sent since the link was shown). */
  readonly pending: boolean
  readonly messageCount: number
  readonly messages: ReadonlyArray<MessageView>
  /** Messages not listed (beyond {@link MESSAGES_SHOWN}); 0 when all are. */
  readonly moreMessages: number
  /** The same list as JSON (relative to the page). */
  readonly apiUrl: string
}

/** What a batch's page is made from. */
export interface BatchPageInput {
  readonly key: string
  /** Its messages in arrival order; `undefined` when no batch with this key is pending. */
  readonly messages: ReadonlyArray<PendingMessage> | undefined
  readonly now: number
  readonly version: string
  readonly nonce: string
}

const messageView = (message: PendingMessage, now: number): MessageView => ({
  id: message.id,
  received: age(message.receivedAt, now),
  subject: message.subject,
  sender: message.sender,
  recipients: message.recipients,
  size: bytes.format(message.size, { unitSeparator: " " }) ?? `${message.size} B`,
  rawUrl: `api/messages/${encodeURIComponent(message.id)}/raw`
})

/** A batch's page: its messages, oldest first, each with a download link. */
export const batchPageView = (input: BatchPageInput): BatchPageView => {
  const messages = input.messages ?? []
  return {
    version: input.version,
    nonce: input.nonce,
    batch: keyView(input.key),
    pending: input.messages !== undefined,
    messageCount: messages.length,
    messages: messages.slice(0, MESSAGES_SHOWN).map((message) => messageView(message, input.now)),
    moreMessages: Math.max(0, messages.length - MESSAGES_SHOWN),
    apiUrl: `api/batches/messages?key=${encodeURIComponent(input.key)}`
  }
}
