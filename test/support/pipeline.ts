/**
 * Test graphs: the mail pipeline without sockets, relaying and storing in
 * memory, on the `TestClock`.
 *
 * - {@link recordingRelay}: an in-memory {@link Relay} that records every
 *   attempt with the `Clock` time it happened at (so `TestClock` tests check
 *   timing exactly), and can be told to fail or to hold attempts.
 * - {@link testPipeline}: the production graph of `Main.ts` minus the SMTP
 *   listener, with a given relay and the in-memory storage of `memory.ts`.
 * - {@link idle}: waits until everything the pipeline started is done or
 *   waits on the clock (or on the test), so that after {@link advanceTo} a
 *   test asserts at once, and "nothing more happened" is exact.
 */
import { expect } from "@effect/vitest"
import type { Fiber } from "effect"
import { Chunk, Clock, Context, Deferred, Effect, Exit, FiberRef, Layer, Order, Ref, Scheduler, Scope, TestClock } from "effect"
import * as path from "node:path"
import { core, processServices, type ProcessServices, type Storage } from "../../src/layers/Main.ts"
import { AppConfig, type RunningConfig } from "../../src/services/runtime/AppConfig.ts"
import { EmbeddedStore } from "../../src/services/store/embedded/EmbeddedStore.ts"
import { Batcher } from "../../src/services/batching/Batcher.ts"
import { Cluster } from "../../src/services/cluster/Cluster.ts"
import { Expectations } from "../../src/services/expectations/Expectations.ts"
import { History } from "../../src/services/delivery/History.ts"
import { GroupMemory } from "../../src/services/batching/GroupMemory.ts"
import { MessageIntake } from "../../src/services/smtp/MessageIntake.ts"
import { put, testIntake } from "./effects.ts"
import { Lifecycle } from "../../src/services/runtime/Lifecycle.ts"
import { loadMailparser } from "../../src/services/message/MessageParser.ts"
import { Metrics } from "../../src/services/runtime/Metrics.ts"
import { Outbox } from "../../src/services/delivery/Outbox.ts"
import { Relay, type RelayEnvelope, type RelayError } from "../../src/services/delivery/Relay.ts"
import { Silences } from "../../src/services/silences/Silences.ts"
import { Store, type StoreShape } from "../../src/services/store/Store.ts"
import {
  maildirInMemory,
  memoryMaildirs,
  memorySpool,
  memoryState,
  storeInMemory,
  type MemoryMaildirs,
  type MemorySpool,
  type MemoryState
} from "./memory.ts"
import { testConfig } from "./config.ts"

// failmail loads mailparser with the first body it decodes (MessageParser): loaded here up front, so a
// TestClock test never waits on a real module load that its clock does not drive.
await loadMailparser()

/** One relay attempt. */
export interface RelayAttempt {
  readonly envelope: RelayEnvelope
  readonly raw: Buffer
  /** `Clock` time of the attempt (ms). */
  readonly at: number
  /** Why it failed; `undefined` when it was delivered. */
  readonly error: RelayError | undefined
}

/** An in-memory relay and what it saw. */
export interface RecordingRelay {
  /** Provides {@link Relay}. */
  readonly layer: Layer.Layer<Relay>
  /** Delivered messages, in order (a plain array: read it any time). */
  readonly sent: ReadonlyArray<RelayAttempt>
  /** Every attempt, delivered or failed, in order. */
  readonly attempts: ReadonlyArray<RelayAttempt>
  /**
   * Makes the next `n` attempts (`Infinity`: all) fail with `error`; with
   * `only`, just the attempts it selects (the others are delivered).
   */
  readonly failNext: (n: number, error: RelayError, only?: (envelope: RelayEnvelope) => boolean) => Effect.Effect<void>
  /** Holds every attempt (after recording it) until {@link RecordingRelay.resume}. */
  readonly pause: Effect.Effect<void>
  /** Lets held and later attempts proceed. */
  readonly resume: Effect.Effect<void>
  /** How many times failmail asked the relay to make its transport ahead of a send. */
  readonly preparations: () => number
}

