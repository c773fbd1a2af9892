/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4) for tests: every
 * line must be a HELP or TYPE comment or a sample, every sample must belong to a family
 * declared by a TYPE line before it, names and labels must be well-formed and values must
 * parse. It throws on the first line that breaks a rule, naming it.
 */

export interface PromSample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface PromFamily {
  readonly name: string
  readonly type: string
  readonly help: string
  readonly samples: PromSample[]
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`)
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created', '']

export function parsePrometheusText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>()
  const help = new Map<string, string>()
  const lines = text.split('\n')
  lines.forEach((line, index) => {
    const where = `line ${index + 1}: ${line.slice(0, 120)}`
    if (line === '') return
    if (line.startsWith('# HELP ')) {
      const [name = '', ...words] = line.slice(7).split(' ')
      help.set(name, words.join(' '))
      return
    }
    if (line.startsWith('# TYPE ')) {
      const [name = '', type = ''] = line.slice(7).split(' ')
      if (!new RegExp(`^${NAME}$`).test(name) || !TYPES.has(type)) throw new Error(where)
      if (families.has(name)) throw new Error(`family declared twice: ${where}`)
      families.set(name, { name, type, help: help.get(name) ?? '', samples: [] })
      return
    }
    if (line.startsWith('#')) return
    const match = SAMPLE_LINE.exec(line)
    if (match === null) throw new Error(`not a sample: ${where}`)
    const [, name = '', rawLabels = '', rawValue = ''] = match
    const family = familyOf(families, name)
    if (family === undefined) throw new Error(`sample without a TYPE: ${where}`)
    const value = parseValue(rawValue)
    if (value === undefined) throw new Error(`bad value: ${where}`)
    family.samples.push({ name, labels: parseLabels(rawLabels, where), value })
  })
  return families
}

function familyOf(families: Map<string, PromFamily>, sample: string): PromFamily | undefined {
  for (const suffix of SUFFIXES) {
    if (!sample.endsWith(suffix)) continue
    const family = families.get(sample.slice(0, sample.length - suffix.length))
    if (family !== undefined) return family
  }
  return undefined
}

/** A sample value as Prometheus reads it (Go's ParseFloat: NaN and Inf in any letter case). */
function parseValue(raw: string): number | undefined {
  const lowered = raw.toLowerCase()
  if (lowered === '+inf' || lowered === 'inf') return Number.POSITIVE_INFINITY
  if (lowered === '-inf') return Number.NEGATIVE_INFINITY
  if (lowered === 'nan') return Number.NaN
  const value = Number(raw)
  return Number.isNaN(value) ? undefined : value
}

function parseLabels(raw: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let rest = raw
  for (let count = 0; rest !== '' && count < 64; count++) {
    const match = LABEL.exec(rest)
    if (match === null) throw new Error(`bad labels: ${where}`)
    const [whole, name = '', value = ''] = match
    labels[name] = value.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
    rest = rest.slice(whole.length)
  }
  if (rest !== '') throw new Error(`too many labels: ${where}`)
  return labels
}

/** The sum of a family's samples named `name` whose labels include `where`. */
export function sumOf(
  families: Map<string, PromFamily>,
  name: string,
  where: Readonly<Record<string, string>> = {},
): number {
  let sum = 0
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue
      if (Object.entries(where).every(([label, value]) => sample.labels[label] === value)) {
        sum += sample.value
      }
    }
  }
  return sum
}
