/**
 * A self-signed certificate for `localhost`, made at run time with the
 * machine's `openssl` (nothing secret is checked in). Made once per test
 * process and shared by every test in it.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "./tempdir.ts"

/** PEM files of a self-signed certificate and its private key. */
export interface TestCertificate {
  readonly dir: string
  readonly certFile: string
  readonly keyFile: string
  readonly cert: Buffer
  readonly key: Buffer
}

let made: TestCertificate | undefined

/** Whether `openssl` can be run here. */
export const hasOpenssl = (): boolean => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Makes (once per process) a self-signed `CN=localhost` certificate valid for one day, in a temp dir. */
export const selfSignedCertificate = (): TestCertificate => {
  if (made !== undefined) return made
  const dir = tempDir("failmail-cert-")
  const certFile = path.join(dir, "cert.pem")
  const keyFile = path.join(dir, "key.pem")
  execFileSync(
    "openssl",
    [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
      "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", keyFile, "-out", certFile
    ],
    { stdio: ["ignore", "ignore", "pipe"], timeout: 20_000 }
  )
  made = { dir, certFile, keyFile, cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }
  return made
}

/** Removes the certificate's temp dir (call from `afterAll`). */
export const removeCertificate = (): void => {
  if (made === undefined) return
  fs.rmSync(made.dir, { recursive: true, force: true })
  made = undefined
}