/** Builds an in-memory relay that records what it is asked to send. */
export const recordingRelay = (): Effect.Effect<RecordingRelay> =>
  Effect.sync(() => {
    const sent: Array<RelayAttempt> = []
    const attempts: Array<RelayAttempt> = []
    let failures: { remaining: number; error: RelayError; only: (envelope: RelayEnvelope) => boolean } | undefined
    let gate: Deferred.Deferred<void> | undefined
    let preparations = 0

    const send = (envelope: RelayEnvelope, raw: Uint8Array): Effect.Effect<void, RelayError> =>
      Effect.gen(function* () {
        const at = yield* Clock.currentTimeMillis
        const copy = Buffer.from(raw)
        const recorded: RelayEnvelope = { from: envelope.from, to: [...envelope.to] }
        let error: RelayError | undefined
        if (failures !== undefined && failures.remaining > 0 && failures.only(recorded)) {
          failures.remaining--
          error = failures.error
        }
        attempts.push({ envelope: recorded, raw: copy, at, error })
        if (gate !== undefined) yield* Deferred.await(gate)
        if (error !== undefined) return yield* Effect.fail(error)
        sent.push({ envelope: recorded, raw: copy, at, error })
      })

    return {
      layer: Layer.succeed(Relay, Relay.make({ send, prepare: Effect.sync(() => void preparations++) })),
      sent,
      attempts,
      failNext: (n, error, only = () => true) =>
        Effect.sync(() => {
          failures = { remaining: n, error, only }
        }),
      pause: Effect.map(Deferred.make<void>(), (deferred) => {
        gate ??= deferred
      }),
      resume: Effect.suspend(() => {
        const held = gate
        gate = undefined
        return held === undefined ? Effect.void : Effect.asVoid(Deferred.succeed(held, undefined))
      }),
      preparations: () => preparations
    } satisfies RecordingRelay
  })

/** The tests of the pipeline build their configuration with the one builder (default windows). */
export { testConfig }

/** In-memory storage for a test pipeline: what it holds, and the layer that provides it. */
export interface MemoryStorage {
  readonly spool: MemorySpool
  readonly maildirs: MemoryMaildirs
  readonly state: MemoryState
  readonly layer: Layer.Layer<Storage>
}

/** Empty in-memory storage; give one to two pipelines in turn to model a restart. */
export const memoryStorage = (): MemoryStorage => {
  const spool = memorySpool()
  const maildirs = memoryMaildirs()
  const state = memoryState()
  return { spool, maildirs, state, layer: Layer.merge(storeInMemory(spool, state), maildirInMemory(maildirs)) }
}

/**
 * The pipeline of `Main.ts` without the SMTP listener (no sockets), relaying
 * with `relay` and storing in `storage`, on process services of its own.
 * Provides MessageIntake, Batcher, Outbox, Spool, History and the rest.
 */
export const testPipeline = <E1, E2>(
  config: RunningConfig,
  relay: Layer.Layer<Relay, E1>,
  storage: Layer.Layer<Storage, E2, AppConfig>,
  process: Layer.Layer<ProcessServices> = processServices,
  cluster: Layer.Layer<Cluster, never, AppConfig | Store> = Cluster.single
) => core(config, relay, storage, cluster).pipe(Layer.provideMerge(process))

/**
 * A scheduler that counts the fiber work queued on it and not yet run: a
 * fiber that is resumed (by a timer, a deferred, a message) or yields is a
 * task here until it runs. {@link idle} reads it instead of asking every
 * fiber for its status, which is a message to each fiber and so grew with
 * the number of fibers (a flood over 1,000 batch keys holds 1,000 timers).
 */
class CountingScheduler implements Scheduler.Scheduler {
  /** Tasks queued and not yet started. */
  queued = 0
  /** Tasks ever queued: changes whenever any fiber was given work. */
  scheduled = 0
  /** The fibers running {@link idle}: their own turns are not work of the pipeline. */
  readonly watchers = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  constructor(private readonly inner: Scheduler.Scheduler) {}
  shouldYield(fiber: Fiber.RuntimeFiber<unknown, unknown>) {
    return this.inner.shouldYield(fiber)
  }
  scheduleTask(task: Scheduler.Task, priority: number, fiber?: Fiber.RuntimeFiber<unknown, unknown>) {
    if (fiber !== undefined && this.watchers.has(fiber)) return this.inner.scheduleTask(task, priority, fiber)
    this.queued++
    this.scheduled++
    this.inner.scheduleTask(
      () => {
        this.queued--
        task()
      },
      priority,
      fiber
    )
  }
}

/** The counting scheduler installed in this fiber by {@link trackFibers}. */
const tracker = FiberRef.unsafeMake<CountingScheduler | undefined>(undefined)

/**
 * Tracks every fiber this (test) fiber forks from now on, and every fiber
 * those fork, for {@link idle}, until the current scope closes: they run
 * on a {@link CountingScheduler} (one per test fiber, however often called).
 */
export const trackFibers: Effect.Effect<void, never, Scope.Scope> = Effect.gen(function* () {
  if ((yield* FiberRef.get(tracker)) !== undefined) return
  const scheduler = new CountingScheduler(yield* FiberRef.get(FiberRef.currentScheduler))
  yield* Effect.locallyScoped(FiberRef.currentScheduler, scheduler)
  yield* Effect.locallyScoped(tracker, scheduler)
})

