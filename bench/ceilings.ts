/**
 * Physical ceilings measured in the same run as failmail, each in its own
 * process: the pinned SMTP listener doing nothing (bare-listener.ts) and the
 * cheapest durable write on the spool's disk (disk-ceiling.ts).
 */
import { execFile, spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { promisify } from "node:util"
import type { Sink } from "./postfix-tools.ts"
import { track, waitExit, withTimeout } from "./util.ts"

const compiled = (root: string, name: string) => path.join(root, "dist-bench", "bench", `${name}.js`)

/** Starts smtp-server with no storage behind it; its rate is the most failmail's listener allows. */
export const startBareListener = async (root: string): Promise<Sink> => {
  const child = track(spawn(process.execPath, [compiled(root, "bare-listener")], { stdio: ["ignore", "pipe", "inherit"] }))
  const lines = readline.createInterface({ input: child.stdout! })
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      lines.once("line", (line) => resolve(Number(/^listening (\d+)$/.exec(line)?.[1] ?? Number.NaN)))
      child.once("exit", (code) => reject(new Error(`bare smtp-server exited (${code})`)))
    }),
    10_000,
    "bare smtp-server start"
  )
  return {
    port,
    label: "bare smtp-server",
    close: async () => {
      child.kill("SIGTERM")
      await waitExit(child, 2000)
    }
  }
}

/** What the disk allows: durable records per second for `writers` writers that each wait for their own. */
export interface DiskCeiling {
  readonly rate: number
  readonly records: number
  readonly commits: number
  readonly writers: number
}

/** Measures the disk ceiling in `dir` (on the spool's file system) for `seconds`. */
export const measureDisk = async (root: string, dir: string, writers: number, bytes: number, seconds: number): Promise<DiskCeiling> => {
  const { stdout } = await promisify(execFile)(process.execPath, [
    compiled(root, "disk-ceiling"),
    dir,
    String(writers),
    String(seconds),
    String(bytes)
  ])
  return JSON.parse(stdout) as DiskCeiling
}
