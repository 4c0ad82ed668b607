/**
 * Prometheus metrics (prom-client) in a registry of their own (not
 * prom-client's global one), built once per process and kept across reloads,
 * so a counter resets only when failmail restarts (tests build one per
 * pipeline).
 */
import { Effect } from "effect"
import * as Prometheus from "prom-client"

/** The metrics failmail exposes on `/metrics`. */
export class Metrics extends Effect.Service<Metrics>()("failmail/Metrics", {
  sync: () => {
    const registry = new Prometheus.Registry()
    const registers = [registry]
    // Process and Node.js runtime metrics (resident memory, heap, event-loop lag, GC) under their standard names.
    Prometheus.collectDefaultMetrics({ register: registry })
    /** When the oldest pending message arrived (ms; 0: none), asked at scrape time of whoever holds the pending batches. */
    let oldestPendingAt: () => number = () => 0
    const metrics = {
      registry,
      /**
       * Makes `source` what the oldest-pending gauge reads (the Batcher of the running
       * configuration); the returned function lets go of it, unless another took over since.
       */
      readOldestPendingFrom: (source: () => number): (() => void) => {
        oldestPendingAt = source
        return () => {
          if (oldestPendingAt === source) oldestPendingAt = () => 0
        }
      },
      oldestPendingMessage: new Prometheus.Gauge({
        name: "failmail_oldest_pending_message_timestamp_seconds",
        help: "When the oldest message of a pending batch arrived (Unix time; 0: nothing pending); batches waiting for --repeat-interval and silenced messages do not count",
        registers,
        collect() {
          this.set(oldestPendingAt() / 1000)
        }
      }),
      maxWait: new Prometheus.Gauge({
        name: "failmail_max_wait_seconds",
        help: "--max-wait: the longest a batch is held after its first message",
        registers
      }),
      messagesReceived: new Prometheus.Counter({
        name: "failmail_messages_received_total",
        help: "Messages accepted (250) and stored in the spool",
        registers
      }),
      messagesRejected: new Prometheus.Counter({
        name: "failmail_messages_rejected_total",
        help: "Messages refused, by reason",
        labelNames: ["reason"] as const,
        registers
      }),
      bytesReceived: new Prometheus.Counter({
        name: "failmail_received_bytes_total",
        help: "Bytes of accepted messages",
        registers
      }),
      summariesSent: new Prometheus.Counter({
        name: "failmail_summaries_sent_total",
        help: "Summaries relayed upstream",
        registers
      }),
      summariesFailed: new Prometheus.Counter({
        name: "failmail_summaries_failed_total",
        help: "Summaries that could not be relayed and went to the fail-dir",
        registers
      }),
      relayRetries: new Prometheus.Counter({
        name: "failmail_relay_retries_total",
        help: "Relay attempts retried after a transient failure",
        registers
      }),
      relayLatency: new Prometheus.Histogram({
        name: "failmail_relay_latency_seconds",
        help: "Duration of successful relay attempts",
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers
      }),
      pendingBatches: new Prometheus.Gauge({
        name: "failmail_pending_batches",
        help: "Batches waiting for their deadline",
        registers
      }),
      pendingMessages: new Prometheus.Gauge({
        name: "failmail_pending_messages",
        help: "Messages in pending batches",
        registers
      }),
      silencedMessages: new Prometheus.Gauge({
        name: "failmail_silenced_messages",
        help: "Messages held back by silences (stored, not summarized until the silence ends)",
        registers
      }),
      expectedMessages: new Prometheus.Counter({
        name: "failmail_expected_messages_total",
        help: "Messages that met an expectation (routine: not summarized)",
        registers
      }),
      expectationsMissing: new Prometheus.Gauge({
        name: "failmail_expectations_missing",
        help: "Expectations whose mail is missing now",
        registers
      }),
      heldSummaries: new Prometheus.Gauge({
        name: "failmail_held_summaries",
        help: "Summaries held back, by reason (budget: --relay-rate spent; repeat: --repeat-interval not yet passed)",
        labelNames: ["reason"] as const,
        registers
      }),
      heldMessages: new Prometheus.Gauge({
        name: "failmail_held_messages",
        help: "Messages in held summaries, by reason",
        labelNames: ["reason"] as const,
        registers
      }),
      relayBudgetRemaining: new Prometheus.Gauge({
        name: "failmail_relay_budget_remaining",
        help: "Summaries the relay budget allows right now (--relay-rate)",
        registers
      }),
      removalsPending: new Prometheus.Gauge({
        name: "failmail_removals_pending",
        help: "Messages summarized (relayed or filed) whose removal from the store is not written yet (a full disk): a stop now would summarize them again",
        registers
      }),
      stormDigests: new Prometheus.Counter({
        name: "failmail_storm_digests_total",
        help: "Digests that merged several batches for the same recipients (a storm, or summaries held by the relay budget)",
        registers
      }),
      storms: new Prometheus.Counter({
        name: "failmail_storms_total",
        help: "Storms begun: --storm-threshold or more summaries for one recipient set due within one --wait-period",
        registers
      }),
      stormMerges: new Prometheus.Counter({
        name: "failmail_storm_merged_summaries_total",
        help: "Summaries merged into a storm digest of their recipients instead of going alone (--storm-threshold)",
        registers
      }),
      threadsStarted: new Prometheus.Counter({
        name: "failmail_threads_started_total",
        help: "Digests relayed or filed that start a thread (the first for their batch key and recipients, or after --forget-after of quiet)",
        registers
      }),
      threadReplies: new Prometheus.Counter({
        name: "failmail_thread_replies_total",
        help: "Digests relayed or filed as replies in a thread (In-Reply-To and References name its first digest)",
        registers
      }),
      backGroups: new Prometheus.Counter({
        name: "failmail_back_groups_total",
        help: "Groups reported as back after a quiet spell longer than --back-after",
        registers
      }),
      spooledMessages: new Prometheus.Gauge({
        name: "failmail_spooled_messages",
        help: "Messages stored in the spool (pending or being delivered)",
        registers
      }),
      sender: new Prometheus.Gauge({
        name: "failmail_sender",
        help: "1 while this replica is the one that sends (always, on the embedded store); the pending, held and spooled gauges are the cluster's on it and 0 on the others",
        registers
      }),
      smtpConnections: new Prometheus.Gauge({
        name: "failmail_smtp_connections",
        help: "Open SMTP client connections",
        registers
      })
    } as const
    // Every known reason from the start, so a rate by reason is 0 rather than no series before the first refusal.
    for (const reason of ["too-large", "spool"]) metrics.messagesRejected.inc({ reason }, 0)
    for (const reason of ["budget", "repeat"]) {
      metrics.heldSummaries.set({ reason }, 0)
      metrics.heldMessages.set({ reason }, 0)
    }
    return metrics
  }
}) {}