/** How many {@link nextTurn} callbacks are queued (several `idle` may run at once). */
let ownTurns = 0

/** How many other `setImmediate` callbacks are queued (stream work of mailparser or nodemailer, say). */
const queuedImmediates = () =>
  process.getActiveResourcesInfo().filter((resource) => resource === "Immediate").length - ownTurns

/**
 * One turn of the event loop: resolves in a `setImmediate` callback, when
 * every microtask and `nextTick` queued before it has run, with the number
 * of other immediates still queued.
 */
const nextTurn: Effect.Effect<number> = Effect.async((resume) => {
  ownTurns++
  const handle = setImmediate(() => {
    ownTurns--
    resume(Effect.succeed(queuedImmediates()))
  })
  return Effect.sync(() => {
    ownTurns--
    clearImmediate(handle)
  })
})

/** How many event-loop turns {@link idle} gives the pipeline before it calls it a runaway. */
const IDLE_TURNS = 100_000

/**
 * Waits until the pipeline has done all it can without the clock moving:
 * no tracked fiber has work queued (each is done, or suspended on a timer,
 * a deferred, a paused relay) and no promise-based work (MIME parsing or
 * composing, which run as Node streams) is still queued, twice in a row
 * with no fiber given work in between. Not a wait in time: it polls the
 * event loop turn by turn until that holds, at a cost that does not grow
 * with the number of fibers.
 */
export const idle: Effect.Effect<void> = Effect.gen(function* () {
  const scheduler = yield* FiberRef.get(tracker)
  const self = yield* Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>((fiber) => Effect.succeed(fiber))
  const comeToRest = Effect.gen(function* () {
    let previous: number | undefined
    for (let turn = 0; turn < IDLE_TURNS; turn++) {
      const immediates = yield* nextTurn
      const scheduled = scheduler?.scheduled ?? 0
      const quiet = immediates === 0 && (scheduler?.queued ?? 0) === 0
      if (quiet && previous === scheduled) return
      previous = quiet ? scheduled : undefined
    }
    return yield* Effect.dieMessage(`the pipeline did not come to rest within ${IDLE_TURNS} turns of the event loop (work that never ends?)`)
  })
  scheduler?.watchers.add(self)
  yield* Effect.ensuring(comeToRest, Effect.sync(() => scheduler?.watchers.delete(self)))
})

/**
 * Starts {@link testPipeline} in a scope of its own, closed by `close` (the
 * final flush runs then) or, at the latest, when the caller's scope closes.
 * It stores in `storage` (a new in-memory one by default; pass one to model
 * a restart) and runs on `process` (pass shared process services to model a
 * reload). Every fiber it forks is tracked for {@link idle}; it returns once
 * the pipeline is idle.
 */
export const startPipeline = <E>(
  config: RunningConfig,
  relay: Layer.Layer<Relay, E>,
  options: {
    readonly storage?: MemoryStorage
    readonly process?: Layer.Layer<ProcessServices>
    /** The cluster it is a replica of (alone by default). */
    readonly cluster?: Layer.Layer<Cluster, never, AppConfig | Store>
  } = {}
) =>
  Effect.gen(function* () {
    const storage = options.storage ?? memoryStorage()
    yield* trackFibers
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const context = yield* Layer.buildWithScope(testPipeline(config, relay, storage.layer, options.process, options.cluster), scope)
    yield* idle
    return {
      intake: testIntake(Context.get(context, MessageIntake)),
      batcher: Context.get(context, Batcher),
      cluster: Context.get(context, Cluster),
      history: Context.get(context, History),
      lifecycle: Context.get(context, Lifecycle),
      storage,
      silences: Context.get(context, Silences),
      expectations: Context.get(context, Expectations),
      outbox: Context.get(context, Outbox),
      memory: Context.get(context, GroupMemory),
      metrics: Context.get(context, Metrics),
      close: Scope.close(scope, Exit.void)
    }
  })

/**
 * What a reload keeps: the in-memory stores (`storage`, a new one by
 * default) and the process-wide services, built once in the caller's scope.
 * Pass it to each {@link startPipeline} of a test that reloads.
 */
export const keptAcrossReloads = (storage: MemoryStorage = memoryStorage()) =>
  Effect.map(Layer.build(processServices), (context) => ({ storage, process: Layer.succeedContext(context) }))

/** A reload as SIGHUP does it: `old` closes while the phase is reloading, then a new pipeline starts on what is `kept`. */
export const reload = <E>(
  old: Effect.Effect.Success<ReturnType<typeof startPipeline>>,
  config: RunningConfig,
  relay: Layer.Layer<Relay, E>,
  kept: Effect.Effect.Success<ReturnType<typeof keptAcrossReloads>>
) =>
  Effect.gen(function* () {
    yield* Ref.set(old.lifecycle.phase, "reloading")
    yield* old.close
    yield* Ref.set(old.lifecycle.phase, "running")
    return yield* startPipeline(config, relay, kept)
  })

