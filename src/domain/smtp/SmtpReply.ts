/**
 * An SMTP reply as smtp-server's handlers take it: an `Error` whose message
 * is the reply text and whose `responseCode` is the reply code.
 */

/** The reply `code text`, to pass to an smtp-server handler's callback. */
export const smtpReply = (code: number, text: string): Error & { readonly responseCode: number } =>
  Object.assign(new Error(text), { responseCode: code })
