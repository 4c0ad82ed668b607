/**
 * The replicas of failmail that share one store, and which of them sends.
 *
 * Every replica takes mail; exactly one at a time is the sender: it holds
 * the sender lease (see `domain/cluster/Lease.ts`) and runs the outgoing part of
 * the pipeline — the batch timers, the relay budget, the deliveries. That
 * part is a scope ({@link ClusterShape.whileSender}): opened when the lease
 * is gained (the Batcher then recovers every pending message from the store
 * with its stored arrival time, so deadlines hold), closed when it is lost
 * or cannot be renewed before it expires (no final flush: the next sender
 * sends).
 *
 * Before relaying a summary the sender claims it ({@link ClusterShape.claim}),
 * in one transaction that checks the lease, under a deterministic
 * Message-ID; after relaying (or filing) it records it sent
 * ({@link ClusterBackend.recordSentRemovingMessages}: the record and the
 * removal of its messages from the shared store are one transaction). A claim left `sending` by a sender that died is
 * sent again by the next one under the same Message-ID: the one case where
 * the upstream can receive a summary twice (the relay may have taken it
 * before the sender died), and the duplicate is recognisable.
 *
 * Two layers: {@link Cluster.single} for the embedded store (one replica,
 * always the sender, the role scope is the service's own: everything as
 * without a cluster) and {@link Cluster.fromBackend} over a shared backend
 * (`PostgresCluster.ts`; an in-memory one in the tests). State that only
 * the sender holds goes through `SenderState.ts`.
 */
import { Clock, Context, Data, Duration, Effect, Either, Exit, FiberId, Layer, Scope } from "effect"
import * as crypto from "node:crypto"
import * as os from "node:os"
import * as Lease from "../../domain/cluster/Lease.ts"
import * as LogContext from "../../domain/LogContext.ts"
import type { ClusterView, Replica } from "../../domain/cluster/Replica.ts"
import { VERSION } from "../../domain/settings/Version.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import type { SpoolError, SpoolRecord, Store } from "../store/Store.ts"

/** One batch's share of a claimed summary. */
export interface ClaimedPart {
  readonly batchKey: string
  readonly messageIds: ReadonlyArray<string>
}

/** A summary the sender is about to relay: its Message-ID's local part, its recipients and its messages. */
export interface Claim {
  readonly summaryId: string
  readonly recipients: ReadonlyArray<string>
  readonly parts: ReadonlyArray<ClaimedPart>
}