/** The instants at which fibers sleeping on the `TestClock` wake, in order. */
export const pendingWakeUps: Effect.Effect<ReadonlyArray<number>> = Effect.map(TestClock.sleeps(), (sleeps) =>
  Chunk.toReadonlyArray(Chunk.sort(sleeps, Order.number))
)

/** Checks that, once the pipeline is {@link idle}, some fiber sleeps on the `TestClock` until exactly `instant`. */
export const expectWakeUpAt = (instant: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* idle
    expect(yield* pendingWakeUps).toContain(instant)
  })

/**
 * Moves the `TestClock` to exactly `instant` (ms since the epoch), never
 * back, and waits until the pipeline is {@link idle}: whatever that instant
 * set off has happened when it returns. `setTime`, not
 * `adjust(instant - now)`: jittered retry delays make instants fractional,
 * and `now + (instant - now)` can fall a hair short.
 */
export const advanceTo = (instant: number): Effect.Effect<void> =>
  Effect.flatMap(TestClock.currentTimeMillis, (now) => (instant > now ? TestClock.setTime(instant) : Effect.void)).pipe(
    Effect.zipRight(idle)
  )

/**
 * {@link advanceTo}, stopping at every instant a fiber sleeps until and
 * letting the pipeline come to rest there, so what wakes then runs at that
 * instant (and sleeps again from it) before the clock moves on: for tests
 * whose timers set off other timers within one advance (a storm's digest
 * timed from the batch that began it).
 */
export const stepTo = (instant: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* idle
    while (true) {
      const now = yield* TestClock.currentTimeMillis
      const next = (yield* pendingWakeUps).find((at) => at > now)
      const to = next === undefined || next > instant ? instant : next
      if (to <= now) return
      yield* advanceTo(to)
    }
  })

/** A raw RFC 5322 message (CRLF line ends). */
export const rawMessage = (fields: {
  readonly subject: string
  readonly from?: string
  readonly to?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
}): Buffer =>
  Buffer.from(
    [
      `From: ${fields.from ?? "app@example.com"}`,
      `To: ${fields.to ?? "ops@example.com"}`,
      `Subject: ${fields.subject}`,
      "Date: Tue, 14 Nov 2023 22:13:20 +0000",
      ...Object.entries(fields.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
      "",
      fields.body ?? `body of ${fields.subject}`,
      ""
    ].join("\r\n"),
    "utf8"
  )

/** Accepts one alert with this subject from app@example.com to ops@example.com, in batch `batch` (its `X-Failmail-Split`; empty: the default batch). */
export const sendAlert = (intake: ReturnType<typeof testIntake>, subject: string, batch = "") =>
  intake.accept(rawMessage({ subject, headers: batch === "" ? {} : { "X-Failmail-Split": batch } }), {
    mailFrom: "app@example.com",
    rcptTo: ["ops@example.com"]
  })

/** {@link startPipeline} on `storage` (a new in-memory one by default), with its relay beside it and `accept` for {@link sendAlert}. */
export const startAlerting = (config: RunningConfig, relay: RecordingRelay, storage: MemoryStorage = memoryStorage()) =>
  Effect.map(startPipeline(config, relay.layer, { storage }), (pipeline) => ({
    ...pipeline,
    relay,
    accept: (subject: string, batch = "") => sendAlert(pipeline.intake, subject, batch)
  }))

/** Moves the clock to `instant` and checks that the relay delivered `n` summaries in all by then. */
export const sentBy = (relay: RecordingRelay, instant: number, n: number) =>
  advanceTo(instant).pipe(Effect.tap(() => expect(relay.sent).toHaveLength(n)))

/** Stores {@link rawMessage} with this subject as the intake would, keyed by its subject. */
export const putMessage = (store: StoreShape, subject: string) =>
  put(
    store,
    {
      envelope: { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] },
      keys: { fingerprint: "f", batchKey: "", groupKey: subject },
      subject,
      sender: "app@example.com",
      size: rawMessage({ subject }).byteLength
    },
    rawMessage({ subject })
  )

/** The embedded store on `messageStore`, open until the current scope closes (opening another on it is a restart). */
export const openEmbeddedStore = (messageStore: string) =>
  Effect.map(
    Layer.build(EmbeddedStore.pipe(Layer.provide(AppConfig.layer(testConfig(path.dirname(messageStore), { messageStore }))))),
    (context) => Context.get(context, Store)
  )
