/**
 * Command-line flags for the bench programs: `--flag value` and
 * `--flag=value` alike.
 */

/** What one flag does with its value; `value()` reads the value (from `=` or the next argument). */
export type FlagHandler = (value: () => string) => void

/**
 * Hands each flag in `argv` to its handler. A flag given no value when its
 * handler asks for one, or a flag with no handler, is an error that shows
 * `usage`; `--help` and `-h` print `usage` and exit 0.
 */
export const readFlags = (argv: ReadonlyArray<string>, usage: string, handlers: Readonly<Record<string, FlagHandler>>): void => {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined]
    const value = () => {
      const v = inline ?? argv[++i]
      if (v === undefined) throw new Error(`${flag} needs a value\n${usage}`)
      return v
    }
    if (Object.hasOwn(handlers, flag)) {
      ;(handlers[flag] as FlagHandler)(value)
    } else if (flag === "--help" || flag === "-h") {
      console.log(usage)
      process.exit(0)
    } else {
      throw new Error(`unknown argument ${arg}\n${usage}`)
    }
  }
}