/** The shared state of the cluster could not be read or written. */
export class ClusterError extends Data.TaggedError("ClusterError")<{ readonly operation: string; readonly cause: unknown }> {
  override get message(): string {
    return `cluster ${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/** This replica does not hold the sender lease (any more): it must not send. */
export class Fenced extends Data.TaggedError("Fenced")<{ readonly replica: string }> {
  override get message(): string {
    return `replica ${this.replica} does not hold the sender lease`
  }
}

/** Messages stored by any replica, as a backend gives them to the sender that follows them. */
export interface ArrivalPage {
  /** Messages stored since `after` (or a little before) that the sender has not taken yet. */
  readonly records: ReadonlyArray<SpoolRecord>
  /** Where to ask from next time. */
  readonly next: number
  /** When the backend listed every pending message: their ids (one not among them has left the store). */
  readonly present?: ReadonlyArray<string> | undefined
}

/**
 * What a shared cluster keeps (a PostgreSQL database, or memory in tests);
 * {@link Cluster.fromBackend} builds the service on it. `test/Cluster.contract.test.ts`
 * runs the same cases against every backend.
 */
export interface ClusterBackend {
  /** Records that `replica` is alive (inserting or updating its row). */
  readonly heartbeat: (replica: Replica) => Effect.Effect<void, ClusterError>
  /** Removes the row of a replica that stops. */
  readonly leave: (replica: string) => Effect.Effect<void, ClusterError>
  /** The lease after `replica` asked for it at `now` ({@link Lease.acquire}, atomically): held by it, or `undefined`. */
  readonly acquire: (replica: string, now: number) => Effect.Effect<Lease.Lease | undefined, ClusterError>
  /** Lets the lease go, if `held` is still it ({@link Lease.released}). */
  readonly release: (held: Lease.Lease) => Effect.Effect<void, ClusterError>
  /** The lease as stored. */
  readonly lease: Effect.Effect<Lease.Lease, ClusterError>
  /** Every replica that ever sent a heartbeat (and was not pruned). */
  readonly replicas: Effect.Effect<ReadonlyArray<Replica>, ClusterError>
  /**
   * Records `claim` as `sending`, in one transaction that checks `held` is
   * the lease in force at `now` ({@link Lease.holds}); claiming it again
   * (same summary id) updates it. Fails with {@link Fenced} otherwise.
   */
  readonly claim: (held: Lease.Lease, now: number, claim: Claim) => Effect.Effect<void, Fenced | ClusterError>
  /**
   * Marks the claim `sent` and deletes its messages from the shared store,
   * in one transaction (a new sender must never find a summary recorded
   * sent whose messages are still pending: it would summarize them again);
   * done twice, the same.
   */
  readonly recordSentRemovingMessages: (claim: Claim) => Effect.Effect<void, ClusterError>
  /** Claims still `sending`, oldest first. */
  readonly unfinished: Effect.Effect<ReadonlyArray<Claim>, ClusterError>
  /**
   * Messages stored since `after` (0: from the start) by any replica, but
   * those `taken` says the sender has; at least every message committed
   * since the previous page, even one whose position is below `after`.
   */
  readonly arrivals: (after: number, taken: (id: string) => boolean) => Effect.Effect<ArrivalPage, SpoolError>
}

/** What the sender takes in from the store: every message stored by any replica, once. */
export interface Arrivals {
  /** Marks a message as taken; true the first time (the caller adds it to its batch), false after. */
  readonly admit: (id: string) => boolean
  /** Messages stored by any replica and not taken yet; each is taken as it is returned. */
  readonly poll: Effect.Effect<ReadonlyArray<SpoolRecord>, SpoolError>
}

/** How often the sender looks for messages other replicas stored. */
export const ARRIVALS_EVERY = Duration.seconds(1)

/** What the cluster service provides. */
export interface ClusterShape {
  /** This replica's id. */
  readonly self: string
  /** Whether this is the only replica (embedded store): on stop it summarizes what is pending; in a cluster the next sender does. */
  readonly alone: boolean
  /**
   * Runs `body` in a scope of its own each time this replica becomes the
   * sender, closing that scope when it stops being the sender. Alone, `body`
   * runs at once in the caller's scope. Bodies run in the order they were
   * registered, the scope closes them in reverse: with success when this
   * replica stops while it sends and no other replica runs (a last flush is
   * in order, as when alone), with an interruption otherwise (it lost the
   * role, or hands it over: the next sender sends). In
   * a cluster, a body that fails is logged and the lease let go (another
   * replica, or this one later, takes the role afresh).
   */
  readonly whileSender: <E>(body: Effect.Effect<void, E, Scope.Scope>) => Effect.Effect<void, E, Scope.Scope>
  /** Heartbeats and the lease, until the scope closes (then the lease is let go). Alone: nothing. */
  readonly run: Effect.Effect<void, never, Scope.Scope>
  /**
   * The HTTP address this replica's listener bound (`host:port`, the port
   * bound, not `--bind-http`'s, which may be 0): what it announces from now
   * on, at once, so the others can forward to it.
   */
  readonly announceHttp: (address: string) => Effect.Effect<void>
  /** Records a summary as being sent, if this replica holds the lease (see {@link ClusterBackend.claim}). */
  readonly claim: (claim: Claim) => Effect.Effect<void, Fenced | ClusterError>
  /**
   * Records a claimed summary as sent (relayed or filed). Alone there is
   * nothing to record. In a cluster its messages leave the shared store in
   * the same transaction ({@link ClusterBackend.recordSentRemovingMessages});
   * the caller removes them from the {@link Store} either way (then a no-op).
   */
  readonly recordSent: (claim: Claim) => Effect.Effect<void, ClusterError>
  /** Summaries a previous sender claimed and did not record sent: the new sender sends them again, as they were. */
  readonly unfinished: Effect.Effect<ReadonlyArray<Claim>, ClusterError>
  /** Follows what every replica stores, starting with `known` taken (what the sender recovered). */
  readonly follow: (known: ReadonlyArray<string>) => Effect.Effect<Arrivals>
  /** The replicas and the sender, for `GET /api/cluster`. */
  readonly view: Effect.Effect<ClusterView, ClusterError>
}

/** A request to the shared state that takes longer than a renewal period counts as failed (a hung connection must not keep a sender sending). */
const bounded = <A, E>(operation: string, request: Effect.Effect<A, E>): Effect.Effect<A, E | ClusterError> =>
  Effect.timeoutFail(request, {
    duration: Duration.millis(Lease.RENEW_EVERY_MS),
    onTimeout: () => new ClusterError({ operation, cause: new Error("no answer within a renewal period") })
  })

/** This replica as it describes itself (its heartbeat time aside). */
const describeSelf = Effect.map(AppConfig, (config) => ({
  id: crypto.randomBytes(6).toString("hex"),
  hostname: os.hostname(),
  smtp: config.bindAddr,
  http: config.bindHttp,
  version: VERSION
}))

/** Every message id of a claim. */
export const messageIdsOf = (claim: Claim): ReadonlyArray<string> => claim.parts.flatMap((part) => part.messageIds)

/** A follower over `backend.arrivals`: drops what it gave before, forgets what left the store. */
const follower = (backend: ClusterBackend, known: ReadonlyArray<string>): Arrivals => {
  /** Each id taken, with the number of the poll during which (or after which) it was taken. */
  const taken = new Map(known.map((id) => [id, 0]))
  let polls = 0
  let after = 0
  return {
    admit: (id) => {
      if (taken.has(id)) return false
      taken.set(id, polls)
      return true
    },
    poll: Effect.suspend(() => {
      const started = ++polls
      return Effect.map(backend.arrivals(after, (id) => taken.has(id)), (page) => {
        after = page.next
        if (page.present !== undefined) {
          // Only what was taken before this poll listed the store: a message taken meanwhile may be missing from the list.
          const present = new Set(page.present)
          for (const [id, at] of taken) if (at < started && !present.has(id)) taken.delete(id)
        }
        const fresh = page.records.filter((record) => !taken.has(record.id))
        for (const record of fresh) taken.set(record.id, started)
        return fresh
      })
    })
  }
}

/** The sender role of one replica: its current lease and the scope of what runs while it holds it. */
interface Role {
  readonly lease: Lease.Lease
  readonly scope: Scope.CloseableScope
}

/** The cluster service over a shared backend (see {@link ClusterBackend}). */
const fromBackend = (backend: ClusterBackend): Effect.Effect<ClusterShape, never, AppConfig> =>
  Effect.gen(function* () {
    const self = yield* describeSelf
    const bodies: Array<Effect.Effect<void, unknown, Scope.Scope>> = []
    let role: Role | undefined
    const lock = yield* Effect.makeSemaphore(1)

    /** Opens the role's scope and starts every body in it, on a fiber of the scope (so renewals go on meanwhile). */
    const gain = (lease: Lease.Lease) =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        role = { lease, scope }
        yield* Effect.logInfo(`this replica is the sender now (lease generation ${lease.generation})`)
        yield* Effect.forkIn(start(bodies, scope), scope)
      })

    /** Runs the role's bodies in its scope; if one fails, the role is given up (on a fiber outside the scope it closes). */
    const start = (what: ReadonlyArray<Effect.Effect<void, unknown, Scope.Scope>>, scope: Scope.Scope) =>
      Effect.forEach(what, (body) => Scope.extend(body, scope), { discard: true }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.logError("the sender role could not start; letting the lease go", cause).pipe(
            Effect.zipRight(Effect.forkDaemon(giveUp("its start failed"))),
            Effect.asVoid
          )
        )
      )

    /** Stops sending and lets the lease go; `stopping`: because this replica stops, the last one running (a flush is in order). */
    const giveUp = (why: string, stopping = false) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const held = role?.lease
          yield* lose(why, stopping)
          if (held !== undefined) yield* Effect.ignore(backend.release(held))
        })
      )

    /** Closes the role's scope: `stopping` while the lease still holds, so that what is pending can be flushed. */
    const lose = (why: string, stopping = false) =>
      Effect.suspend(() => {
        const current = role
        if (current === undefined) return Effect.void
        // A stopping sender still holds the lease while it flushes; one that lost it claims nothing from now on.
        if (!stopping) role = undefined
        return Effect.logWarning(`this replica stops sending: ${why}`).pipe(
          Effect.zipRight(Scope.close(current.scope, stopping ? Exit.void : Exit.interrupt(FiberId.none))),
          Effect.ensuring(Effect.sync(() => (role = undefined)))
        )
      })

    /** What the last lease request gave: the lease held (renewed, or gained), another holder, or an error. */
    const settle = (asked: Either.Either<Lease.Lease | undefined, ClusterError>, now: number) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          if (Either.isLeft(asked)) {
            if (role !== undefined && now >= role.lease.expiresAt) yield* lose(`the lease expired unrenewed (${asked.left.message})`)
            return
          }
          const lease = asked.right
          if (lease === undefined) return yield* lose("another replica holds the sender lease")
          if (role !== undefined && role.lease.generation !== lease.generation) yield* lose("the lease changed hands meanwhile")
          if (role === undefined) return yield* gain(lease)
          role = { ...role, lease }
        })
      )

    let failing = false
    /** Logs the first failure of a run of them, and the recovery. */
    const noteOutcome = (result: Either.Either<unknown, ClusterError>) =>
      Effect.suspend(() => {
        if (Either.isLeft(result) === failing) return Effect.void
        failing = Either.isLeft(result)
        return Either.isLeft(result)
          ? Effect.logWarning(`the cluster's state cannot be reached: ${result.left.message}`)
          : Effect.logInfo("the cluster's state can be reached again")
      })

    /** One heartbeat and one lease request; returns how long to wait before the next. */
    const tick = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const beat = yield* Effect.either(bounded("heartbeat", backend.heartbeat({ ...self, heartbeatAt: now })))
      const asked = yield* Effect.either(bounded("acquire the lease", backend.acquire(self.id, now)))
      yield* noteOutcome(Either.isLeft(beat) ? beat : asked)
      yield* settle(asked, now)
      const after = yield* Clock.currentTimeMillis
      const held = role?.lease
      // While the lease cannot be renewed, wake when it expires, to stop sending at once.
      const until = held === undefined || Either.isRight(asked) ? Lease.RENEW_EVERY_MS : Math.min(Lease.RENEW_EVERY_MS, held.expiresAt - after)
      return Duration.millis(Math.max(0, until))
    })

    /**
     * Whether this replica, stopping, is the last one running (no other
     * heartbeat within a lease's TTL): then it summarizes what is pending on
     * its way out, as a lone failmail does; otherwise the next sender does,
     * by the batches' deadlines. False when the cluster cannot be reached
     * (the replica could not claim what it would flush).
     */
    const lastOneRunning = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const replicas = yield* bounded("list the replicas", backend.replicas)
      return !replicas.some((replica) => replica.id !== self.id && replica.heartbeatAt > now - Lease.TTL_MS)
    }).pipe(Effect.orElseSucceed(() => false))

    const run = Effect.gen(function* () {
      yield* Effect.addFinalizer(() =>
        Effect.flatMap(lastOneRunning, (last) =>
          giveUp(last ? "this replica is stopping, the last one running" : "this replica is stopping; another sends from now on", last)
        ).pipe(Effect.zipRight(Effect.ignore(bounded("leave", backend.leave(self.id)))))
      )
      yield* Effect.forkScoped(tick.pipe(Effect.flatMap(Effect.sleep), Effect.forever))
    }).pipe(LogContext.annotate({ component: "cluster" }))

    const held = Effect.suspend(() => (role === undefined ? Effect.fail(new Fenced({ replica: self.id })) : Effect.succeed(role.lease)))

    /**
     * A claim recorded, but only once the lease it was made under expired
     * unrenewed (a slow database): not relayed by this replica. The role is given up, so
     * that the next sender (maybe this one again) sends it from its claim.
     */
    const inTime = (lease: Lease.Lease) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        role !== undefined && role.lease.generation === lease.generation && now < role.lease.expiresAt
          ? Effect.void
          : Effect.forkDaemon(giveUp("a claim was recorded only after the lease expired")).pipe(
              Effect.zipRight(Effect.fail(new Fenced({ replica: self.id })))
            )
      )

    return {
      self: self.id,
      alone: false,
      whileSender: (body) =>
        lock.withPermits(1)(
          Effect.suspend(() => {
            bodies.push(body)
            return role === undefined ? Effect.void : Effect.forkIn(start([body], role.scope), role.scope)
          })
        ),
      run,
      announceHttp: (address) =>
        Effect.suspend(() => {
          self.http = address
          // Not waiting for the next heartbeat, nor holding up the start on a slow database.
          const heartbeat = Effect.flatMap(Clock.currentTimeMillis, (now) => backend.heartbeat({ ...self, heartbeatAt: now }))
          return Effect.asVoid(Effect.forkDaemon(Effect.ignore(bounded("heartbeat", heartbeat))))
        }),
      claim: (claim) =>
        Effect.flatMap(held, (lease) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => backend.claim(lease, now, claim)).pipe(Effect.zipRight(inTime(lease)))
        ),
      recordSent: backend.recordSentRemovingMessages,
      unfinished: backend.unfinished,
      follow: (known) => Effect.sync(() => follower(backend, known)),
      view: Effect.gen(function* () {
        const replicas = yield* backend.replicas
        const lease = yield* backend.lease
        return { self: self.id, replicas, sender: Lease.senderAt(lease, yield* Clock.currentTimeMillis) }
      })
    } satisfies ClusterShape
  })

