import { defineCheck } from 'nixos-build-status'

// The declarative form: a command and what its output must show.
export default [
  defineCheck({
    id: 'git-available',
    title: 'git is installed',
    phase: 'pre-build',
    tags: ['tools'],
    command: ['git', '--version'],
    expect: { stdout: { matches: '^git version \\d+\\.\\d+' } },
  }),
  defineCheck({
    id: 'repo-is-git',
    title: 'the project is a git work tree',
    phase: 'pre-build',
    needs: ['git-available'],
    tags: ['tools'],
    command: ['git', 'rev-parse', '--is-inside-work-tree'],
    expect: { stdout: { contains: 'true' } },
  }),
]
