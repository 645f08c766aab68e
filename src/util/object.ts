/** Narrowing unknown values (parsed JSON, a check's details, a plugin's return). */

/** Any object that is not an array: fields may be read by name. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** An object literal or a dictionary (`Object.create(null)`): not an array, a class instance, a Date or a Map. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}
