/**
 * The dashboard's style sheet, inlined into the page (no CDN, no build step). Member states
 * have one color each everywhere they appear: alive green, suspect amber, dead red, left grey.
 */

export const DASHBOARD_STYLE = `
:root {
  --bg: #0f1419; --panel: #171d24; --line: #263039; --text: #d8dee6; --muted: #8a96a3;
  --alive: #3fb950; --suspect: #d29922; --dead: #f85149; --left: #6e7681; --accent: #58a6ff;
  font: 13px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
header { display: flex; gap: 16px; align-items: baseline; padding: 12px 20px;
  border-bottom: 1px solid var(--line); background: var(--panel); position: sticky; top: 0; }
header h1 { font-size: 16px; margin: 0; }
header .meta { color: var(--muted); }
header .status { margin-left: auto; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px;
  padding: 16px 20px; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 12px 14px; overflow-x: auto; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  margin: 0 0 10px; }
h3 { font-size: 13px; margin: 14px 0 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  white-space: nowrap; }
th { color: var(--muted); font-weight: 500; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600;
  font-size: 12px; color: #0f1419; background: var(--left); }
.badge.alive { background: var(--alive); } .badge.suspect { background: var(--suspect); }
.badge.dead { background: var(--dead); } .badge.left, .badge.unknown { background: var(--left); }
.badge.ok { background: var(--alive); } .badge.stale { background: var(--dead); }
.muted { color: var(--muted); }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 8px; }
.fact { border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; }
.fact .label { color: var(--muted); font-size: 11px; text-transform: uppercase; }
.fact .value { font-size: 16px; font-variant-numeric: tabular-nums; }
.ring { display: grid; grid-template-columns: repeat(auto-fill, minmax(118px, 1fr)); gap: 4px; }
.partition { border: 1px solid var(--line); border-radius: 4px; padding: 3px 5px; }
.partition .index { color: var(--muted); font-size: 11px; margin-right: 4px; }
.chip { display: inline-block; min-width: 22px; text-align: center; margin: 1px; padding: 0 3px;
  border-radius: 3px; font-size: 11px; font-weight: 600; color: #0f1419; background: var(--left); }
.chip.alive { background: var(--alive); } .chip.suspect { background: var(--suspect); }
.chip.dead { background: var(--dead); }
.chip.witness { background: transparent; color: var(--text); border: 1px dashed var(--muted); }
.chip.witness.dead { border-color: var(--dead); color: var(--dead); }
.chip.witness.suspect { border-color: var(--suspect); color: var(--suspect); }
.error { color: var(--dead); }
`
