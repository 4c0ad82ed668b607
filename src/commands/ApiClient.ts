/**
 * `failmail silence …` and `failmail expect …`: a running failmail's
 * silences and expectations from the command line, through its HTTP API
 * (`/api/silences`, `/api/expectations`), as `amtool` manages
 * Alertmanager's. Exit 0 when done, 1 when the failmail cannot be reached or
 * refuses (the URL and its answer on stderr), 2 for a bad argument.
 *
 * Plain Node, nothing of the daemon loaded: an operator's shell (or a
 * deploy script silencing a host while it reboots) should not wait for it.
 * Credentials come from `$FAILMAIL_CREDENTIALS` or `--credentials-file`,
 * never from an argument, which `ps` would show to every user.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as os from "node:os"
import * as Either from "effect/Either"
import type { ExpectationOut } from "../domain/api/Expectations.ts"
import type { SilenceOut } from "../domain/api/Silences.ts"
import { parse, usage, type Action, type Connection, type Noun } from "../domain/cli/ApiCommand.ts"
import { describeAnswer, expectationsTable, silencesTable } from "../domain/cli/ApiOutput.ts"

/** Why the command stops, and its exit status. */
class Failure extends Error {
  constructor(
    readonly status: 1 | 2,
    message: string
  ) {
    super(message)
  }
}

/** An HTTP answer. */
interface Answer {
  readonly status: number
  readonly statusText: string
  readonly body: string
}

/** The login name, the default `--author`. */
const loginName = (env: Readonly<Record<string, string | undefined>>): string => {
  try {
    return os.userInfo().username
  } catch {
    return env["LOGNAME"] ?? env["USER"] ?? ""
  }
}

/** `user:password`, from `--credentials-file` (its first line) or `$FAILMAIL_CREDENTIALS`; empty when neither. */
const credentialsOf = (connection: Connection, env: Readonly<Record<string, string | undefined>>): string => {
  if (connection.credentialsFile === undefined) return env["FAILMAIL_CREDENTIALS"] ?? ""
  try {
    return (fs.readFileSync(connection.credentialsFile, "utf8").split(/\r?\n/)[0] ?? "").trim()
  } catch (error) {
    throw new Failure(2, `--credentials-file ${connection.credentialsFile}: ${(error as Error).message}`)
  }
}

/** One request to the failmail; a connection that fails or an answer that does not come in time is a {@link Failure}. */
const request = (connection: Connection, credentials: string, method: string, path: string, body?: unknown): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const url = `${connection.url}${path}`
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string> = { accept: "application/json" }
    if (payload !== undefined) headers["content-type"] = "application/json"
    if (credentials !== "") headers["authorization"] = `Basic ${Buffer.from(credentials, "utf8").toString("base64")}`
    const client = url.startsWith("https:") ? https : http
    const outgoing = client.request(url, { method, headers }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("error", (error) => reject(new Failure(1, `cannot read the answer of ${url}: ${error.message}`)))
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? "", body: Buffer.concat(chunks).toString("utf8") })
      )
    })
    outgoing.setTimeout(connection.timeoutMs, () => outgoing.destroy(new Error(`no answer within ${connection.timeoutMs / 1000}s`)))
    outgoing.on("error", (error) => reject(new Failure(1, `cannot reach ${url}: ${error.message}`)))
    outgoing.end(payload)
  })

/** The answer's JSON when it is a success; a {@link Failure} naming the URL and the answer otherwise. */
const expectSuccess = (connection: Connection, path: string, answer: Answer): unknown => {
  const url = `${connection.url}${path}`
  if (answer.status < 200 || answer.status > 299) {
    const hint = answer.status === 401 ? " (set FAILMAIL_CREDENTIALS or --credentials-file to the failmail's --credentials)" : ""
    throw new Failure(1, `${url} answered ${describeAnswer(answer.status, answer.statusText, answer.body)}${hint}`)
  }
  try {
    return JSON.parse(answer.body)
  } catch {
    throw new Failure(1, `${url} answered ${answer.status} with something other than JSON: is this a failmail's --bind-http?`)
  }
}

const PATHS: Readonly<Record<Noun, string>> = { silence: "/api/silences", expect: "/api/expectations" }

/** Runs one action; what to print on stdout. */
const run = async (action: Exclude<Action, { _tag: "Help" }>, connection: Connection, credentials: string): Promise<string> => {
  const call = async (method: string, path: string, body?: unknown) =>
    expectSuccess(connection, path, await request(connection, credentials, method, path, body))
  const json = connection.output === "json"
  switch (action._tag) {
    case "List": {
      const list = await call("GET", PATHS[action.noun])
      if (json) return `${JSON.stringify(list, null, 2)}\n`
      return action.noun === "silence" ? silencesTable(list as ReadonlyArray<SilenceOut>) : expectationsTable(list as ReadonlyArray<ExpectationOut>)
    }
    case "AddSilence":
    case "AddExpectation": {
      const created = (await call("POST", PATHS[action._tag === "AddSilence" ? "silence" : "expect"], action.body)) as { readonly id: string }
      return json ? `${JSON.stringify(created)}\n` : `${created.id}\n`
    }
    case "Remove": {
      const answers: Array<unknown> = []
      for (const id of action.ids) answers.push(await call("DELETE", `${PATHS[action.noun]}/${encodeURIComponent(id)}`))
      return json ? `${JSON.stringify(answers, null, 2)}\n` : ""
    }
  }
}

/** Runs `failmail <noun> args…`; resolves to the exit status once everything is written. */
export const apiCommand = async (noun: Noun, args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Promise<number> => {
  const write = (stream: NodeJS.WriteStream, text: string) => new Promise<void>((resolve) => (text === "" ? resolve() : stream.write(text, () => resolve())))
  const parsed = parse(noun, args, env, loginName(env))
  if (Either.isLeft(parsed)) {
    await write(process.stderr, `failmail ${noun}: ${parsed.left}\n`)
    return 2
  }
  const { connection, action } = parsed.right
  if (action._tag === "Help") {
    await write(process.stdout, usage[noun])
    return 0
  }
  try {
    await write(process.stdout, await run(action, connection, credentialsOf(connection, env)))
    return 0
  } catch (error) {
    if (!(error instanceof Failure)) throw error
    await write(process.stderr, `failmail ${noun} ${args[0] ?? ""}: ${error.message}\n`)
    return error.status
  }
}
