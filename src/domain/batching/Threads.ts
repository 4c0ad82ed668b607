/**
 * What failmail remembers of the digests it sent, so that a person reads an
 * ongoing error as one conversation and sees what calmed down:
 *
 * - **threads**: the digests of one batch key to one recipient set (of one
 *   recipient set, for storm digests that merge several batch keys) form a
 *   thread; every digest after the first carries `In-Reply-To` and
 *   `References` naming the first one's `Message-ID` (RFC 5322 §3.6.4; mail
 *   clients thread on them as RFC 5256's REFERENCES algorithm does). After
 *   `--forget-after` without a message, the next digest starts a new thread.
 * - **stopped groups**: per recipient set, the groups its digests reported;
 *   the next digest to those recipients that covers a group's batch key (any
 *   storm digest covers them all) lists it if it has not come since
 *   ("Stopped: <group> (last seen <time>)"), once. With one batch key, as
 *   by default, that is every group of the previous digest to the same
 *   recipients; a digest of another batch key, due the same moment, does not
 *   call the groups of its neighbour stopped a moment after they were sent.
 *
 * A digest built again (a summary rebuilt after a defect, or sent again by
 * the next sender with the same `Message-ID`) gets the same answers: a
 * thread's first digest never replies to itself, and the stopped groups
 * found for a digest are kept with it.
 *
 * Pure data and functions, no I/O and no clock.
 */
import { Either, Schema } from "effect"

/** The most threads remembered; beyond it those quiet longest are forgotten (they would start anew anyway). */
export const MAX_THREADS = 5_000
/** The most recipient sets whose last digest is remembered; beyond it those quiet longest are forgotten. */
export const MAX_RECIPIENT_SETS = 1_000
/** The groups remembered per recipient set (the latest digest's first): the candidates for "Stopped". */
export const MAX_REMEMBERED_GROUPS = 200
/** The most "Stopped" lines in a digest. */
export const MAX_STOPPED = 20

/** One thread: the digests of one batch key (or storm) to one recipient set. */
export interface Thread {
  /** See {@link threadKeyOf}. */
  readonly key: string
  /** The `Message-ID` of its first digest, angle brackets included. */
  readonly root: string
  /** Arrival of the latest message in its digests (ms). */
  readonly lastAt: number
}

/** A group of a digest, as remembered for the next digest to the same recipients. */
export interface DigestGroup {
  readonly batchKey: string
  readonly groupKey: string
  /** The subject of its latest message. */
  readonly subject: string
  /** Arrival of its latest instance in that digest (ms). */
  readonly lastSeen: number
}

/** What one recipient set was sent. */
export interface LastDigest {
  readonly recipientsKey: string
  /** The `Message-ID` of the latest digest. */
  readonly messageId: string
  /** Arrival of the latest message of the latest digest (ms). */
  readonly lastAt: number
  /** The groups reported to them and not listed as stopped since, latest digest first, at most {@link MAX_REMEMBERED_GROUPS}. */
  readonly open: ReadonlyArray<DigestGroup>
  /** What the latest digest listed as stopped (so that building it again lists the same). */
  readonly stopped: ReadonlyArray<DigestGroup>
}

/** Everything remembered: threads by key, last digests by recipient set. */
export interface State {
  readonly threads: ReadonlyMap<string, Thread>
  readonly digests: ReadonlyMap<string, LastDigest>
}

/** Nothing remembered. */
export const empty: State = { threads: new Map(), digests: new Map() }

/** The thread of a digest: its batch key and recipients, or only its recipients for a storm digest. */
export const threadKeyOf = (digest: { readonly storm: boolean; readonly batchKey: string; readonly recipientsKey: string }): string =>
  JSON.stringify(digest.storm ? [digest.recipientsKey] : [digest.batchKey, digest.recipientsKey])

/** A digest about to be sent. */
export interface Digest {
  /** It merges several batches (see {@link threadKeyOf}). */
  readonly storm: boolean
  /** The batch keys it covers (the first names its thread when it is no storm). */
  readonly batchKeys: ReadonlyArray<string>
  readonly recipientsKey: string
  readonly messageId: string
  /** Arrival of its first and latest message (ms). */
  readonly firstAt: number
  readonly lastAt: number
  /** Its groups, in its order. */
  readonly groups: ReadonlyArray<DigestGroup>
}

/** Where a digest goes: the thread it continues, what stopped, and what is remembered after it. */
export interface Placed {
  /** The `Message-ID` of its thread's first digest; `undefined` when this digest starts the thread. */
  readonly inReplyTo: string | undefined
  /** Groups reported to these recipients before, of a batch key this digest covers, that have not come since; at most {@link MAX_STOPPED}. */
  readonly stopped: ReadonlyArray<DigestGroup>
  readonly state: State
}

const groupKeyOf = (group: Pick<DigestGroup, "batchKey" | "groupKey">): string => JSON.stringify([group.batchKey, group.groupKey])

