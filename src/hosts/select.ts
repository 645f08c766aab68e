/**
 * `--on` as colmena reads it (src/nix/node_filter.rs): comma-separated items, whitespace around
 * each trimmed; `@pattern` matches a tag, anything else a name; items are OR'd. Patterns are
 * those of Rust's `glob::Pattern` with its default options: `*` any run of characters, `?` one,
 * `[abc]`, `[a-z]`, `[!abc]`, case-sensitive. Stricter than colmena on purpose: an empty item,
 * a blank `--on` and an item that matches nothing are errors (exit 3), not a smaller fleet.
 */
import { NbsError } from '../errors.js'
import type { Host } from './types.js'

export interface OnItem {
  /** the item as written (trimmed) */
  text: string
  kind: 'name' | 'tag'
  pattern: RegExp
}

/** Splits and compiles `--on`; throws NbsError naming the bad item. */
export function parseOn(on: string): OnItem[] {
  if (!on.trim()) throw new NbsError('--on is empty; give host names or @tags, comma-separated (e.g. --on "web-*,@db")')
  return on.split(',').map((raw) => {
    const text = raw.trim()
    if (!text) throw new NbsError(`--on ${JSON.stringify(on)}: an empty item; remove the extra comma`)
    const tag = text.startsWith('@')
    return { text, kind: tag ? 'tag' : 'name', pattern: globToRegExp(tag ? text.slice(1) : text, text) }
  })
}

/**
 * The hosts `--on` selects, in inventory order. Every item must match at least one host: a typo
 * is an error naming it and what there is, not a silently smaller fleet.
 */
export function selectHosts<H extends Pick<Host, 'name' | 'tags'>>(hosts: readonly H[], on: string): H[] {
  const items = parseOn(on)
  const matches = (item: OnItem, h: H) => (item.kind === 'name' ? item.pattern.test(h.name) : h.tags.some((t) => item.pattern.test(t)))
  for (const item of items) {
    if (!hosts.some((h) => matches(item, h))) throw new NbsError(`--on ${item.text}: matches no ${item.kind === 'tag' ? 'tag' : 'host'}; ${available(hosts, item.kind)}`)
  }
  return hosts.filter((h) => items.some((item) => matches(item, h)))
}

function available(hosts: readonly Pick<Host, 'name' | 'tags'>[], kind: OnItem['kind']): string {
  const list = kind === 'tag' ? [...new Set(hosts.flatMap((h) => h.tags))].sort() : hosts.map((h) => h.name)
  if (!list.length) return kind === 'tag' ? 'no host has tags' : 'the inventory is empty'
  const shown = list.slice(0, 12).map((x) => (kind === 'tag' ? `@${x}` : x)).join(', ')
  return `${kind === 'tag' ? 'tags' : 'hosts'}: ${shown}${list.length > 12 ? `, … (${list.length - 12} more; see nbs hosts)` : ''}`
}

/** A glob as Rust's glob::Pattern reads it, anchored; `item` names it in errors. */
export function globToRegExp(glob: string, item = glob): RegExp {
  let out = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*') {
      // `**` means any run of characters too (names hold no path separators)
      while (glob[i + 1] === '*') i++
      out += '.*'
    } else if (c === '?') out += '.'
    else if (c === '[') {
      const end = classEnd(glob, i)
      if (end < 0) throw new NbsError(`--on ${item}: "[" without a closing "]"; write [[] for a literal [`)
      let body = glob.slice(i + 1, end)
      const negate = body.startsWith('!')
      if (negate) body = body.slice(1)
      out += `[${negate ? '^' : ''}${classBody(body)}]`
      i = end
    } else out += escape(c)
  }
  try {
    return new RegExp(`^${out}$`, 'u')
  } catch {
    throw new NbsError(`--on ${item}: not a valid pattern (a range written backwards?)`)
  }
}

/** Index of the `]` closing the class opened at `start`; a `]` right after `[` or `[!` is literal. */
function classEnd(glob: string, start: number): number {
  let j = start + 1
  if (glob[j] === '!') j++
  if (glob[j] === ']') j++
  for (; j < glob.length; j++) if (glob[j] === ']') return j
  return -1
}

/** A class body: ranges `a-z` kept, every other character literal. */
function classBody(body: string): string {
  let out = ''
  for (let k = 0; k < body.length; k++) {
    const c = body[k]!
    if (body[k + 1] === '-' && k + 2 < body.length) {
      out += `${escapeClass(c)}-${escapeClass(body[k + 2]!)}`
      k += 2
    } else out += escapeClass(c)
  }
  return out
}

function escape(c: string): string {
  return /[\\^$.|?*+()[\]{}\/]/.test(c) ? `\\${c}` : c
}

function escapeClass(c: string): string {
  return /[\\\]\[^\-]/.test(c) ? `\\${c}` : c
}
