/**
 * The words of a summary e-mail: its subject line and the bounded view model
 * its templates render. Pure: no I/O, no clock.
 *
 * Everything taken from an alert (subjects, senders, bodies, batch keys) is
 * attacker-controlled: header-bound text loses every control character, and
 * the view stays bounded in size however large the flood.
 */
import type { HeldNote } from "../silences/Silence.ts"
import * as Sparkline from "./Sparkline.ts"
import { backGroupCount, messageCount, newGroupCount, type StoppedGroup, type SummaryGroup, type SummaryInput } from "./Summary.ts"

/** Groups, in order, whose body excerpt is shown. */
export const MAX_BODY_GROUPS = 50
/** Longest body excerpt, in characters; longer bodies are cut and marked. */
export const MAX_BODY_CHARS = 4_000
/** Groups, in order, shown in full (times, senders; body for the first {@link MAX_BODY_GROUPS}). */
export const MAX_DETAILED_GROUPS = 200
/** Groups, in order, listed at all; beyond the detailed ones only as count + subject lines. */
export const MAX_LISTED_GROUPS = 1_000
/** Longest alert subject shown (in a detailed group, or in the summary's own subject), in characters. */
export const MAX_SUBJECT_CHARS = 200
/** Longest subject of a group listed only by count + subject, in characters. */
export const MAX_BRIEF_SUBJECT_CHARS = 100
/** Senders shown per group. */
export const MAX_SENDERS = 5
/** Recipients shown in the summary. */
export const MAX_RECIPIENTS = 100
/** Longest address or batch key shown, in characters. */
export const MAX_FIELD_CHARS = 200
/** Height, in pixels, of the tallest bar of a group's chart in the HTML part. */
export const BAR_HEIGHT = 24
/** Groups, in order, with a bar chart in the HTML part (the others have their sparkline only). */
export const MAX_CHART_GROUPS = 20
/** Merged batches listed by key in a storm digest; the rest are counted. */
export const MAX_STORM_BATCHES = 200

/** The size limits of a summary view (see the constants of the same meaning). */
export interface Limits {
  readonly bodyGroups: number
  readonly bodyChars: number
  readonly detailedGroups: number
  readonly listedGroups: number
  readonly subjectChars: number
  readonly briefSubjectChars: number
  readonly senders: number
  readonly recipients: number
  readonly fieldChars: number
}

/** The limits failmail uses. */
export const defaultLimits: Limits = {
  bodyGroups: MAX_BODY_GROUPS,
  bodyChars: MAX_BODY_CHARS,
  detailedGroups: MAX_DETAILED_GROUPS,
  listedGroups: MAX_LISTED_GROUPS,
  subjectChars: MAX_SUBJECT_CHARS,
  briefSubjectChars: MAX_BRIEF_SUBJECT_CHARS,
  senders: MAX_SENDERS,
  recipients: MAX_RECIPIENTS,
  fieldChars: MAX_FIELD_CHARS
}

// C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g

/** One line of header-safe text: control characters (CR, LF, NUL, …) become spaces, whitespace runs collapse. */
export const oneLine = (text: string): string => text.replace(CONTROL, " ").replace(/\s+/g, " ").trim()

