/**
 * When a relay attempt that failed for a transient reason is tried again:
 * the one retry rule of summaries (Dispatcher) and of `--relay-all` copies
 * (MessageIntake).
 */
import { Duration, Schedule } from "effect"

/** The backoff between relay attempts: about 1 s, doubling, at most 3 minutes apart, jittered. */
export const backoff = Schedule.exponential("1 second").pipe(
  Schedule.union(Schedule.spaced("3 minutes")),
  Schedule.jittered
)

/**
 * {@link backoff} for at most `retryFor`: the last retry is made at the end of
 * the window, never a backoff step after it (0: no retry).
 */
export const retryPolicy = (retryFor: Duration.Duration) =>
  backoff.pipe(
    Schedule.intersect(Schedule.elapsed),
    Schedule.whileOutput(([, elapsed]) => Duration.lessThan(elapsed, retryFor)),
    Schedule.modifyDelay(([, elapsed], delay) => Duration.min(delay, Duration.subtract(retryFor, elapsed)))
  )
