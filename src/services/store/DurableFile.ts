/**
 * A whole file written durably: a temporary file opened with O_DSYNC (each
 * write returns once its data is on disk, as write + fdatasync), then
 * renamed into place. Used by the state documents and the store's health
 * probe; the caller syncs the directory when the rename must survive a crash.
 */
import * as fsCallback from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"

const open = promisify(fsCallback.open)
const writev = promisify(fsCallback.writev)
const close = promisify(fsCallback.close)
const rename = promisify(fsCallback.rename)
const unlink = promisify(fsCallback.unlink)
const mkdir = promisify(fsCallback.mkdir)
const stat = promisify(fsCallback.stat)

const codeOf = (error: unknown) => (error as NodeJS.ErrnoException).code

/**
 * `mkdir -p`: makes `dir` and its missing parents. Unlike Node 20's
 * recursive `mkdir`, which loops for ever where a parent exists but refuses
 * any child (procfs), it fails with the error of the first directory that
 * cannot be made.
 */
export const makeDirectories = async (dir: string, mode = 0o700): Promise<void> => {
  try {
    return await mkdir(dir, { mode })
  } catch (error) {
    if (codeOf(error) === "EEXIST" && (await stat(dir)).isDirectory()) return
    const parent = path.dirname(dir)
    if (codeOf(error) !== "ENOENT" || parent === dir) throw error
  }
  await makeDirectories(path.dirname(dir), mode)
  await mkdir(dir, { mode }).catch((error: unknown) => {
    if (codeOf(error) !== "EEXIST") throw error
  })
}

/** A new file, written with O_DSYNC. */
const CREATE_DURABLE =
  fsCallback.constants.O_WRONLY | fsCallback.constants.O_CREAT | fsCallback.constants.O_EXCL | fsCallback.constants.O_DSYNC

/** Removes a file that a failed write left behind; one already gone (or never made) is fine. */
export const removeQuietly = (file: string): Promise<void> => unlink(file).catch(() => undefined)

/**
 * Writes a new file durably (O_DSYNC) under `tmpPath` and renames it to
 * `finalPath`; the close and the rename go together, as the data is on disk
 * once the write returned.
 */
export const writeDurably = async (tmpPath: string, finalPath: string, chunks: Array<Uint8Array>) => {
  const fd = await open(tmpPath, CREATE_DURABLE, 0o600)
  try {
    const expected = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0)
    const { bytesWritten } = await writev(fd, chunks)
    // A full disk can end a write short without an error: never take a truncated file for a whole one.
    if (bytesWritten !== expected) throw new Error(`short write (${bytesWritten} of ${expected} bytes)`)
  } catch (error) {
    await close(fd).catch(() => undefined)
    await removeQuietly(tmpPath)
    throw error
  }
  const [closed, renamed] = await Promise.allSettled([close(fd), rename(tmpPath, finalPath)])
  if (renamed.status === "rejected") {
    await removeQuietly(tmpPath)
    throw renamed.reason
  }
  if (closed.status === "rejected") {
    await removeQuietly(finalPath)
    throw closed.reason
  }
}
