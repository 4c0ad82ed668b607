/**
 * What monitoring asks: `GET /healthz` (liveness: 200 while the SMTP
 * listener listens), `GET /readyz` (readiness: 200 while mail sent now
 * would be stored, 503 otherwise; both never behind credentials, both say
 * `smtp` and `spool`) and `GET /metrics` (Prometheus exposition).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { answer } from "./Errors.ts"

const healthFields = { smtp: Schema.Boolean, spool: Schema.Boolean }

/** All is well (200). */
export const Healthy = Schema.Struct({ status: Schema.Literal("ok"), ...healthFields }).annotations({ identifier: "Healthy" })

/** The SMTP listener or the spool is not healthy (503). */
export class Unhealthy extends Schema.TaggedError<Unhealthy>()(
  "Unhealthy",
  { status: Schema.Literal("unavailable"), ...healthFields },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** Prometheus' text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

/** The paths open without credentials. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz"])

/** The `probes` endpoint group. */
export class ProbesApi extends HttpApiGroup.make("probes")
  .add(
    HttpApiEndpoint.get("healthz", "/healthz")
      .addSuccess(Healthy)
      .addError(answer(Unhealthy))
      .annotate(OpenApi.Summary, "Liveness: 503 only when the SMTP listener is down; `spool` is reported, not checked (open without credentials)")
  )
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(Healthy)
      .addError(answer(Unhealthy))
      .annotate(
        OpenApi.Summary,
        "Readiness: 503 when the SMTP listener is down, the spool's probe write fails, or more than half of the messages of the last 10 s could not be stored (open without credentials)"
      )
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: PROMETHEUS_CONTENT_TYPE }).annotations({ description: "Prometheus text exposition" }))
      .annotate(OpenApi.Summary, "Prometheus metrics")
  ) {}
