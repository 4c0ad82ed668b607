/** Command-line options of the benchmark, and the sizes of each scenario. */
import { readFlags } from "./flags.ts"

export interface Options {
  /** Tiny counts: a smoke run of the harness, not a measurement. */
  readonly quick: boolean
  /** Scenarios to run (1–9); all when empty. */
  readonly scenarios: ReadonlySet<number>
  /** Write CPU profiles of failmail (`node --cpu-prof`) into this directory; also a heap snapshot after the flood. */
  readonly profileDir: string | undefined
  /** Write the results as JSON to this file. */
  readonly json: string | undefined
  /** Use the Node load generator even when smtp-source is installed. */
  readonly nodeLoad: boolean
  /** Rounds of the throughput scenarios (sink and failmail alternate). */
  readonly rounds: number | undefined
  /** Extra Node options for failmail (`node <these> dist/main.js`), to compare runtime settings. */
  readonly nodeOptions: ReadonlyArray<string>
}

export const usage = `usage: node dist-bench/bench/main.js [--quick] [--scenario N]... [--rounds N] [--node-load] [--node-option FLAG]... [--profile DIR] [--json FILE]
  --quick        tiny counts: checks the harness works (figures mean nothing)
  --scenario N   run only scenario N (repeat, or N,M); 6 runs the flood of 4 first
  --rounds N     rounds of scenarios 1, 2 and 8 (smtp-sink and failmail alternate; default 3)
  --node-load    use the Node load generator even where smtp-source is installed
  --node-option FLAG  run failmail as node FLAG dist/main.js (repeat; e.g. --node-option=--optimize-for-size)
  --profile DIR  run failmail with --cpu-prof (profiles in DIR) and take a heap snapshot after the flood
  --json FILE    also write the results as JSON`

export const parseOptions = (argv: ReadonlyArray<string>): Options => {
  let quick = false
  let profileDir: string | undefined
  let json: string | undefined
  let nodeLoad = false
  let rounds: number | undefined
  const nodeOptions: Array<string> = []
  const scenarios = new Set<number>()
  readFlags(argv, usage, {
    "--quick": () => {
      quick = true
    },
    "--scenario": (value) => {
      for (const part of value().split(",")) {
        const n = Number(part)
        if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`--scenario: 1 to 9, not ${part}\n${usage}`)
        scenarios.add(n)
      }
    },
    "--rounds": (value) => {
      const n = Number(value())
      if (!Number.isInteger(n) || n < 1 || n > 20) throw new Error(`--rounds: 1 to 20\n${usage}`)
      rounds = n
    },
    "--node-load": () => {
      nodeLoad = true
    },
    "--node-option": (value) => {
      nodeOptions.push(value())
    },
    "--profile": (value) => {
      profileDir = value()
    },
    "--json": (value) => {
      json = value()
    }
  })
  return { quick, scenarios, profileDir, json, nodeLoad, rounds, nodeOptions }
}

/** How big each scenario is. */
export interface Sizes {
  readonly messageSize: number
  readonly sessions: number
  readonly rounds: number
  readonly newConnectionMessages: number
  readonly reusedMessages: number
  readonly latencyMessages: number
  readonly latencyWarmup: number
  readonly floodGroups: number
  readonly floodPerGroup: number
  readonly summaryBatches: number
  /** wait-period for the summary-latency scenario, in ms. */
  readonly summaryWaitMs: number
  /** Spacing of the summary-latency messages, in ms. */
  readonly summaryGapMs: number
}

export const sizesFor = (options: Options): Sizes =>
  options.quick
    ? {
        messageSize: 2048,
        sessions: 5,
        rounds: options.rounds ?? 1,
        newConnectionMessages: 100,
        reusedMessages: 200,
        latencyMessages: 30,
        latencyWarmup: 5,
        floodGroups: 10,
        floodPerGroup: 50,
        summaryBatches: 10,
        summaryWaitMs: 200,
        summaryGapMs: 20
      }
    : {
        messageSize: 2048,
        sessions: 5,
        rounds: options.rounds ?? 3,
        newConnectionMessages: 5000,
        reusedMessages: 10_000,
        latencyMessages: 1000,
        latencyWarmup: 50,
        floodGroups: 100,
        floodPerGroup: 1000,
        summaryBatches: 200,
        summaryWaitMs: 1000,
        summaryGapMs: 20
      }
