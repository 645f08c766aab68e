import { z } from 'zod'
import { durationSchema } from '../checks/duration.js'

/**
 * `[user@]host` as ssh takes it on the command line, and nothing a shell or ssh could misread: no
 * leading `-` (an option), no spaces or shell characters (OpenSSH before 9.6 hands `%h` to a
 * ProxyCommand's shell unescaped).
 */
export const SSH_DESTINATION = /^(?:[A-Za-z0-9_][A-Za-z0-9._-]*@)?(?:[A-Za-z0-9_][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])$/

export const DEFAULT_PHASES = ['pre-build', 'build', 'post-build', 'health'] as const
export const CHECK_FILE_EXTENSIONS = ['ts', 'mts', 'js', 'mjs', 'json'] as const
const CHECK_GLOB_SUFFIX = `**/*.check.{${CHECK_FILE_EXTENSIONS.join(',')}}`
export const DEFAULT_INCLUDE = [`checks/${CHECK_GLOB_SUFFIX}`, `plugins/${CHECK_GLOB_SUFFIX}`]

/**
 * A timeout of 0 is refused, as in check files: it would time out every check at once, and
 * "no timeout" on a CI machine is a hung job; a very long one is written out ("24h").
 */
const positiveDuration = durationSchema.refine(
  (v) => v !== 0 && !/^0+(\.0+)?\s*[a-z]+$/.test(String(v)),
  'a timeout must be longer than 0 (for a very long one write e.g. "24h")',
)


/** One host of the config's inventory: how to reach it; every field wins over the flake's deploy tools. */
export const hostConfigSchema = z.strictObject({
  local: z.boolean().optional().describe('this host is the machine nbs runs on, whatever its names say'),
  targetHost: z
    .string()
    .regex(
      SSH_DESTINATION,
      '"[user@]address": a host name, an IP address or [IPv6], letters, digits, "." "_" "-" only, no leading "-" (ssh would read it as an option, a ProxyCommand would run the rest)',
    )
    .optional().describe('ssh destination, "[user@]address" (e.g. "root@web1.example.org")'),
  port: z.number().int().min(1).max(65535).optional().describe('ssh port (default: ssh\'s own, 22 or ~/.ssh/config)'),
  user: z.string().min(1).optional().describe('ssh login user, when targetHost does not name one'),
  tags: z.array(z.string().min(1)).optional().describe('labels for --on @tag'),
  sshOptions: z.array(z.string()).optional().describe('extra ssh client arguments, e.g. ["-J", "bastion"]'),
  privilege: z.array(z.string().min(1)).optional().describe('argv prefix for commands run on the host, e.g. ["sudo", "-n"]'),
})

export type HostConfig = z.output<typeof hostConfigSchema>

/** `nbs.config.ts`: every field optional; flags override it, it overrides the defaults. */
export const configSchema = z.strictObject({
  $schema: z.string().optional().describe('JSON Schema reference for editors; ignored'),
  flake: z.string().min(1).optional().describe('flake reference; default $NH_OS_FLAKE, $NBS_FLAKE, $NH_FLAKE, then /etc/nixos'),
  host: z.string().min(1).optional().describe('nixosConfigurations attribute; default the hostname'),
  root: z.string().min(1).optional().describe('filesystem root the machine state is read from; default /'),
  profile: z
    .string()
    .regex(/^(system|system-profiles\/[A-Za-z0-9._+-]+|\/\S+)$/, '"system", "system-profiles/NAME" or an absolute profile path')
    .refine((p) => !p.split('/').some((part) => part === '.' || part === '..'), 'a profile path without "." or ".." parts')
    .optional()
    .describe('the system profile the machine boots from: "system" (default), or "system-profiles/NAME" for nixos-rebuild --profile-name NAME and comin'),
  hosts: z
    .record(
      z.string().min(1),
      hostConfigSchema,
    )
    .optional()
    .describe('the inventory: per-host settings by nixosConfigurations name; they win over colmena and deploy-rs'),
  phases: z
    .array(z.string().regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'kebab-case'))
    .min(1)
    .refine((p) => new Set(p).size === p.length, 'phases must be unique')
    .optional()
    .describe(`phases in order; default ${DEFAULT_PHASES.join(', ')}`),
  include: z.array(z.string().min(1)).optional().describe('globs (relative to the project) of check files to load'),
  exclude: z.array(z.string().min(1)).optional().describe('globs of check files to leave out'),
  plugins: z
    .array(z.union([z.string().min(1), z.tuple([z.string().min(1), z.record(z.string(), z.unknown())])]))
    .optional()
    .describe('plugins to load besides the project\'s plugins/ folder: a path or package name, or [it, options]'),
  builtins: z.boolean().optional().describe("load nbs's own built-in checks (default true)"),
  disable: z.array(z.string()).optional().describe('check ids to leave out; they are reported as skipped'),
  enable: z
    .array(z.string())
    .optional()
    .describe('opt-in checks to run (e.g. ["build"]); without this they run only when named with --only'),
  options: z.record(z.string(), z.record(z.string(), z.unknown())).optional().describe("per-check options, by check id"),
  nixOptions: z
    .record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'a nix.conf setting name'), z.string())
    .optional()
    .describe('nix.conf settings for the Nix calls of the built-in checks, e.g. { substituters: "" } to stay offline'),
  reporters: z
    .array(z.union([z.string().min(1), z.tuple([z.string().min(1), z.record(z.string(), z.unknown())])]))
    .optional()
    .describe("reporters as NAME[:PATH], or [NAME[:PATH], options] (e.g. ['junit:nbs.xml', { fileAttributes: true }]); used when no --reporter is given"),
  concurrency: z.number().int().positive().optional().describe('checks run at once; default CPUs × 2'),
  parallel: z.number().int().min(0).optional().describe('hosts checked at once in a fleet run (--on); default 10, 0 = all'),
  allowUnreachable: z.boolean().optional().describe('a fleet run passes even when a host cannot be reached (its machine checks are skipped)'),
  timeout: positiveDuration.optional().describe('default per-check timeout (default "5m"); it must be longer than 0'),
  hookTimeout: positiveDuration
    .optional()
    .describe('how long a plugin hook or a reporter may take per event, and to finish at the end of the run (default "30s"); one that takes longer is abandoned and the other reports are still written'),
  failOn: z.enum(['error', 'warning']).optional().describe('"warning" makes failed warnings fail the run'),
  redact: z
    .boolean()
    .optional()
    .describe('false keeps secrets (private keys, passwords, tokens) in check results and reports; default true: they become [REDACTED:kind]'),
  logDir: z.string().min(1).optional().describe('where nbs build keeps the system records (default /var/log/nixos-builds)'),
  logGroup: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*\$?$/i, 'a Unix group name')
    .optional()
    .describe('the admins\' group that may read build logs and write the system records folder (default wheel)'),
  debug: z
    .strictObject({
      llm: z
        .strictObject({ command: z.array(z.string()).min(1).describe('argv that reads the bundle on stdin and answers on stdout') })
        .optional(),
    })
    .optional()
    .describe('nbs debug settings: the LLM command to pipe the bundle to (nbs debug --llm)'),
})

export type NbsConfig = z.input<typeof configSchema>

/** Types `nbs.config.ts` (identity at run time; the loader validates). */
export function defineConfig(config: NbsConfig): NbsConfig {
  return config
}
