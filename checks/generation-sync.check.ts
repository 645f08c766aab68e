import { compareRevision, defineCheck, getCurrentCommit, getCurrentGeneration, getHomeManagerGeneration, isNixOSRoot, readNixosVersion, rebootNeeded, z } from 'nbs'

// The running system is the newest generation and was built from the flake's checkout.
export default defineCheck({
  id: 'generation-sync',
  title: 'the running system is the newest generation, built from the flake HEAD',
  phase: 'post-build',
  // uses flake-eval's out path when the configuration records no git revision, but runs without it
  after: ['flake-eval'],
  tags: ['nixos'],
  timeout: '1m',
  options: z.object({
    user: z.string().optional().describe('whose Home Manager generation to report (default: the current user)'),
  }),
  async run(ctx) {
    const nixos = await isNixOSRoot(ctx.root)
    if (!nixos.isNixOS) ctx.skip(nixos.reason ?? `${ctx.root} is not a NixOS root`)
    const gen = await getCurrentGeneration({ root: ctx.root })
    if (!gen.current) ctx.skip(`${ctx.root === '/' ? '' : ctx.root}/run/current-system does not exist: no running system to compare`)
    const [version, commit, reboot] = await Promise.all([
      readNixosVersion({ root: ctx.root, exec: ctx.exec }),
      getCurrentCommit({ exec: ctx.exec, flake: ctx.flake }),
      rebootNeeded({ root: ctx.root }),
    ])
    const evaluated = ctx.needs['flake-eval']?.data as { outPath?: string } | undefined
    const revision = compareRevision({
      configurationRevision: version.configurationRevision,
      commit,
      currentPath: gen.current.path,
      evaluatedToplevel: evaluated?.outPath,
    })
    const user = ctx.options.user ?? process.env.USER
    const homeManager = user ? await getHomeManagerGeneration({ root: ctx.root, user }) : null
    const details = { generation: gen, revision, nixos: version, rebootNeeded: reboot, homeManager, commit }
    const running = gen.current.number === undefined ? gen.current.path : `generation ${gen.current.number}`
    const problems: string[] = []
    if (!gen.inSync) problems.push(`running ${running}, but generation ${gen.newest?.number} is newer`)
    if (revision.status === 'out-of-sync') problems.push(revision.message)
    const notes = [
      revision.status === 'unknown' ? revision.message : '',
      reboot.needed ? `reboot needed: ${reboot.differs.join(', ')} differ from the booted system` : '',
      homeManager ? `home-manager generation ${homeManager.number}` : '',
    ].filter(Boolean)
    if (problems.length) ctx.fail([...problems, ...notes].join('; '), details)
    return { message: [`${running} (newest), ${revision.message}`, ...notes].join('; '), details }
  },
})