/** Cuts `text` to at most `max` characters (never inside a surrogate pair), with `…` when cut. */
export const truncate = (text: string, max: number): string => {
  if (text.length <= max) return text
  let end = Math.max(0, max - 1)
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end -= 1
  return `${text.slice(0, end)}…`
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff

/** `1 instance`, `7 instances`: a count and its word. */
export const plural = (count: number, singular: string, pluralWord: string): string =>
  `${count} ${count === 1 ? singular : pluralWord}`

/**
 * The summary's subject, as the original failmail wrote it (mail filters rely
 * on it): `[failmail] 7 instances: <subject>` for one group,
 * `[failmail] 7 instances of 3 messages` for several. Never contains CR/LF.
 */
export const subjectOf = (input: SummaryInput, prefix: string): string => {
  const instances = plural(messageCount(input), "instance", "instances")
  const only = input.groups.length === 1 ? input.groups[0] : undefined
  const rest =
    only !== undefined
      ? `${instances}: ${truncate(oneLine(only.subject), MAX_SUBJECT_CHARS)}`
      : `${instances} of ${plural(input.groups.length, "message", "messages")}`
  return oneLine(`${oneLine(prefix)} ${rest}`)
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const pad = (value: number): string => String(value).padStart(2, "0")

/** An RFC 2822 date in UTC (`Tue, 14 Nov 2023 22:13:20 +0000`), or `unknown` for an invalid time. */
export const formatRfc2822 = (millis: number): string => {
  const date = new Date(millis)
  if (Number.isNaN(date.getTime())) return "unknown"
  return (
    `${WEEKDAYS[date.getUTCDay()]}, ${pad(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  )
}

/** An ISO 8601 time in UTC, or `""` for an invalid time. */
export const formatIso = (millis: number): string => {
  const date = new Date(millis)
  return Number.isNaN(date.getTime()) ? "" : date.toISOString()
}

/** A body excerpt: at most `max` characters, line ends as `\n`, cut marked on a line of its own. */
export const excerpt = (body: string, max: number): { readonly text: string; readonly cutChars: number } => {
  // Normalise only a little more than is kept, so a 10 MB body costs no more than a small one.
  const head = body.slice(0, max + 1).replace(/\r\n?/g, "\n")
  const normalised = head.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "")
  if (body.length <= max) return { text: normalised.trimEnd(), cutChars: 0 }
  let end = Math.min(max, normalised.length)
  if (end > 0 && isHighSurrogate(normalised.charCodeAt(end - 1))) end -= 1
  const cutChars = Math.max(1, body.length - end)
  return { text: `${normalised.slice(0, end).trimEnd()}\n[… ${cutChars} more characters cut]`, cutChars }
}

/** A group shown in full. */
export interface GroupView {
  /** Position in the summary, from 1. */
  readonly index: number
  readonly count: number
  /** `instance` or `instances`, agreeing with `count`. */
  readonly instancesWord: string
  readonly first: string
  readonly firstIso: string
  readonly last: string
  readonly lastIso: string
  readonly subject: string
  readonly senders: ReadonlyArray<string>
  /** The senders, comma separated, with `and N more` when some were left out. */
  readonly sendersText: string
  /** Whether this group's body is shown (only the first groups' are). */
  readonly hasBody: boolean
  /** The body excerpt (`""` when not shown); the cut is marked on its last line. */
  readonly body: string
  readonly bodyCut: boolean
  /** One-click links that silence this group (HTML part; empty without `--external-url`). */
  readonly silenceLinks: ReadonlyArray<LinkView>
  /** Never reported, or quiet longer than `--forget-after`. */
  readonly isNew: boolean
  /** Known, and quiet longer than `--back-after` before this digest. */
  readonly isBack: boolean
  /** `new`, `back` or `ongoing`. */
  readonly novelty: string
  /** For a group that is back: `back after <duration>`; `""` otherwise. */
  readonly backText: string
  /** For a known group (ongoing or back): `first seen <date>, N instances since`; `""` for a new one. */
  readonly ongoingText: string
  /** Its count over the summary's window, one character per bucket (`▁`…`█`, space for none). */
  readonly sparkline: string
  /** The same as bars for the HTML part, per bucket: height in pixels (0 for none) and count; `[]` beyond {@link MAX_CHART_GROUPS}, to stay bounded. */
  readonly bars: ReadonlyArray<{ readonly height: number; readonly count: number }>
}

/** A link in a summary. */
export interface LinkView {
  readonly label: string
  readonly url: string
}

/** A group listed only by count and subject. */
export interface BriefGroupView {
  readonly index: number
  readonly count: number
  readonly instancesWord: string
  readonly subject: string
  readonly isNew: boolean
  /** `new`, `back` or `ongoing`. */
  readonly novelty: string
}

/** A batch merged into a storm digest. */
export interface StormBatchView {
  /** The batch key (`(empty)` for the empty key). */
  readonly key: string
  readonly count: number
  readonly instancesWord: string
}

/** Everything a summary template sees: plain data, bounded in size. */
export interface SummaryView {
  /** The summary's own subject line. */
  readonly subject: string
  readonly batchKey: string
  readonly recipients: ReadonlyArray<string>
  readonly recipientsText: string
  readonly messageCount: number
  readonly groupCount: number
  /** Groups never reported (or quiet longer than `--forget-after`). */
  readonly newCount: number
  /** Groups back after a quiet spell longer than `--back-after`. */
  readonly backCount: number
  /** Groups reported before, and not back. */
  readonly ongoingCount: number
  /** `instance` or `instances`, agreeing with `messageCount`. */
  readonly instancesWord: string
  /** `group` or `groups`, agreeing with `groupCount`. */
  readonly groupsWord: string
  readonly first: string
  readonly firstIso: string
  readonly last: string
  readonly lastIso: string
  readonly createdAt: string
  readonly createdAtIso: string
  /** Groups shown in full, in order of first arrival. */
  readonly groups: ReadonlyArray<GroupView>
  /** Groups after those, listed as count + subject only. */
  readonly briefGroups: ReadonlyArray<BriefGroupView>
  readonly hasBriefGroups: boolean
  /** Groups (and their messages) left out entirely. */
  readonly omittedGroups: number
  readonly omittedMessages: number
  readonly hasOmitted: boolean
  /** Some shown group has no body because of {@link Limits.bodyGroups}. */
  readonly bodiesLimited: boolean
  /** The group with the most instances (the first of them on a tie). */
  readonly busiest: { readonly subject: string; readonly count: number; readonly instancesWord: string }
  /** How wide one sparkline character is: `minute`, or `5 minutes` for long windows. */
  readonly bucketText: string
  /** Height of the bar charts' area in pixels ({@link BAR_HEIGHT}). */
  readonly barHeight: number
  /** The summary merges several batches for the same recipients (a storm digest). */
  readonly isStorm: boolean
  /** How many batches it merges. */
  readonly stormBatchCount: number
  /** The merged batches, in order, at most {@link MAX_STORM_BATCHES}. */
  readonly stormBatches: ReadonlyArray<StormBatchView>
  /** Merged batches not listed. */
  readonly stormMoreBatches: number
  /** The limits in force, for templates that explain them. */
  readonly limits: Limits
  /** One line per silence that held back messages of this batch from these recipients. */
  readonly held: ReadonlyArray<HeldView>
  readonly hasHeld: boolean
  /** The groups of the previous digest to these recipients that have not come since. */
  readonly stopped: ReadonlyArray<StoppedView>
  readonly hasStopped: boolean
}

/** A group that stopped, as the overview lists it. */
export interface StoppedView {
  readonly subject: string
  readonly lastSeen: string
  readonly lastSeenIso: string
  /** The whole line: `Stopped: <subject> (last seen <date>)`. */
  readonly line: string
}

const stoppedView = (group: StoppedGroup, limits: Limits): StoppedView => {
  const subject = truncate(oneLine(group.subject), limits.subjectChars)
  const lastSeen = formatRfc2822(group.lastSeen)
  return { subject, lastSeen, lastSeenIso: formatIso(group.lastSeen), line: `Stopped: ${subject} (last seen ${lastSeen})` }
}

/** A silence that held back messages, as the end of a summary shows it. */
export interface HeldView {
  readonly silenceId: string
  readonly count: number
  readonly matchers: string
  readonly until: string
  readonly untilIso: string
  readonly comment: string
  /** The whole line: `Silence 3f2a… (subject=~"^disk") until …: held back 4 messages`. */
  readonly line: string
}

const heldView = (note: HeldNote, limits: Limits): HeldView => {
  const matchers = truncate(oneLine(note.matchers), limits.fieldChars)
  const until = formatRfc2822(note.endsAt)
  const comment = truncate(oneLine(note.comment), limits.fieldChars)
  const by = note.author === "" ? "" : ` by ${truncate(oneLine(note.author), limits.fieldChars)}`
  return {
    silenceId: note.silenceId,
    count: note.count,
    matchers,
    until,
    untilIso: formatIso(note.endsAt),
    comment,
    line:
      `Silence ${note.silenceId} (${matchers}${comment === "" ? "" : `, "${comment}"`}${by}) until ${until}: ` +
      `held back ${plural(note.count, "message", "messages")}`
  }
}

/** How to build a view. */
export interface ViewOptions {
  readonly subjectPrefix: string
  readonly limits?: Partial<Limits>
  /** The silence links of a group (by batch and group key); none when absent. */
  readonly silenceLinks?: (batchKey: string, groupKey: string) => ReadonlyArray<LinkView>
}

const listText = (items: ReadonlyArray<string>, more: number): string =>
  `${items.join(", ")}${more > 0 ? ` and ${more} more` : ""}`

const displayAddress = (address: string, max: number): string => {
  const clean = truncate(oneLine(address), max)
  return clean === "" ? "<>" : clean
}

/** `first seen <date>, N instances since` for a known group (ongoing or back), `""` for a new one. */
export const ongoingText = (group: Pick<SummaryGroup, "novelty" | "firstSeen" | "instancesSince">): string =>
  group.novelty === "new" ? "" : `first seen ${formatRfc2822(group.firstSeen)}, ${plural(group.instancesSince, "instance", "instances")} since`

const UNITS: ReadonlyArray<readonly [number, string]> = [
  [86_400_000, "d"],
  [3_600_000, "h"],
  [60_000, "m"],
  [1_000, "s"]
]

/** A quiet spell as a person reads it: its two largest units (`2h 5m`, `3d`, `45s`), or milliseconds under a second. */
export const formatQuiet = (ms: number): string => {
  const total = Math.max(0, Math.floor(ms))
  const first = UNITS.findIndex(([size]) => total >= size)
  const largest = UNITS[first]
  if (largest === undefined) return `${total}ms`
  const count = Math.floor(total / largest[0])
  const next = UNITS[first + 1]
  const rest = next === undefined ? 0 : Math.floor((total - count * largest[0]) / next[0])
  return next !== undefined && rest > 0 ? `${count}${largest[1]} ${rest}${next[1]}` : `${count}${largest[1]}`
}

/** `back after <duration>` for a group that is back, `""` otherwise. */
export const backText = (group: Pick<SummaryGroup, "novelty" | "quietMs">): string =>
  group.novelty === "back" ? `back after ${formatQuiet(group.quietMs)}` : ""

const groupView = (group: SummaryGroup, index: number, limits: Limits, window: Sparkline.Window, links: ReadonlyArray<LinkView>): GroupView => {
  const counts = Sparkline.bucketCounts(group.times, window)
  const senders = group.senders.slice(0, limits.senders).map((sender) => displayAddress(sender, limits.fieldChars))
  const hasBody = index <= limits.bodyGroups
  const body = hasBody ? excerpt(group.body, limits.bodyChars) : { text: "", cutChars: 0 }
  return {
    index,
    count: group.count,
    instancesWord: group.count === 1 ? "instance" : "instances",
    first: formatRfc2822(group.firstAt),
    firstIso: formatIso(group.firstAt),
    last: formatRfc2822(group.lastAt),
    lastIso: formatIso(group.lastAt),
    subject: truncate(oneLine(group.subject), limits.subjectChars),
    senders,
    sendersText: listText(senders, group.senders.length - senders.length),
    hasBody,
    body: hasBody && body.text === "" ? "(no text body)" : body.text,
    bodyCut: body.cutChars > 0,
    isNew: group.novelty === "new",
    isBack: group.novelty === "back",
    novelty: group.novelty,
    backText: backText(group),
    ongoingText: ongoingText(group),
    sparkline: Sparkline.sparkline(counts),
    bars:
      index <= MAX_CHART_GROUPS
        ? Sparkline.barHeights(counts, BAR_HEIGHT).map((height, i) => ({ height, count: counts[i] ?? 0 }))
        : [],
    silenceLinks: links
  }
}

const briefView = (group: SummaryGroup, index: number, limits: Limits): BriefGroupView => ({
  index,
  count: group.count,
  instancesWord: group.count === 1 ? "instance" : "instances",
  subject: truncate(oneLine(group.subject), limits.briefSubjectChars),
  isNew: group.novelty === "new",
  novelty: group.novelty
})

/** The bounded, plain-object view of a summary that its templates render. */
export const viewOf = (input: SummaryInput, options: ViewOptions): SummaryView => {
  const limits: Limits = { ...defaultLimits, ...options.limits }
  const detailed = Math.max(0, Math.min(limits.detailedGroups, limits.listedGroups))
  const listed = Math.max(detailed, limits.listedGroups)
  const window = Sparkline.windowOf(
    input.groups.reduce((min, group) => Math.min(min, group.firstAt), Number.POSITIVE_INFINITY),
    input.groups.reduce((max, group) => Math.max(max, group.lastAt), 0)
  )
  const groups = input.groups.slice(0, detailed).map((group, i) => groupView(group, i + 1, limits, window, options.silenceLinks?.(group.batchKey, group.key) ?? []))
  const busiest = input.groups.reduce<SummaryGroup | undefined>((top, group) => (top === undefined || group.count > top.count ? group : top), undefined)
  const briefGroups = input.groups.slice(detailed, listed).map((group, i) => briefView(group, detailed + i + 1, limits))
  const omitted = input.groups.slice(listed)
  const firstAt = input.groups.reduce((min, group) => Math.min(min, group.firstAt), Number.POSITIVE_INFINITY)
  const lastAt = input.groups.reduce((max, group) => Math.max(max, group.lastAt), Number.NEGATIVE_INFINITY)
  const recipients = input.recipients.slice(0, limits.recipients).map((to) => displayAddress(to, limits.fieldChars))
  const total = messageCount(input)
  const isStorm = input.batches.length > 1
  const stopped = (input.stopped ?? []).map((group) => stoppedView(group, limits))
  const stormBatches = isStorm
    ? input.batches.slice(0, MAX_STORM_BATCHES).map((batch) => ({
        key: truncate(oneLine(batch.key), limits.fieldChars) || "(empty)",
        count: batch.count,
        instancesWord: batch.count === 1 ? "instance" : "instances"
      }))
    : []
  return {
    subject: subjectOf(input, options.subjectPrefix),
    batchKey: truncate(oneLine(input.batchKey), limits.fieldChars),
    recipients,
    recipientsText: listText(recipients, input.recipients.length - recipients.length),
    messageCount: total,
    groupCount: input.groups.length,
    newCount: newGroupCount(input),
    backCount: backGroupCount(input),
    ongoingCount: input.groups.length - newGroupCount(input) - backGroupCount(input),
    instancesWord: total === 1 ? "instance" : "instances",
    groupsWord: input.groups.length === 1 ? "group" : "groups",
    first: formatRfc2822(firstAt),
    firstIso: formatIso(firstAt),
    last: formatRfc2822(lastAt),
    lastIso: formatIso(lastAt),
    createdAt: formatRfc2822(input.createdAt),
    createdAtIso: formatIso(input.createdAt),
    groups,
    briefGroups,
    hasBriefGroups: briefGroups.length > 0,
    omittedGroups: omitted.length,
    omittedMessages: omitted.reduce((sum, group) => sum + group.count, 0),
    hasOmitted: omitted.length > 0,
    bodiesLimited: groups.some((group) => !group.hasBody),
    busiest: {
      subject: busiest === undefined ? "" : truncate(oneLine(busiest.subject), limits.subjectChars),
      count: busiest?.count ?? 0,
      instancesWord: busiest?.count === 1 ? "instance" : "instances"
    },
    bucketText: window.bucketMs === 60_000 ? "minute" : `${window.bucketMs / 60_000} minutes`,
    barHeight: BAR_HEIGHT,
    isStorm,
    stormBatchCount: isStorm ? input.batches.length : 0,
    stormBatches,
    stormMoreBatches: isStorm ? input.batches.length - stormBatches.length : 0,
    limits,
    held: (input.held ?? []).map((note) => heldView(note, limits)),
    hasHeld: (input.held ?? []).length > 0,
    stopped,
    hasStopped: stopped.length > 0
  }
}

/**
 * The summary as plain text without any template: the fallback when a
 * template fails at run time, so a summary is never lost to a template bug.
 */
export const plainText = (view: SummaryView): string => {
  const lines = [
    "--- Failmail ---",
    `Total messages: ${view.messageCount}`,
    `Unique messages: ${view.groupCount}`,
    `New groups: ${view.newCount}`,
    ...(view.backCount > 0 ? [`Back groups: ${view.backCount}`] : []),
    `Ongoing groups: ${view.ongoingCount}`,
    `Busiest: "${view.busiest.subject}" (${view.busiest.count} ${view.busiest.instancesWord})`,
    `Oldest message: ${view.first}`,
    `Newest message: ${view.last}`
  ]
  if (view.hasStopped) lines.push("", ...view.stopped.map((group) => group.line))
  if (view.isStorm) {
    lines.push("", `Storm: this digest merges ${view.stormBatchCount} batches for these recipients that came due together, busiest first:`)
    for (const batch of view.stormBatches) lines.push(`- ${batch.key}: ${batch.count} ${batch.instancesWord}`)
    if (view.stormMoreBatches > 0) lines.push(`- and ${view.stormMoreBatches} more batches`)
  }
  for (const group of view.groups) {
    lines.push(
      "",
      `- Message group ${group.index} of ${view.groupCount}: ${group.count} ${group.instancesWord}`,
      group.isNew ? "  New" : group.isBack ? `  Back: ${group.backText}; ${group.ongoingText}` : `  Ongoing: ${group.ongoingText}`,
      `  From ${group.first} to ${group.last}`,
      `  Per ${view.bucketText}: [${group.sparkline}]`,
      "",
      `Subject: "${group.subject}"`,
      `Senders: ${group.sendersText}`
    )
    if (group.hasBody) lines.push("Body:", group.body)
  }
  if (view.hasBriefGroups) lines.push("")
  for (const group of view.briefGroups) {
    lines.push(`- Message group ${group.index} of ${view.groupCount}: ${group.count} ${group.instancesWord}: "${group.subject}" (${group.novelty})`)
  }
  if (view.hasOmitted) {
    lines.push("", `[${view.omittedGroups} more groups (${view.omittedMessages} messages) omitted]`)
  }
  if (view.hasHeld) lines.push("", "Silenced (not in this summary; summarized when the silence ends):", ...view.held.map((note) => `- ${note.line}`))
  return `${lines.join("\n")}\n`
}
