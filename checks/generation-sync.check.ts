import { compareRevision, defaultUser, defineCheck, describeHomeManager, envStateHome, getCurrentCommit, getCurrentGeneration, getHomeManagerState, readNixosVersion, rebootNeeded, z } from 'nixos-build-status'

// What runs is what the system profile points to (a rollback counts, a specialisation of that
// generation counts), and the flake still says so: its evaluated toplevel, else the git revision
// the configuration recorded.
export default defineCheck({
  id: 'generation-sync',
  title: 'the machine runs what its profile points to, and what the flake says',
  phase: 'post-build',
  // uses flake-eval's out path when it ran (exact, whatever the checkout's state), but runs without it
  after: ['flake-eval'],
  tags: ['nixos'],
  timeout: '1m',
  options: z.object({
    user: z.string().optional().describe('whose Home Manager to report (default: the user running nbs, or SUDO_USER; on a host reached over ssh, only this one)'),
  }),
  async run(ctx) {
    const machine = ctx.machine
    const gen = await getCurrentGeneration({ machine, profile: ctx.profile })
    if (gen.unreadable) return ctx.skip(gen.unreadable)
    if (!gen.isNixOS) return ctx.skip(gen.reason ?? `${machine.description} is not NixOS`)
    if (!gen.current) return ctx.skip(`no /run/current-system on ${machine.description}: nothing runs to compare`)
    // on an ssh host the user running nbs is the deployer, not a person of that host
    const user = ctx.options.user ?? (machine.remote ? undefined : defaultUser())
    let homeManagerNote: string | undefined
    const [version, commit, reboot, homeManager] = await Promise.all([
      readNixosVersion({ machine }),
      getCurrentCommit({ exec: ctx.localExec, flake: ctx.flake }),
      rebootNeeded({ machine, profile: ctx.profile, ...(gen.bootedSystem?.specialisation ? { bootedSpecialisation: gen.bootedSystem.specialisation } : {}) }),
      // a home the reader may not enter (NixOS's 0700 homes) is a note, never the check's error
      user
        ? getHomeManagerState({ machine, user, stateHome: machine.remote ? undefined : envStateHome(user, ctx.root) }).catch((e: Error) => {
            homeManagerNote = `home manager of ${user} not read: ${e.message}`
            return null
          })
        : null,
    ])
    const evaluated = ctx.needs['flake-eval']?.data as { outPath?: string } | undefined
    const revision = compareRevision({
      configurationRevision: version.configurationRevision,
      commit,
      runningToplevel: gen.current.toplevel ?? gen.current.path,
      evaluatedToplevel: evaluated?.outPath,
    })
    const details = { state: gen.state, generation: gen, revision, nixos: version, rebootNeeded: reboot, homeManager, commit }
    const problems = [
      ...(gen.state === 'pending' || gen.state === 'drifted' ? [`${gen.state}: ${gen.message}`] : []),
      ...(revision.status === 'differs' ? [`revision differs: ${revision.message}`] : []),
    ]
    const notes = [
      ...(problems.length ? [] : [`${gen.state}: ${gen.message}`]),
      `revision ${revision.status}${revision.status === 'differs' ? '' : `: ${revision.message}`}`,
      ...revision.notes,
      ...(reboot.needed ? [`reboot needed: ${reboot.differs.join(', ')} differ from the booted system`] : []),
      ...(homeManager ? [`home manager: ${describeHomeManager(homeManager)}`] : []),
      ...(homeManagerNote ? [homeManagerNote] : []),
    ]
    if (problems.length) ctx.fail([...problems, ...notes].join('; '), details)
    return { message: notes.join('; '), details }
  },
})
