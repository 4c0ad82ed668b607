/**
 * Wrappers around postfix's load tools: `smtp-sink` (a null SMTP server in
 * C, the physical reference and the throughput upstream) and `smtp-source`
 * (the load generator). Both are optional: without them the harness falls
 * back to the Node load generator and the Node null sink.
 */
import { spawn } from "node:child_process"
import { freePort, greets, now, pollUntil, track, waitExit, which } from "./util.ts"

export const smtpSourcePath = which("smtp-source")
export const smtpSinkPath = which("smtp-sink")

export interface Sink {
  readonly port: number
  readonly label: string
  readonly close: () => Promise<void>
}

/** Starts `smtp-sink` on a free 127.0.0.1 port (tries a few ports if one is taken meanwhile). */
export const startSmtpSink = async (): Promise<Sink> => {
  if (smtpSinkPath === undefined) throw new Error("smtp-sink is not installed")
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    // -u is required when running as root; as another user it must not be given.
    const args = [...(process.getuid?.() === 0 ? ["-u", "nobody"] : []), `127.0.0.1:${port}`, "256"]
    const child = track(spawn(smtpSinkPath, args, { stdio: ["ignore", "ignore", "pipe"] }))
    let stderr = ""
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    try {
      await pollUntil(
        "smtp-sink greeting",
        async () => {
          if (child.exitCode !== null) throw new Error(`smtp-sink exited: ${stderr.trim()}`)
          return (await greets(port, 500)) ? true : undefined
        },
        5000,
        20
      )
      return {
        port,
        label: "smtp-sink",
        close: async () => {
          child.kill("SIGTERM")
          await waitExit(child, 2000)
        }
      }
    } catch (error) {
      lastError = error
      child.kill("SIGKILL")
    }
  }
  throw lastError
}

export interface SourceLoad {
  readonly port: number
  readonly sessions: number
  readonly messages: number
  /** Message length in bytes (`-l`). */
  readonly size: number
  /** Keep connections open across messages (`-d`). */
  readonly reuse: boolean
  readonly subject?: string
  readonly timeoutMs: number
}

/** Runs `smtp-source` once; resolves with the wall-clock time it took (ms). */
export const runSmtpSource = async (load: SourceLoad): Promise<number> => {
  if (smtpSourcePath === undefined) throw new Error("smtp-source is not installed")
  const args = [
    ...(load.reuse ? ["-d"] : []),
    "-s",
    String(load.sessions),
    "-l",
    String(load.size),
    "-m",
    String(load.messages),
    "-f",
    "app@bench.localhost",
    "-t",
    "ops@bench.localhost",
    ...(load.subject === undefined ? [] : ["-S", load.subject]),
    `127.0.0.1:${load.port}`
  ]
  const started = now()
  const child = track(spawn(smtpSourcePath, args, { stdio: ["ignore", "ignore", "pipe"] }))
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await waitExit(child, load.timeoutMs)
  const elapsed = now() - started
  if (code !== 0) throw new Error(`smtp-source ${args.join(" ")}: exit ${code}: ${stderr.trim().slice(0, 500)}`)
  // smtp-source reports refused transactions on stderr but may still exit 0.
  if (/error|fatal/i.test(stderr)) throw new Error(`smtp-source: ${stderr.trim().slice(0, 500)}`)
  return elapsed
}
