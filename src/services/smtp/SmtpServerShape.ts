/**
 * For the modules that patch smtp-server (GreetAtOnce, LineDeadline): which
 * smtp-server is installed, and the error that stops the start when it is
 * not shaped as the pinned one a patch was written against.
 */
import { createRequire } from "node:module"

/** The installed smtp-server's version. */
export const installedVersion = (): string => {
  try {
    return (createRequire(import.meta.url)("smtp-server/package.json") as { version: string }).version
  } catch {
    return "(unknown version)"
  }
}

/** The error a patch throws instead of installing itself on an smtp-server it does not fit. */
export const notShapedAsPinned = (patchFile: string, problem: string): Error =>
  new Error(`smtp-server ${installedVersion()} is not shaped as the pinned version ${patchFile} patches: ${problem}`)
