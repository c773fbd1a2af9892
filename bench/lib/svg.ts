/**
 * Small inline-SVG charts for HTML benchmark reports, with no plotting library: a line chart
 * (linear or logarithmic y axis, an optional shaded x window such as a partition) and a
 * grouped bar chart. Every text is escaped; output is a standalone <svg> element.
 */

export interface LineSeries {
  readonly label: string
  readonly points: readonly (readonly [number, number])[]
}

export interface LineChartSpec {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly series: readonly LineSeries[]
  /** A shaded x range with a caption, e.g. the time a partition lasted. */
  readonly shade?: { readonly from: number; readonly to: number; readonly label: string }
  readonly yLog?: boolean
  /** Labelled x ticks instead of round numbers (e.g. percentile names). */
  readonly xTicks?: readonly { readonly value: number; readonly label: string }[]
  readonly yMin?: number
  readonly yMax?: number
}

export interface BarChartSpec {
  readonly title: string
  readonly yLabel: string
  readonly groups: readonly string[]
  readonly series: readonly { readonly label: string; readonly values: readonly number[] }[]
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b']

const WIDTH = 720
const HEIGHT = 320
const MARGIN = { left: 64, right: 150, top: 34, bottom: 46 }
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
}

function color(index: number): string {
  return PALETTE[index % PALETTE.length] as string
}

/** About five round tick values covering [low, high]. */
export function niceTicks(low: number, high: number, count = 5): number[] {
  if (!(high > low)) return [low]
  const raw = (high - low) / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((factor) => factor * magnitude).find((s) => s >= raw) ?? raw
  const ticks: number[] = []
  for (let tick = Math.ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) {
    ticks.push(Number(tick.toPrecision(12)))
    if (ticks.length > 50) break
  }
  return ticks
}

function format(value: number): string {
  if (value !== 0 && Math.abs(value) < 0.01) return value.toExponential(0)
  return Number(value.toPrecision(3)).toString()
}

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui,sans-serif" font-size="11">`,
    `<text x="${WIDTH / 2 - MARGIN.right / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    `<text x="${MARGIN.left + PLOT_WIDTH / 2}" y="${HEIGHT - 8}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(14 ${MARGIN.top + PLOT_HEIGHT / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
    '</svg>',
  ].join('\n')
}

function legend(labels: readonly string[]): string[] {
  return labels.map((label, index) => {
    const y = MARGIN.top + 10 + index * 18
    const x = MARGIN.left + PLOT_WIDTH + 14
    return `<rect x="${x}" y="${y - 8}" width="12" height="10" fill="${color(index)}"/><text x="${x + 18}" y="${y + 1}">${escapeXml(label)}</text>`
  })
}

export function lineChart(spec: LineChartSpec): string {
  const points = spec.series.flatMap((series) => series.points)
  const xs = points.map(([x]) => x)
  const ys = points.map(([, y]) => y).filter((y) => Number.isFinite(y) && (!spec.yLog || y > 0))
  const xMin = Math.min(...xs, spec.shade?.from ?? Infinity)
  const xMax = Math.max(...xs, spec.shade?.to ?? -Infinity, xMin + 1)
  const yMin = spec.yMin ?? (spec.yLog ? Math.min(...ys, 1) : Math.min(0, ...ys))
  const yMax = spec.yMax ?? Math.max(...ys, yMin + 1)
  const toY = (y: number) =>
    spec.yLog
      ? Math.log10(Math.max(y, yMin) / yMin) / Math.log10(yMax / yMin)
      : (y - yMin) / (yMax - yMin)
  const px = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * PLOT_WIDTH
  const py = (y: number) => MARGIN.top + PLOT_HEIGHT - toY(y) * PLOT_HEIGHT
  const body: string[] = []
  if (spec.shade !== undefined) {
    const left = px(spec.shade.from)
    body.push(
      `<rect x="${left}" y="${MARGIN.top}" width="${px(spec.shade.to) - left}" height="${PLOT_HEIGHT}" fill="#f3d9d9"/>`,
      `<text x="${left + 4}" y="${MARGIN.top + 12}" fill="#a33">${escapeXml(spec.shade.label)}</text>`,
    )
  }
  const yTicks = spec.yLog ? logTicks(yMin, yMax) : niceTicks(yMin, yMax)
  for (const tick of yTicks) {
    body.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_WIDTH}" y1="${py(tick)}" y2="${py(tick)}" stroke="#e4e4e4"/>`,
      `<text x="${MARGIN.left - 6}" y="${py(tick) + 4}" text-anchor="end">${format(tick)}</text>`,
    )
  }
  const xTicks =
    spec.xTicks ?? niceTicks(xMin, xMax, 8).map((value) => ({ value, label: format(value) }))
  for (const tick of xTicks) {
    body.push(
      `<text x="${px(tick.value)}" y="${MARGIN.top + PLOT_HEIGHT + 16}" text-anchor="middle">${escapeXml(tick.label)}</text>`,
    )
  }
  body.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_WIDTH}" height="${PLOT_HEIGHT}" fill="none" stroke="#999"/>`,
  )
  spec.series.forEach((series, index) => {
    const path = series.points
      .filter(([, y]) => Number.isFinite(y) && (!spec.yLog || y > 0))
      .map(([x, y]) => `${px(x).toFixed(1)},${py(Math.min(y, yMax)).toFixed(1)}`)
      .join(' ')
    body.push(`<polyline fill="none" stroke="${color(index)}" stroke-width="2" points="${path}"/>`)
  })
  body.push(...legend(spec.series.map((series) => series.label)))
  return frame(spec.title, spec.xLabel, spec.yLabel, body)
}

