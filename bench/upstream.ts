/**
 * Starts the recording upstream (`recorder.ts`, compiled next to this file:
 * the tests' upstream in a process of its own) as a child process and
 * collects what it accepted.
 */
import { spawn } from "node:child_process"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { pollUntil, track, waitExit } from "./util.ts"

/** One message the upstream accepted. */
export interface Accepted {
  /** `Date.now()` just before the upstream's 250. */
  readonly at: number
  readonly batch: string
  readonly messages: number
  readonly groups: number
  readonly bytes: number
}

export interface Recorder {
  readonly port: number
  readonly address: string
  readonly label: string
  readonly accepted: Array<Accepted>
  /** Waits until `count` messages were accepted, at most `timeoutMs` (then resolves with what there is). */
  readonly waitFor: (count: number, timeoutMs: number) => Promise<ReadonlyArray<Accepted>>
  readonly close: () => Promise<void>
}

/** Starts a recording upstream (or, with `quiet`, a Node null sink), answering DATA `delayMs` late. */
export const startRecorder = async (options: { readonly quiet?: boolean; readonly delayMs?: number } = {}): Promise<Recorder> => {
  const script = fileURLToPath(new URL("./recorder.js", import.meta.url))
  const args = [...(options.quiet === true ? ["--null"] : []), ...(options.delayMs ? [`--delay-ms=${Math.round(options.delayMs)}`] : [])]
  const child = track(
    spawn(process.execPath, [script, ...args], {
      stdio: ["pipe", "pipe", "inherit"]
    })
  )
  const accepted: Array<Accepted> = []
  let port = 0
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    const record = JSON.parse(line) as Accepted | { listening: number }
    if ("listening" in record) port = record.listening
    else accepted.push(record)
  })
  await pollUntil(
    "recording upstream",
    () => {
      if (child.exitCode !== null) throw new Error("the recording upstream exited")
      return port > 0 ? port : undefined
    },
    15_000,
    10
  )
  return {
    port,
    address: `127.0.0.1:${port}`,
    label: options.quiet === true ? "node null sink" : "recording upstream",
    accepted,
    waitFor: async (count, timeoutMs) => {
      await pollUntil("deliveries", () => (accepted.length >= count ? true : undefined), timeoutMs, 5).catch(() => undefined)
      return accepted
    },
    close: async () => {
      child.kill("SIGTERM")
      await waitExit(child, 3000)
    }
  }
}
