/**
 * Field schemas several endpoint groups share, so each is described once.
 */
import { Schema } from "effect"

/** A point in time as the API writes it. */
export const Time = Schema.String.annotations({ description: "RFC 3339, UTC" })

/** A batch key; the default batch's key is the empty string. */
export const BatchKey = Schema.String.annotations({ description: "the batch key (the default batch's key is the empty string)" })

/** The batch key an endpoint names, in its path (`{key}`, URL-encoded) or its query (`?key=`, which also reaches the default batch). */
export const BatchKeyParam = Schema.Struct({ key: BatchKey })
