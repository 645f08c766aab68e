import { userInfo } from 'node:os'
import { describe, expect, it } from 'vitest'
import { currentUserName, parsePasswd } from '../../../src/machine/users.js'

describe('passwd entries', () => {
  it('reads name, uid and home; skips comments, blank and malformed lines', () => {
    const text = 'root:x:0:0:root:/root:/bin/sh\n# note\n\nbroken:line\nalice:x:1000:100:Alice A.:/home/alice:/run/current-system/sw/bin/fish\nbad:x:uid:1:b:/b:/bin/sh\n'
    expect(parsePasswd(text)).toEqual([
      { name: 'root', uid: 0, home: '/root' },
      { name: 'alice', uid: 1000, home: '/home/alice' },
    ])
  })

  it('names the user nbs runs as', () => {
    expect(currentUserName()).toBe(userInfo().username)
  })
})
