/**
 * A small parser for GitHub Actions workflow command lines, written from the toolkit's documented
 * format (`::name key=value,key=value::data`; `@actions/core` escapes data `%`→%25, CR→%0D, LF→%0A,
 * and property values additionally `:`→%3A, `,`→%2C), and from the runner's rule that a line is a
 * command when, after leading whitespace, it starts with `::`. Not the runner's code: an independent
 * reading, so a test of the reporter does not just replay the reporter's own escaping.
 */
export interface WorkflowCommand {
  command: string
  properties: Record<string, string>
  data: string
}

const unescapeData = (s: string): string => s.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%25', '%')
const unescapeProperty = (s: string): string =>
  s.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%3A', ':').replaceAll('%2C', ',').replaceAll('%25', '%')

/** Whether the runner would read this line as a command (or the legacy `##[` form). */
export function looksLikeCommand(line: string): boolean {
  const t = line.replace(/^[\s\x85]+/u, '')
  return t.startsWith('::') || t.startsWith('##[')
}

/** One line as the runner would read it, or undefined when it is not a command. */
export function parseWorkflowCommand(line: string): WorkflowCommand | undefined {
  const t = line.replace(/^[\s\x85]+/u, '')
  if (!t.startsWith('::')) return undefined
  const end = t.indexOf('::', 2)
  if (end < 0) return undefined
  const info = t.slice(2, end)
  const data = t.slice(end + 2)
  const space = info.indexOf(' ')
  const command = space < 0 ? info : info.slice(0, space)
  const properties: Record<string, string> = {}
  if (space >= 0) {
    for (const pair of info.slice(space + 1).split(',')) {
      const eq = pair.indexOf('=')
      if (eq <= 0) continue // the runner skips a property without a name or value
      properties[pair.slice(0, eq)] = unescapeProperty(pair.slice(eq + 1))
    }
  }
  return { command, properties, data: unescapeData(data) }
}

/** Every command in a stdout text, in order. */
export function workflowCommands(stdout: string): WorkflowCommand[] {
  return stdout.split(/\r?\n/).flatMap((l) => parseWorkflowCommand(l) ?? [])
}
