/**
 * Scenario 7: idle memory — the resident set of the built failmail before
 * its first message, started with its default configuration (HTTP on)
 * apart from its directories and ports: what a freshly started sidecar
 * costs on every host.
 */
import type { Context } from "./context.ts"
import { commandLabel } from "./failmail.ts"
import { mb, type Row } from "./report.ts"
import { median, sleep } from "./util.ts"

/** Starts taken; the median is the figure. */
const STARTS = 3

/** How long after `failmail ready` the resident set is read (start-up work settles). */
const SETTLE_MS = 1000

const TARGET_MB = 80

export const runIdleMemory = async (ctx: Context): Promise<Row> => {
  const samples: Array<number> = []
  for (let i = 0; i < STARTS; i++) {
    const failmail = await ctx.startFailmail({ label: `s7-${i}`, defaults: true, relayAddr: "", waitPeriod: "", maxWait: "" })
    try {
      await sleep(SETTLE_MS)
      const rssKb = failmail.memory()?.rssKb
      if (rssKb === undefined) throw new Error(`failmail exited while idle:\n${failmail.tail()}`)
      samples.push(rssKb)
    } finally {
      await failmail.dispose(ctx.stopHow)
    }
  }
  const rssKb = median(samples)
  return {
    id: 7,
    scenario: "idle memory (before the first message)",
    figure: `${mb(rssKb)} (VmRSS; ${samples.map(mb).join(", ")})`,
    target: `RSS < ${TARGET_MB} MB`,
    pass: rssKb < TARGET_MB * 1024,
    values: { rssKb, minRssKb: Math.min(...samples), maxRssKb: Math.max(...samples) },
    notes: [
      `7: ${commandLabel(ctx.root, ctx.options.nodeOptions)} with the default configuration ` +
        `(HTTP on; only --bind-addr, --bind-http ports and the spool and fail-dir in a temporary directory given); ` +
        `VmRSS ${SETTLE_MS / 1000} s after its "failmail ready" line, median of ${STARTS} starts.`
    ]
  }
}