function logTicks(low: number, high: number): number[] {
  const ticks: number[] = []
  for (let power = Math.floor(Math.log10(low)); power <= Math.ceil(Math.log10(high)); power++) {
    for (const factor of [1, 2, 5]) {
      const tick = factor * 10 ** power
      if (tick >= low && tick <= high) ticks.push(tick)
    }
    if (ticks.length > 30) break
  }
  return ticks
}

export function barChart(spec: BarChartSpec): string {
  const values = spec.series.flatMap((series) => series.values)
  const yMax = Math.max(1, ...values) * 1.1
  const groupWidth = PLOT_WIDTH / Math.max(1, spec.groups.length)
  const barWidth = (groupWidth * 0.8) / Math.max(1, spec.series.length)
  const py = (y: number) => MARGIN.top + PLOT_HEIGHT - (y / yMax) * PLOT_HEIGHT
  const body: string[] = []
  for (const tick of niceTicks(0, yMax)) {
    body.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_WIDTH}" y1="${py(tick)}" y2="${py(tick)}" stroke="#e4e4e4"/>`,
      `<text x="${MARGIN.left - 6}" y="${py(tick) + 4}" text-anchor="end">${format(tick)}</text>`,
    )
  }
  spec.groups.forEach((group, groupIndex) => {
    const groupLeft = MARGIN.left + groupIndex * groupWidth + groupWidth * 0.1
    body.push(
      `<text x="${groupLeft + groupWidth * 0.4}" y="${MARGIN.top + PLOT_HEIGHT + 16}" text-anchor="middle">${escapeXml(group)}</text>`,
    )
    spec.series.forEach((series, seriesIndex) => {
      const value = series.values[groupIndex] ?? 0
      const x = groupLeft + seriesIndex * barWidth
      body.push(
        `<rect x="${x.toFixed(1)}" y="${py(value).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(MARGIN.top + PLOT_HEIGHT - py(value)).toFixed(1)}" fill="${color(seriesIndex)}"><title>${escapeXml(`${series.label} ${group}: ${value}`)}</title></rect>`,
        `<text x="${(x + barWidth / 2).toFixed(1)}" y="${(py(value) - 3).toFixed(1)}" text-anchor="middle" font-size="10">${format(value)}</text>`,
      )
    })
  })
  body.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_WIDTH}" height="${PLOT_HEIGHT}" fill="none" stroke="#999"/>`,
    ...legend(spec.series.map((series) => series.label)),
  )
  return frame(spec.title, '', spec.yLabel, body)
}

/** A whole self-contained HTML page of titled sections (each may hold SVG or tables). */
export function htmlPage(
  title: string,
  intro: string,
  sections: readonly { readonly heading: string; readonly html: string }[],
): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}svg{display:block;margin:1em 0}</style></head><body>
<h1>${escapeXml(title)}</h1>
${intro}
${sections.map((section) => `<h2>${escapeXml(section.heading)}</h2>\n${section.html}`).join('\n')}
</body></html>
`
}

/** An HTML table; cells are escaped. */
export function htmlTable(
  columns: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const head = `<tr>${columns.map((column) => `<th>${escapeXml(column)}</th>`).join('')}</tr>`
  const body = rows
    .map((row) => `<tr>${row.map((cell) => `<td>${escapeXml(String(cell))}</td>`).join('')}</tr>`)
    .join('')
  return `<table>${head}${body}</table>`
}
