/**
 * Working with the secrets of the configuration (`--credentials`,
 * `--relay-password`), which stay `Redacted` until the one place that needs
 * their text: is one set, the user and password of `--credentials`, and a
 * comparison that takes as long whatever the guess.
 */
import { Redacted } from "effect"
import * as crypto from "node:crypto"

/** Whether a secret setting is set (its empty value means "not set"). */
export const isSet = (secret: Redacted.Redacted<string>): boolean => Redacted.value(secret) !== ""

/** `--credentials` (`user:password`, split at the first colon, so the password may hold more). */
export interface Credentials {
  readonly user: Redacted.Redacted<string>
  readonly password: Redacted.Redacted<string>
}

/** Splits `user:password` at its first colon (no colon: all of it is the user). */
export const credentialsOf = (credentials: Redacted.Redacted<string>): Credentials => {
  const text = Redacted.value(credentials)
  const separator = text.indexOf(":")
  return separator === -1
    ? { user: credentials, password: Redacted.make("") }
    : { user: Redacted.make(text.slice(0, separator)), password: Redacted.make(text.slice(separator + 1)) }
}

const digest = (text: string): Buffer => crypto.createHash("sha256").update(text).digest()

/** Whether `given` is the secret, in time that does not depend on where they differ (both are hashed first, so not on length either). */
export const sameSecret = (given: string, expected: Redacted.Redacted<string>): boolean =>
  crypto.timingSafeEqual(digest(given), digest(Redacted.value(expected)))
