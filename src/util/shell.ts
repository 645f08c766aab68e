/** One argument as a POSIX shell word: bare when plain, else single-quoted (a `'` as `'\''`). */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./#-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`
}
