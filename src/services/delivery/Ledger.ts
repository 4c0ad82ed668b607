/**
 * What the process knows of the summaries under way, across reloads: which
 * stored messages a summary is being delivered for now, and which
 * recipients each message already reached. It lives beside the listening
 * sockets and the counters, outside the graph a reload rebuilds.
 *
 * A reload does not wait for the old graph's deliveries: once the old graph
 * takes no more mail and starts no more summaries, the new one is built
 * (so intake answers at once), while the old one's summaries under way
 * finish beside it (see `commands/Daemon.ts`). The ledger is how the two
 * never send the same message to the same recipient twice:
 * - the new graph's recovery leaves out every message a summary is under
 *   way for (`underWay`), and takes it in only if that summary ends without
 *   reaching every recipient (`handedBack`);
 * - a message is removed from the store only once every recipient it was
 *   addressed to got it (relayed, or filed in the fail-dir): a batch split
 *   by recipients sends one summary per recipient set, and a message in two
 *   of them stays until both are out; what one of them did not deliver comes
 *   back narrowed to the recipients still owed (`owed`).
 *
 * In memory only: a crash (or another replica taking over) forgets which
 * recipients a message reached, and sends it to all of them again
 * (at least once, under the same Message-ID when the summary is the same).
 */
import { Effect, PubSub } from "effect"
import { normalizeAddress } from "../../domain/message/Message.ts"

/** One message of a summary, with the recipients it is addressed to (normalized). */
export interface LedgerMessage {
  readonly id: string
  readonly recipients: ReadonlyArray<string>
}

interface Entry {
  /** Summaries under way that cover it. */
  underWay: number
  /** Every recipient has it, and its removal from the store is not written yet. */
  removing: boolean
  /** Recipients it reached (relayed or filed). */
  readonly served: Set<string>
}

/** The summaries under way in this process, and whom each stored message reached. */
export class Ledger extends Effect.Service<Ledger>()("failmail/Ledger", {
  effect: Effect.gen(function* () {
    const entries = new Map<string, Entry>()
    const handedBack = yield* PubSub.unbounded<ReadonlyArray<string>>()

    const entryOf = (id: string): Entry => {
      let entry = entries.get(id)
      if (entry === undefined) entries.set(id, (entry = { underWay: 0, removing: false, served: new Set() }))
      return entry
    }

    return {
      /** A summary covering these messages starts being delivered. */
      begin: (messages: ReadonlyArray<LedgerMessage>): void => {
        for (const message of messages) entryOf(message.id).underWay++
      },
      /**
       * That summary ended: `reached` are the recipients it was relayed or
       * filed for (none when its messages stay in the store). Returns the
       * messages now done (every recipient reached, nothing under way): the
       * caller removes them from the store, and says when with `removed`
       * (they count as under way until then). A message with nothing under way
       * any more that is not done is handed back, to the graph that left it
       * out at its recovery.
       */
      end: (messages: ReadonlyArray<LedgerMessage>, reached: ReadonlyArray<string>): ReadonlyArray<string> => {
        const done: Array<string> = []
        const back: Array<string> = []
        for (const message of messages) {
          const entry = entryOf(message.id)
          entry.underWay = Math.max(0, entry.underWay - 1)
          for (const recipient of reached) entry.served.add(recipient)
          if (entry.underWay > 0) continue
          if (message.recipients.every((recipient) => entry.served.has(recipient))) {
            entry.removing = true
            done.push(message.id)
          } else back.push(message.id)
        }
        if (back.length > 0) handedBack.unsafeOffer(back)
        return done
      },
      /** The removal of messages `end` gave as done was written (or given up with the graph): they are forgotten. */
      removed: (ids: ReadonlyArray<string>): void => {
        for (const id of ids) if (entries.get(id)?.removing === true) entries.delete(id)
      },
      /** The messages a summary is under way for, or whose removal is not written yet: a graph recovering leaves them out. */
      underWay: (): ReadonlySet<string> => {
        const ids = new Set<string>()
        for (const [id, entry] of entries) if (entry.underWay > 0 || entry.removing) ids.add(id)
        return ids
      },
      /** Of a stored message's envelope recipients, those it has not reached yet (all of them, as far as this process knows nothing of it). */
      owed: (id: string, rcptTo: ReadonlyArray<string>): ReadonlyArray<string> => {
        const served = entries.get(id)?.served
        return served === undefined || served.size === 0 ? rcptTo : rcptTo.filter((address) => !served.has(normalizeAddress(address)))
      },
      /** Ids of messages whose last summary under way ended without reaching every recipient, published as it ends. */
      handedBack
    } as const
  })
}) {}
