/**
 * failmail's HTTP API, described with Schema as an @effect/platform
 * `HttpApi`: each endpoint's path, parameters, answer and errors (with
 * their HTTP status). The same description routes and decodes requests
 * (a bad request is 400 with the field named), encodes answers, and is
 * served as an OpenAPI 3.1 document at `/api/openapi.json`.
 *
 * One endpoint group per file in `src/domain/api/` (schemas, the pure
 * functions that build the answers, the endpoints), implemented by the
 * file of the same name in `src/services/http/` (the handlers, reading
 * services). To add a group: write both files and add the group here and
 * its handlers in `src/services/http/api/Api.ts`.
 *
 * Modules, not the "@effect/platform" index: the index also loads the
 * bundled Swagger/Scalar UIs (~35 MB resident).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as OpenApi from "@effect/platform/OpenApi"
import { BatchesApi } from "./Batches.ts"
import { ClusterApi } from "./Cluster.ts"
import { DigestsApi } from "./Digests.ts"
import { MessagesApi } from "./Messages.ts"
import { PreviewApi } from "./Preview.ts"
import { ExpectationsApi } from "./Expectations.ts"
import { OPEN_PATHS, ProbesApi } from "./Probes.ts"
import { SilencesApi } from "./Silences.ts"
import { StatsApi } from "./Stats.ts"
import { SummariesApi } from "./Summaries.ts"
import { VERSION } from "../settings/Version.ts"

/** Where the OpenAPI document is served. */
export const OPENAPI_PATH = "/api/openapi.json"

/**
 * Declares HTTP Basic in the OpenAPI document: every operation takes it
 * (or nothing, when failmail runs without `--credentials`), the probes
 * never need it.
 */
export const withBasicAuth = (spec: Record<string, any>): Record<string, any> => {
  // Each operation says `security: []` (none) unless told otherwise: the probes keep "none", the rest take the document's.
  const paths = Object.fromEntries(
    Object.entries(spec["paths"] as Record<string, Record<string, any>>).map(([path, operations]) => [
      path,
      Object.fromEntries(
        Object.entries(operations).map(([method, operation]) => {
          const { security: _none, ...rest } = operation as Record<string, any>
          return [method, OPEN_PATHS.has(path) ? { ...rest, security: [{}] } : rest]
        })
      )
    ])
  )
  return {
    ...spec,
    paths,
    components: {
      ...spec["components"],
      securitySchemes: {
        ...spec["components"]?.securitySchemes,
        basic: { type: "http", scheme: "basic", description: "Needed when failmail runs with --credentials" }
      }
    },
    security: [{ basic: [] }, {}]
  }
}

/** The whole API. */
export class FailmailApi extends HttpApi.make("failmail")
  .add(StatsApi)
  .add(BatchesApi)
  .add(MessagesApi)
  .add(SummariesApi)
  .add(ProbesApi)
  .add(PreviewApi)
  .add(SilencesApi)
  .add(ExpectationsApi)
  .add(DigestsApi)
  .add(ClusterApi)
  .annotateContext(
    OpenApi.annotations({
      title: "failmail",
      version: VERSION,
      description:
        "failmail's dashboard API. With --credentials every path but /healthz and /readyz needs HTTP Basic; " +
        "requests other than GET/HEAD from another site are refused (403).",
      transform: withBasicAuth
    })
  ) {}
