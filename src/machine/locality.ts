/**
 * Is the host being checked this machine? Machine checks (units, journal, generations) look at
 * the machine nbs runs on; run against another host's configuration they would judge the wrong
 * machine (a CI runner checking `web`). Many flakes name configurations differently from the
 * host name, so the name alone is not enough: the evaluated `networking.hostName` counts too.
 */

export type Locality = { local: true; why: string } | { local: false; reason: string }

export interface LocalityInputs {
  /** the nixosConfigurations attribute being checked */
  host: string
  /** this machine's host name (`/etc/hostname` under `--root`), null when unknown */
  hostname: string | null
  /** the host's evaluated `networking.hostName`, when known */
  evaluatedHostName?: string
  /** the config says so: `hosts.<name>.local = true` */
  configLocal?: boolean
  /** the inventory gives it a targetHost (read here without `--on`, as `nbs status` does) */
  hasTarget?: boolean
}

/** The answer when it needs no evaluation, else undefined. */
export function quickLocality(o: LocalityInputs): Locality | undefined {
  if (o.configLocal) return { local: true, why: `${o.host} is marked local in the config` }
  if (o.hostname !== null && o.host === o.hostname) return { local: true, why: `${o.host} is this machine's host name` }
  return undefined
}

/** The answer once the evaluated host name is known (or known to be unavailable, with why). */
export function hostLocality(o: LocalityInputs & { unavailable?: string }): Locality {
  const quick = quickLocality(o)
  if (quick) return quick
  if (o.evaluatedHostName !== undefined && o.hostname !== null && o.evaluatedHostName === o.hostname) {
    return { local: true, why: `${o.host} sets networking.hostName = "${o.hostname}", this machine's name` }
  }
  const here = o.hostname ?? 'unknown host name'
  const evaluated = o.evaluatedHostName !== undefined ? ` (its networking.hostName is ${o.evaluatedHostName})` : o.unavailable ? ` (${o.unavailable})` : ''
  const fix = o.hasTarget ? `it has a targetHost: --on ${o.host} reads it over ssh` : 'give it a targetHost to check it over ssh, or mark it local: true in the config'
  return { local: false, reason: `${o.host} is not this machine (${here})${evaluated}; ${fix}` }
}
