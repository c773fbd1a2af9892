/**
 * The `/docs` page: the OpenAPI document rendered as one self-contained HTML page (inline CSS,
 * no scripts, no external assets), grouped by tag. It reads only the document, so it shows
 * exactly what `/openapi.json` says. Every text from the document is HTML-escaped.
 */

type Json = Record<string, unknown>

const METHODS = ['get', 'put', 'post', 'delete'] as const

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

function asRecord(value: unknown): Json {
  return typeof value === 'object' && value !== null ? (value as Json) : {}
}

function text(value: unknown): string {
  return typeof value === 'string' ? escapeHtml(value) : ''
}

/** A short one-line rendering of a JSON Schema: type, enum, pattern, bounds. */
function schemaSummary(schema: Json): string {
  const parts: string[] = []
  if (Array.isArray(schema['enum'])) parts.push(schema['enum'].map(String).join(' | '))
  else if (typeof schema['type'] === 'string') parts.push(schema['type'])
  if (typeof schema['pattern'] === 'string') parts.push(`pattern ${schema['pattern']}`)
  if (schema['minimum'] !== undefined) parts.push(`≥ ${String(schema['minimum'])}`)
  if (schema['maximum'] !== undefined) parts.push(`≤ ${String(schema['maximum'])}`)
  return escapeHtml(parts.join(', '))
}

function parametersTable(parameters: unknown): string {
  if (!Array.isArray(parameters) || parameters.length === 0) return ''
  const rows = parameters.map((raw) => {
    const parameter = asRecord(raw)
    const required = parameter['required'] === true ? ' <em>required</em>' : ''
    return `<tr><td><code>${text(parameter['name'])}</code>${required}</td><td>${text(parameter['in'])}</td><td>${schemaSummary(asRecord(parameter['schema']))}</td><td>${text(parameter['description'])}</td></tr>`
  })
  return `<table><tr><th>parameter</th><th>in</th><th>schema</th><th>description</th></tr>${rows.join('')}</table>`
}

function contentBlock(content: unknown): string {
  const entries = Object.entries(asRecord(content))
  return entries
    .map(([mediaType, media]) => {
      const schema = asRecord(media)['schema']
      const rendered =
        schema === undefined
          ? ''
          : `<details><summary>schema</summary><pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre></details>`
      return `<div><code>${escapeHtml(mediaType)}</code>${rendered}</div>`
    })
    .join('')
}

function responsesTable(responses: unknown): string {
  const rows = Object.entries(asRecord(responses)).map(([status, raw]) => {
    const response = asRecord(raw)
    const headers = Object.keys(asRecord(response['headers']))
    const headerText =
      headers.length === 0
        ? ''
        : `<div>headers: ${headers.map((name) => `<code>${escapeHtml(name)}</code>`).join(', ')}</div>`
    return `<tr><td><b>${escapeHtml(status)}</b></td><td>${text(response['description'])}${headerText}${contentBlock(response['content'])}</td></tr>`
  })
  return `<table><tr><th>status</th><th>answer</th></tr>${rows.join('')}</table>`
}

function operationSection(path: string, method: string, operation: Json): string {
  const body = asRecord(operation['requestBody'])
  const requestBody =
    operation['requestBody'] === undefined
      ? ''
      : `<h4>Request body</h4><p>${text(body['description'])}</p>${contentBlock(body['content'])}`
  return [
    `<section class="op" id="${text(operation['operationId'])}">`,
    `<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>`,
    `<p><b>${text(operation['summary'])}</b></p>`,
    operation['description'] === undefined ? '' : `<p>${text(operation['description'])}</p>`,
    parametersTable(operation['parameters']),
    requestBody,
    `<h4>Responses</h4>${responsesTable(operation['responses'])}`,
    '</section>',
  ].join('\n')
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f6f8fa;padding:.6em;overflow:auto}
table{border-collapse:collapse;width:100%;margin:.5em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
.op{border-top:1px solid #ccc;padding-top:.5em}.method{color:#fff;padding:1px 8px;border-radius:4px;font-size:13px}
.get{background:#2b7bb9}.put{background:#c77c02}.post{background:#2f9e44}.delete{background:#c92a2a}nav a{margin-right:1em}`

/** The whole page for an OpenAPI document. */
export function renderDocsPage(document: Json): string {
  const info = asRecord(document['info'])
  const paths = asRecord(document['paths'])
  const tags = Array.isArray(document['tags']) ? document['tags'].map(asRecord) : []
  const sections = tags.map((tag) => {
    const operations: string[] = []
    for (const [path, item] of Object.entries(paths)) {
      for (const method of METHODS) {
        const operation = asRecord(asRecord(item)[method])
        const operationTags = operation['tags']
        if (Array.isArray(operationTags) && operationTags.includes(tag['name']))
          operations.push(operationSection(path, method, operation))
      }
    }
    return `<h2 id="tag-${text(tag['name'])}">${text(tag['name'])}</h2><p>${text(tag['description'])}</p>${operations.join('\n')}`
  })
  const navigation = tags
    .map((tag) => `<a href="#tag-${text(tag['name'])}">${text(tag['name'])}</a>`)
    .join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${text(info['title'])} API ${text(info['version'])}</title>
<style>${STYLE}</style></head><body>
<h1>${text(info['title'])} REST API <small>${text(info['version'])}</small></h1>
<p>${text(info['description'])} The machine-readable document is at <a href="/openapi.json">/openapi.json</a>.</p>
<nav>${navigation}</nav>
${sections.join('\n')}
</body></html>
`
}