/** The replicas sharing failmail's store, and which of them sends. */
export class Cluster extends Context.Tag("failmail/Cluster")<Cluster, ClusterShape>() {
  /** One replica on the embedded store: always the sender, nothing shared. */
  static readonly single: Layer.Layer<Cluster, never, AppConfig> = Layer.effect(
    Cluster,
    Effect.gen(function* () {
      const self = yield* describeSelf
      return {
        self: self.id,
        alone: true,
        whileSender: (body) => body,
        run: Effect.void,
        announceHttp: (address) => Effect.sync(() => void (self.http = address)),
        claim: () => Effect.void,
        recordSent: () => Effect.void,
        unfinished: Effect.succeed([]),
        follow: () => Effect.succeed({ admit: () => true, poll: Effect.succeed([]) }),
        view: Effect.map(Clock.currentTimeMillis, (now) => ({
          self: self.id,
          replicas: [{ ...self, heartbeatAt: now }],
          sender: self.id
        }))
      } satisfies ClusterShape
    })
  )

  /** A replica of a cluster whose shared state `backend` keeps. */
  static readonly fromBackend = <E, R>(backend: Effect.Effect<ClusterBackend, E, R>): Layer.Layer<Cluster, E, AppConfig | R> =>
    Layer.effect(Cluster, Effect.flatMap(backend, fromBackend))
}
