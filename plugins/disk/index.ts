import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { defineCheck, definePlugin, z, type CheckContext } from 'nixos-build-status'

/**
 * disk: free space and free inodes on / and /nix/store against thresholds, and how much a garbage
 * collection would free (information, never a failure). Options in nbs.config.ts:
 *   plugins: [['./plugins/disk', { minFreePercent: 15, paths: ['/', '/nix/store', '/var'] }]]
 */
const options = z.object({
  minFreePercent: z.number().min(0).max(100).default(10),
  minFreeInodesPercent: z.number().min(0).max(100).default(10),
  paths: z.array(z.string().startsWith('/')).min(1).default(['/', '/nix/store']),
})
type DiskOptions = z.output<typeof options>

interface Usage {
  path: string
  mount: string
  freePercent: number
  freeBytes: number
  freeInodesPercent: number | null
}

const gib = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`)

/** One `df` for every path (under --root), parsed from its fixed columns. */
async function usage(ctx: CheckContext<unknown>): Promise<Usage[]> {
  const { paths } = ctx.pluginOptions as DiskOptions
  const present = paths.filter((p) => existsSync(join(ctx.root, p)))
  if (present.length === 0) ctx.skip(`none of ${paths.join(', ')} exists under ${ctx.root}`)
  const df = await ctx.exec('df', ['-B1', '--output=target,size,avail,itotal,iavail', ...present.map((p) => join(ctx.root, p))])
  if (df.exitCode !== 0) ctx.fail(`df failed: ${df.stderr.text.trim()}`)
  return df.stdout.text
    .trim()
    .split('\n')
    .slice(1)
    .map((line, i) => {
      const [mount, size, avail, itotal, iavail] = line.trim().split(/\s+/)
      const inodes = Number(itotal)
      return {
        path: present[i]!,
        mount: mount!,
        freeBytes: Number(avail),
        freePercent: Math.round((Number(avail) / Number(size)) * 1000) / 10,
        // some filesystems (btrfs, zfs) report no inode limit
        freeInodesPercent: inodes > 0 ? Math.round((Number(iavail) / inodes) * 1000) / 10 : null,
      }
    })
}

const freeSpace = defineCheck({
  id: 'free-space',
  title: 'enough free space on / and /nix/store',
  phase: 'pre-build',
  tags: ['disk'],
  async run(ctx) {
    const { minFreePercent } = ctx.pluginOptions as DiskOptions
    const all = await usage(ctx)
    const low = all.filter((u) => u.freePercent < minFreePercent)
    const text = (u: Usage) => `${u.path} ${u.freePercent}% free (${gib(u.freeBytes)})`
    if (low.length) ctx.fail(`${low.map(text).join(', ')}; want at least ${minFreePercent}%`, { usage: all })
    return { message: all.map(text).join(', '), details: { usage: all } }
  },
})

const freeInodes = defineCheck({
  id: 'free-inodes',
  title: 'enough free inodes on / and /nix/store',
  phase: 'pre-build',
  tags: ['disk'],
  async run(ctx) {
    const { minFreeInodesPercent } = ctx.pluginOptions as DiskOptions
    const all = (await usage(ctx)).filter((u) => u.freeInodesPercent !== null)
    if (all.length === 0) ctx.skip('these filesystems have no inode limit')
    const low = all.filter((u) => u.freeInodesPercent! < minFreeInodesPercent)
    const text = (u: Usage) => `${u.path} ${u.freeInodesPercent}% inodes free`
    if (low.length) ctx.fail(`${low.map(text).join(', ')}; want at least ${minFreeInodesPercent}%`, { usage: all })
    return { message: all.map(text).join(', '), details: { usage: all } }
  },
})

const gcDead = defineCheck({
  id: 'gc-dead',
  title: 'what a nix-collect-garbage would free (information)',
  phase: 'health',
  tags: ['disk', 'nix'],
  timeout: '5m',
  async run(ctx) {
    if (ctx.root !== '/') ctx.skip('only on the running system: the garbage collector reads the live store')
    const dead = await ctx.exec('nix-store', ['--gc', '--print-dead'], { maxOutputBytes: 64 * 2 ** 20 })
    if (dead.notFound) ctx.skip('nix-store is not on PATH')
    if (dead.exitCode !== 0) ctx.fail(`nix-store --gc --print-dead failed: ${dead.stderr.text.trim().split('\n').pop()}`)
    const paths = dead.stdout.text.split('\n').filter((p) => p.startsWith('/nix/store/'))
    let bytes = 0
    // du in batches: thousands of paths would overflow one argv
    for (let i = 0; i < paths.length; i += 500) {
      const du = await ctx.exec('du', ['-scB1', ...paths.slice(i, i + 500)])
      bytes += Number(/^(\d+)\s+total$/m.exec(du.stdout.text)?.[1] ?? 0)
    }
    return { message: `${paths.length} dead store paths, ${gib(bytes)} to free`, details: { deadPaths: paths.length, bytes } }
  },
})

export default definePlugin({
  name: 'disk',
  options,
  checks: [freeSpace, freeInodes, gcDead],
})
