/** failmail's version, printed by `--version` and shown on the dashboard (kept equal to package.json by a test). */
export const VERSION = "0.1.0"
