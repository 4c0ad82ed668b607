/** What every scenario gets: options, sizes, the shared null sink and the load generator. */
import * as path from "node:path"
import { Failmail, type FailmailOptions } from "./failmail.ts"
import { runNodeLoad } from "./loadgen.ts"
import type { Options, Sizes } from "./options.ts"
import { runSmtpSource, smtpSourcePath, type Sink, type SourceLoad } from "./postfix-tools.ts"

export interface Context {
  readonly root: string
  readonly options: Options
  readonly sizes: Sizes
  /** The null sink: physical reference for throughput and failmail's upstream when nothing is recorded. */
  readonly sink: Sink
  /** Runs one load (smtp-source, or the Node generator); resolves with the wall-clock ms it took. */
  readonly load: (load: SourceLoad) => Promise<number>
  readonly loadLabel: string
  /** Starts failmail (with profiling flags when --profile is given). */
  readonly startFailmail: (options: Omit<FailmailOptions, "root" | "nodeArgs">) => Promise<Failmail>
  /** Starts a failmail that holds every message (windows of hours) and would relay to the null sink: the ingest scenarios. */
  readonly startHolding: (label: string, dir?: string) => Promise<Failmail>
  /** How to stop a failmail when done: SIGKILL, or SIGTERM when profiling (so the profile is written). */
  readonly stopHow: "kill" | "term"
  readonly log: (message: string) => void
}

export const makeContext = (root: string, options: Options, sizes: Sizes, sink: Sink): Context => {
  const useSource = smtpSourcePath !== undefined && !options.nodeLoad
  const profileDir = options.profileDir === undefined ? undefined : path.resolve(options.profileDir)
  const startFailmail: Context["startFailmail"] = (failmailOptions) =>
    Failmail.start({
      ...failmailOptions,
      root,
      nodeArgs: [
        ...options.nodeOptions,
        ...(profileDir === undefined
          ? []
          : [
              "--cpu-prof",
              `--cpu-prof-dir=${profileDir}`,
              `--cpu-prof-name=failmail-${failmailOptions.label}.cpuprofile`,
              "--heapsnapshot-signal=SIGUSR2"
            ])
      ]
    })
  return {
    root,
    options,
    sizes,
    sink,
    load: useSource ? runSmtpSource : runNodeLoad,
    loadLabel: useSource ? "smtp-source" : "Node load generator",
    startFailmail,
    startHolding: (label, dir) =>
      startFailmail({ label, ...(dir === undefined ? {} : { dir }), relayAddr: `127.0.0.1:${sink.port}`, waitPeriod: "1h", maxWait: "2h", logLevel: "info" }),
    stopHow: profileDir === undefined ? "kill" : "term",
    log: (message) => process.stderr.write(`bench: ${message}\n`)
  }
}
