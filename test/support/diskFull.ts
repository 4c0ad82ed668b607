/**
 * A full disk, for real: the soft file-size limit (RLIMIT_FSIZE) of a
 * process set to 0, so every write that would grow a regular file fails
 * (EFBIG; Node ignores SIGXFSZ) as it would with ENOSPC, through file
 * descriptors already open too — which replacing a directory by a file
 * does not break. Any user may lower and raise its own soft limit (up to
 * the hard one), so no root is needed. Pipes and sockets are not affected.
 */
import { execFileSync } from "node:child_process"

const setSoftLimit = (pid: number, limit: string) => execFileSync("prlimit", ["--pid", String(pid), `--fsize=${limit}:`])

/** From now on, `pid` (this process by default) cannot grow any file. */
export const fillDisk = (pid: number = process.pid): void => void setSoftLimit(pid, "0")

/** From now on, `pid` cannot grow any file past `bytes`: a tiny file (a health probe's) is written, a message bigger than that is not. */
export const nearlyFillDisk = (bytes: number, pid: number = process.pid): void => void setSoftLimit(pid, String(bytes))

/** Undoes {@link fillDisk}. */
export const freeDisk = (pid: number = process.pid): void => void setSoftLimit(pid, "unlimited")
