/**
 * The build record: `last-build.json` and each `build-history.json` entry. The seed's fields keep
 * their names and meaning (users script against them); nbs adds `errorDetails`, `nixVersion`,
 * `interrupted`, the running system and the profile path. Fields nbs added default when absent, so
 * a `last-build.json` written by the seed's bash scripts still reads.
 */
import { currentUserName } from '../machine/users.js'
import { z } from 'zod'

export interface GenerationSnapshot {
  /** `g42`: what the system profile points at */
  generation: string | null
  generationRaw: string | null
  /** the flake checkout's short commit */
  commit: string | null
  /** `hm12`: the Home Manager profile's active generation */
  homeManagerGeneration: string | null
  /** `/run/current-system`'s store path */
  currentSystem: string | null
  /** the store path of the profile the target changes: the system profile for `os`, Home Manager's for `home` */
  profilePath: string | null
  /** the checkout had uncommitted changes (null: unknown) */
  commitDirty?: boolean | null
}

export interface BuildErrorDetail {
  message: string
  kind: string
  drv?: string
  exitCode?: number
  file?: string
  line?: number
  column?: number
  logTail?: string[]
  reason?: string
  codeFrame?: string
  traces?: string[]
}

export interface BuildRecord {
  buildStart: string
  buildEnd: string
  /** seconds, like the seed */
  buildDuration: number
  target: 'os' | 'home'
  action: string
  tool: string
  flakePath: string
  exitCode: number
  success: boolean
  hostname: string
  /** what was built: the nixosConfigurations name (os) or the home configuration (home), when known */
  host?: string
  user: string
  command: string
  preGeneration: GenerationSnapshot
  postGeneration: GenerationSnapshot
  buildLogPath: string
  /** the seed's format: the error lines joined with `\n`, `''` when none */
  errors: string
  errorDetails: BuildErrorDetail[]
  nixVersion: string | null
  interrupted: boolean
  signal?: string
  /** set when activation started: how it ended ('running': still going when nbs recorded) */
  activation?: 'completed' | 'failed' | 'running' | 'unknown'
  /** nixos-rebuild-ng's transient unit the activation ran in, when nbs waited for it */
  activationUnit?: string
  recordVersion: 1
}

const maybe = z.string().nullable().default(null)

export const generationSnapshotSchema = z.object({
  generation: maybe,
  generationRaw: maybe,
  commit: maybe,
  homeManagerGeneration: maybe,
  currentSystem: maybe,
  profilePath: maybe,
  commitDirty: z.boolean().nullable().optional(),
})

export const buildErrorDetailSchema = z.looseObject({
  message: z.string(),
  kind: z.string(),
  drv: z.string().optional(),
  exitCode: z.number().int().optional(),
  file: z.string().optional(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
  logTail: z.array(z.string()).optional(),
  reason: z.string().optional(),
  codeFrame: z.string().optional(),
  traces: z.array(z.string()).optional(),
})

/** Loose: fields a newer nbs adds survive a round trip through an older one's history. */
export const buildRecordSchema = z.looseObject({
  buildStart: z.string(),
  buildEnd: z.string(),
  buildDuration: z.number().nonnegative(),
  target: z.enum(['os', 'home']),
  action: z.string(),
  tool: z.string(),
  flakePath: z.string(),
  exitCode: z.number().int(),
  success: z.boolean(),
  hostname: z.string(),
  host: z.string().optional(),
  user: z.string(),
  command: z.string(),
  preGeneration: generationSnapshotSchema,
  postGeneration: generationSnapshotSchema,
  buildLogPath: z.string(),
  errors: z.string(),
  errorDetails: z.array(buildErrorDetailSchema).default([]),
  nixVersion: maybe,
  interrupted: z.boolean().default(false),
  signal: z.string().optional(),
  activation: z.enum(['completed', 'failed', 'running', 'unknown']).optional(),
  activationUnit: z.string().optional(),
  recordVersion: z.literal(1).default(1),
})

// Compile-time guard: the schema's output must stay assignable to the contract's interface.
const _fits: (r: z.output<typeof buildRecordSchema>) => BuildRecord = (r) => r
void _fits

/** Who the Home Manager generation belongs to: under sudo, the user who asked, not root. */
export function defaultUser(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const me = currentUserName()
  if (me === undefined) return env.USER || undefined // no passwd entry for our uid (containers)
  const caller = env.SUDO_USER || env.DOAS_USER // who called sudo or doas
  return me === 'root' && caller ? caller : me
}
