import { describe, expect, it } from 'vitest'
import { configSchema } from '../../../src/config/schema.js'

const target = (targetHost: string) => configSchema.safeParse({ hosts: { web1: { targetHost } } }).success

describe('hosts.<name>.targetHost', () => {
  it('takes what people write: names, users, addresses, IPv6 in brackets', () => {
    for (const ok of ['web1', 'root@web1.example.org', 'deploy_user@10.0.0.7', 'root@[2001:db8::7]', '[::1]', 'web-1.internal']) expect(target(ok), ok).toBe(true)
  })
  it('refuses what ssh would read as an option or a ProxyCommand shell would run', () => {
    for (const bad of ['-oProxyCommand=touch /tmp/x', 'web1$(id>/tmp/x)', 'web1;reboot', 'web1 web2', 'a`id`', 'web1|x', '@web1', 'root@', '']) expect(target(bad), bad).toBe(false)
  })
})
