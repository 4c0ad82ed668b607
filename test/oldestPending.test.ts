/**
 * The gauges the stuck-batch alert (FailmailPendingTooOld in
 * monitoring/alerts.yml) compares, on the TestClock: when the oldest message
 * of a pending batch arrived, 0 once it left or while its batch only waits
 * for --repeat-interval; and --max-wait.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as RelayBudget from "../src/domain/delivery/RelayBudget.ts"
import { relayed } from "./support/digests.ts"
import { advanceTo, rawMessage, recordingRelay, startPipeline, testConfig } from "./support/pipeline.ts"

const MINUTE = 60_000

describe("failmail_oldest_pending_message_timestamp_seconds", () => {
  it.scoped("is the arrival of the oldest message waiting for its deadline, and 0 when none waits", () =>
    Effect.gen(function* () {
      const relay = yield* recordingRelay()
      const config = testConfig("/failmail-test", {
        waitPeriod: Duration.minutes(2),
        maxWait: Duration.minutes(5),
        repeatInterval: Duration.hours(1),
        relayRate: RelayBudget.unlimited
      })
      const pipeline = yield* startPipeline(config, relay.layer)
      const accept = (subject: string) => pipeline.intake.accept(rawMessage({ subject }), { mailFrom: "app@example.com", rcptTo: ["ops@example.com"] })
      const oldest = Effect.promise(async () => (await pipeline.metrics.oldestPendingMessage.get()).values.map((value) => value.value))
      const maxWait = Effect.promise(async () => (await pipeline.metrics.maxWait.get()).values.map((value) => value.value))

      expect(yield* maxWait).toEqual([300])
      expect(yield* oldest).toEqual([0])
      yield* advanceTo(1 * MINUTE)
      yield* accept("disk full")
      yield* advanceTo(2 * MINUTE)
      yield* accept("disk full")
      expect(yield* oldest).toEqual([60])

      // Sent two minutes after the last message: nothing pending.
      yield* advanceTo(4 * MINUTE)
      expect(relayed(relay)).toHaveLength(1)
      expect(yield* oldest).toEqual([0])

      // The same error again is due at 7 minutes, but reported lately and nothing new: it waits for the repeat, which is no stuck batch.
      yield* advanceTo(5 * MINUTE)
      yield* accept("disk full")
      expect(yield* oldest).toEqual([300])
      yield* advanceTo(8 * MINUTE)
      expect((yield* pipeline.batcher.snapshot).map((batch) => batch.held)).toEqual(["repeat"])
      expect(yield* oldest).toEqual([0])
    })
  )
})