/** Keeps the `bound` entries of `map` with the latest `lastAt`. */
const bounded = <V extends { readonly lastAt: number }>(map: Map<string, V>, bound: number): ReadonlyMap<string, V> =>
  map.size <= bound ? map : new Map([...map].sort(([, a], [, b]) => b.lastAt - a.lastAt).slice(0, bound))

/**
 * Places a digest: in the thread it continues (its key's thread, unless that
 * was quiet longer than `forgetAfterMs` before this digest's first message),
 * or at the start of a new one; and finds the groups reported to the same
 * recipients (not longer ago than that) of a batch key it covers that are
 * neither in it nor `arrivedSince` (waiting to be summarized, or reported
 * since): those stopped.
 */
export const place = (
  state: State,
  digest: Digest,
  forgetAfterMs: number,
  arrivedSince: (group: DigestGroup) => boolean
): Placed => {
  const threadKey = threadKeyOf({ storm: digest.storm, batchKey: digest.batchKeys[0] ?? "", recipientsKey: digest.recipientsKey })
  const known = state.threads.get(threadKey)
  const continues = known !== undefined && known.root !== digest.messageId && digest.firstAt - known.lastAt <= forgetAfterMs
  const root = known !== undefined && (continues || known.root === digest.messageId) ? known.root : digest.messageId
  const threads = new Map(state.threads)
  threads.set(threadKey, { key: threadKey, root, lastAt: root === known?.root ? Math.max(known.lastAt, digest.lastAt) : digest.lastAt })

  const previous = state.digests.get(digest.recipientsKey)
  // The same digest built again finds what it found the first time.
  const sent = previous?.messageId === digest.messageId ? previous : sentAfter(previous, digest, forgetAfterMs, arrivedSince)
  const digests = new Map(state.digests)
  digests.set(digest.recipientsKey, sent)
  return {
    inReplyTo: continues ? known.root : undefined,
    stopped: sent.stopped,
    state: { threads: bounded(threads, MAX_THREADS), digests: bounded(digests, MAX_RECIPIENT_SETS) }
  }
}

/** What the recipients of `digest` were sent once it is: its groups open, and those of a batch key it covers that stopped closed. */
const sentAfter = (
  previous: LastDigest | undefined,
  digest: Digest,
  forgetAfterMs: number,
  arrivedSince: (group: DigestGroup) => boolean
): LastDigest => {
  const present = new Set(digest.groups.map(groupKeyOf))
  const covered = new Set(digest.batchKeys)
  const candidates = (previous?.open ?? []).filter((group) => !present.has(groupKeyOf(group)) && digest.firstAt - group.lastSeen <= forgetAfterMs)
  const gone = candidates.filter((group) => (digest.storm || covered.has(group.batchKey)) && !arrivedSince(group))
  const closed = new Set(gone.map(groupKeyOf))
  return {
    recipientsKey: digest.recipientsKey,
    messageId: digest.messageId,
    lastAt: digest.lastAt,
    open: [...digest.groups, ...candidates.filter((group) => !closed.has(groupKeyOf(group)))].slice(0, MAX_REMEMBERED_GROUPS),
    stopped: gone.slice(0, MAX_STOPPED)
  }
}

// The stored document: rows, not objects, so it is about half the size to write and read.
const GroupRow = Schema.Tuple(Schema.String, Schema.String, Schema.String, Schema.Number)
const Document = Schema.Struct({
  threads: Schema.Array(Schema.Tuple(Schema.String, Schema.String, Schema.Number)),
  digests: Schema.Array(Schema.Tuple(Schema.String, Schema.String, Schema.Number, Schema.Array(GroupRow), Schema.Array(GroupRow)))
})

const rowOf = (group: DigestGroup) => [group.batchKey, group.groupKey, group.subject, group.lastSeen] as const
const groupOf = ([batchKey, groupKey, subject, lastSeen]: typeof GroupRow.Type): DigestGroup => ({ batchKey, groupKey, subject, lastSeen })

/** The document that stores `state`. */
export const documentOf = (state: State): typeof Document.Encoded => ({
  threads: [...state.threads.values()].map((thread) => [thread.key, thread.root, thread.lastAt] as const),
  digests: [...state.digests.values()].map(
    (digest) => [digest.recipientsKey, digest.messageId, digest.lastAt, digest.open.map(rowOf), digest.stopped.map(rowOf)] as const
  )
})

/** The state a stored document holds, or why it cannot be read; nothing stored (`undefined`) is {@link empty}. */
export const stateOf = (saved: unknown): Either.Either<State, string> => {
  if (saved === undefined) return Either.right(empty)
  return Either.match(Schema.decodeUnknownEither(Document)(saved), {
    onLeft: (error) => Either.left(error.message),
    onRight: (document) =>
      Either.right({
        threads: new Map(document.threads.map(([key, root, lastAt]) => [key, { key, root, lastAt }])),
        digests: new Map(
          document.digests.map(([recipientsKey, messageId, lastAt, open, stopped]) => [
            recipientsKey,
            { recipientsKey, messageId, lastAt, open: open.map(groupOf), stopped: stopped.map(groupOf) }
          ])
        )
      })
  })
}
