/** Version numbers as the tools print them: `nh 4.2.0`, `25.05-pre`, `4.3.0-beta1`. */
export type Version = readonly [number, number, number]

/** The first `N.N[.N]` in `text`; null when there is none. */
export function parseVersion(text: string): Version | null {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text)
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null
}

/** a < b: negative; equal: 0 */
export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
}

export const atLeast = (v: Version, min: Version) => compareVersions(v, min) >= 0

export const formatVersion = (v: Version) => v.join('.')
