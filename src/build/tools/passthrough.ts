import { NbsError } from '../../errors.js'

/** The flags a tool itself accepts and hands on, by how many values follow each. */
export interface FlagList {
  0: readonly string[]
  1: readonly string[]
  2: readonly string[]
}

/**
 * nixos-rebuild and home-manager take only flags they know (an unknown one is their usage error,
 * after nbs has already started): nbs refuses the others up front, naming the one that is wrong.
 */
export function checkPassthrough(tool: string, extra: readonly string[], flags: FlagList): void {
  for (let i = 0; i < extra.length; i++) {
    const a = extra[i]!
    const takes = flags[0].includes(a) ? 0 : flags[1].includes(a) ? 1 : flags[2].includes(a) ? 2 : -1
    if (takes < 0) {
      throw new NbsError(
        `-- ${a}: ${tool} accepts only its own flags and does not pass others on to Nix; only nh does (use --tool nh, or a flag ${tool} knows: ${tool} --help)`,
      )
    }
    if (i + takes >= extra.length) throw new NbsError(`-- ${a}: expects ${takes === 1 ? 'a value' : `${takes} values`}`)
    i += takes
  }
}
