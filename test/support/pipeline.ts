/**
 * Test graphs: the mail pipeline without sockets, relaying into memory.
 *
 * - {@link recordingRelay}: an in-memory {@link Relay} that records every
 *   attempt with the `Clock` time it happened at (so `TestClock` tests check
 *   timing exactly), and can be told to fail or to hold attempts.
 * - {@link testPipeline}: the production graph of `Main.ts` minus the SMTP
 *   listener, with a given relay.
 * - {@link eventually}: waits in real time for the pipeline's file I/O, which
 *   the `TestClock` does not control.
 */
import { Chunk, Clock, Context, Deferred, Duration, Effect, Exit, Layer, Order, Scope, TestClock } from "effect"
import * as path from "node:path"
import * as Settings from "../../src/domain/Settings.ts"
import type { RunningConfig } from "../../src/services/AppConfig.ts"
import { Batcher } from "../../src/services/Batcher.ts"
import { History } from "../../src/services/History.ts"
import { Intake } from "../../src/services/Intake.ts"
import { Lifecycle } from "../../src/services/Lifecycle.ts"
import { Relay, type RelayEnvelope, type RelayError } from "../../src/services/Relay.ts"
import { Spool } from "../../src/services/Spool.ts"
import { core, processServices, type ProcessServices } from "../../src/layers/Main.ts"

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
}

/** Builds an in-memory relay that records what it is asked to send. */
export const recordingRelay = (): Effect.Effect<RecordingRelay> =>
  Effect.sync(() => {
    const sent: Array<RelayAttempt> = []
    const attempts: Array<RelayAttempt> = []
    let failures: { remaining: number; error: RelayError; only: (envelope: RelayEnvelope) => boolean } | undefined
    let gate: Deferred.Deferred<void> | undefined

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
      layer: Layer.succeed(Relay, Relay.make({ send })),
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
      })
    } satisfies RecordingRelay
  })

/** A configuration for in-process tests: spool and fail-dir under `dir`, HTTP off, default windows. */
export const testConfig = (dir: string, overrides: Partial<RunningConfig> = {}): RunningConfig => ({
  ...Settings.defaults({ hostname: "test" }),
  configFile: "",
  messageStore: path.join(dir, "incoming"),
  failDir: path.join(dir, "failed"),
  bindHttp: "",
  relayAddr: "unused:25",
  waitPeriod: Duration.seconds(30),
  maxWait: Duration.minutes(5),
  ...overrides
})

/**
 * The pipeline of `Main.ts` without the SMTP ingress (no sockets), relaying
 * with `relay`, on process services of its own. Provides Intake, Batcher,
 * Spool, History and the rest.
 */
export const testPipeline = <E>(
  config: RunningConfig,
  relay: Layer.Layer<Relay, E>,
  process: Layer.Layer<ProcessServices> = processServices
) => core(config, relay).pipe(Layer.provideMerge(process))

/**
 * Starts {@link testPipeline} in a scope of its own, closed by `close` (the
 * final flush runs then) or, at the latest, when the caller's scope closes.
 * Pass `process` to share process services between pipelines, as a reload does.
 */
export const startPipeline = <E>(
  config: RunningConfig,
  relay: Layer.Layer<Relay, E>,
  process: Layer.Layer<ProcessServices> = processServices
) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const context = yield* Layer.buildWithScope(testPipeline(config, relay, process), scope)
    return {
      intake: Context.get(context, Intake),
      batcher: Context.get(context, Batcher),
      spool: Context.get(context, Spool),
      history: Context.get(context, History),
      lifecycle: Context.get(context, Lifecycle),
      close: Scope.close(scope, Exit.void)
    }
  })

/** Lets real time pass (for file I/O, which the `TestClock` does not control). */
export const settle = (ms = 25): Effect.Effect<void> =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/**
 * Polls `condition` in real time, every `intervalMs`, until it holds; dies
 * after `timeoutMs` (real time) naming what it waited for. Needed because the
 * pipeline does real file I/O after a timer fires. A costly condition (a big
 * directory listing) wants a longer interval, or it starves that I/O.
 */
export const eventually = <E, R>(
  label: string,
  condition: Effect.Effect<boolean, E, R>,
  options: { readonly timeoutMs?: number; readonly intervalMs?: number } = {}
): Effect.Effect<void, E, R> =>
  Effect.suspend(() => {
    const started = Date.now()
    const pause = settle(options.intervalMs ?? 1)
    const loop: Effect.Effect<void, E, R> = Effect.flatMap(condition, (ok) => {
      if (ok) return Effect.void
      if (Date.now() - started > (options.timeoutMs ?? 10_000)) return Effect.dieMessage(`timed out waiting for ${label}`)
      return Effect.zipRight(pause, loop)
    })
    return loop
  })

/** The instants at which fibers sleeping on the `TestClock` wake, in order. */
export const pendingWakeUps: Effect.Effect<ReadonlyArray<number>> = Effect.map(TestClock.sleeps(), (sleeps) =>
  Chunk.toReadonlyArray(Chunk.sort(sleeps, Order.number))
)

/** Waits until some fiber sleeps on the `TestClock` until exactly `instant`. */
export const awaitWakeUpAt = (instant: number): Effect.Effect<void> =>
  eventually(`a timer for ${instant}`, Effect.map(pendingWakeUps, (wakeUps) => wakeUps.includes(instant)))

/**
 * Moves the `TestClock` to exactly `instant` (ms since the epoch), never
 * back. `setTime`, not `adjust(instant - now)`: jittered retry delays make
 * instants fractional, and `now + (instant - now)` can fall a hair short.
 */
export const advanceTo = (instant: number): Effect.Effect<void> =>
  Effect.flatMap(TestClock.currentTimeMillis, (now) => (instant > now ? TestClock.setTime(instant) : Effect.void))

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
