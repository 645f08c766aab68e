/**
 * `--on` as colmena users know it. The cases of colmena's own node_filter.rs tests come first
 * (same nodes, same answers); then what nbs adds: an item that matches nothing is an error.
 */
import { describe, expect, it } from 'vitest'
import { globToRegExp, parseOn, selectHosts } from '../../../src/hosts/select.js'

// colmena's test_filter_node_configs nodes
const nodes = [
  { name: 'alpha', tags: ['web', 'infra-lax'] },
  { name: 'beta', tags: ['router', 'infra-sfo'] },
  { name: 'gamma-a', tags: ['controller'] },
  { name: 'gamma-b', tags: ['ewaste'] },
]
const names = (on: string) => selectHosts(nodes, on).map((h) => h.name)

describe('--on: colmena node_filter.rs cases', () => {
  it('matches tags with @, globs on tags, OR between items', () => {
    expect(names('@web')).toEqual(['alpha'])
    expect(names('@infra-*')).toEqual(['alpha', 'beta'])
    expect(names('@router,@controller')).toEqual(['beta', 'gamma-a'])
    expect(names('@router,gamma-*')).toEqual(['beta', 'gamma-a', 'gamma-b'])
  })

  it('matches names exactly and with globs', () => {
    const lax = [{ name: 'lax-alpha', tags: [] }, { name: 'lax-beta', tags: [] }, { name: 'sfo-gamma', tags: [] }]
    expect(selectHosts(lax, 'lax-alpha').map((h) => h.name)).toEqual(['lax-alpha'])
    expect(selectHosts(lax, 'lax-*').map((h) => h.name)).toEqual(['lax-alpha', 'lax-beta'])
  })

  it('trims whitespace around items and tells name items from tag items', () => {
    expect(parseOn('a, \t@b ,    c-*').map((i) => [i.kind, i.text])).toEqual([
      ['name', 'a'],
      ['tag', '@b'],
      ['name', 'c-*'],
    ])
    expect(names(' alpha ,\t@router ')).toEqual(['alpha', 'beta'])
  })

  it('refuses an empty item as colmena does (",", "a,,b", "a,b,c,")', () => {
    for (const on of [',', 'a,,b', 'a,b,c,']) expect(() => parseOn(on), on).toThrow(/an empty item/)
  })
})

describe('--on: glob patterns (Rust glob::Pattern, default options)', () => {
  const m = (glob: string, s: string) => globToRegExp(glob).test(s)
  it('* is any run, ? one character, both anchored', () => {
    expect(m('web-*', 'web-1')).toBe(true)
    expect(m('web-*', 'web-')).toBe(true)
    expect(m('web-*', 'aweb-1')).toBe(false)
    expect(m('*', 'anything.example.org')).toBe(true)
    expect(m('web-?', 'web-1')).toBe(true)
    expect(m('web-?', 'web-10')).toBe(false)
    expect(m('**', 'x-y')).toBe(true)
  })

  it('classes: [abc], ranges, [!…] negation, and ] first is literal', () => {
    expect(m('web-[12]', 'web-2')).toBe(true)
    expect(m('web-[12]', 'web-3')).toBe(false)
    expect(m('web-[0-9]', 'web-7')).toBe(true)
    expect(m('web-[!0-9]', 'web-7')).toBe(false)
    expect(m('web-[!0-9]', 'web-x')).toBe(true)
    expect(m('[]]', ']')).toBe(true)
    expect(m('[*]', '*')).toBe(true)
    expect(m('[*]', 'x')).toBe(false)
  })

  it('everything else is literal: dots, plus, parentheses; case-sensitive', () => {
    expect(m('demo.example', 'demo.example')).toBe(true)
    expect(m('demo.example', 'demoXexample')).toBe(false)
    expect(m('a+b(c)', 'a+b(c)')).toBe(true)
    expect(m('Web', 'web')).toBe(false)
  })

  it('an unclosed [ is an error naming the item', () => {
    expect(() => parseOn('web-[12')).toThrow(/--on web-\[12: "\[" without a closing "\]"/)
  })
})

describe('--on: what nbs adds', () => {
  it('keeps inventory order and lists a host once, whichever items match it', () => {
    expect(names('gamma-b,@web,alpha,*a')).toEqual(['alpha', 'beta', 'gamma-a', 'gamma-b'])
  })

  it('an item that matches nothing is exit 3, naming the item and what there is', () => {
    let error: unknown
    try {
      selectHosts(nodes, 'alpha,web-*')
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({ name: 'NbsError', exitCode: 3 })
    expect((error as Error).message).toBe('--on web-*: matches no host; hosts: alpha, beta, gamma-a, gamma-b')
    expect(() => selectHosts(nodes, '@db')).toThrow('--on @db: matches no tag; tags: @controller, @ewaste, @infra-lax, @infra-sfo, @router, @web')
  })

  it('a blank --on is an error, not an empty fleet', () => {
    expect(() => selectHosts(nodes, '  ')).toThrow(/--on is empty/)
  })

  it('shortens long lists of what there is', () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ name: `h${String(i).padStart(2, '0')}`, tags: [] }))
    expect(() => selectHosts(many, 'x')).toThrow(/h11, … \(18 more; see nbs hosts\)$/)
  })
})
