// runtime/http/layout.tsx
// The HTML shell of the operator pages (dashboard, docs): one small stylesheet, no CDN, readable at 375 px.

import type { Child } from 'hono/jsx';
import { raw } from 'hono/html';

/** Mode colours from SPEC: DEBUG yellow, PROD green, DIAG red; the text label is always there too. */
export const STYLE = `
:root { color-scheme: light; --fg:#1b1f24; --muted:#57606a; --line:#d0d7de; --bg:#f6f8fa; --card:#fff;
  --ok:#1a7f37; --bad:#b42318; --warn:#f5c518; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header.top { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:center; padding:.75rem 1rem; background:var(--card); border-bottom:1px solid var(--line); }
header.top h1 { font-size:1.15rem; margin:0; }
header.top nav { margin-left:auto; display:flex; gap:.75rem; flex-wrap:wrap; }
main { padding:1rem; max-width:75rem; margin:0 auto; }
h2 { font-size:1.05rem; margin:0 0 .5rem; }
h3 { font-size:.95rem; margin:0 0 .35rem; }
.grid { display:grid; gap:1rem; grid-template-columns:repeat(auto-fill, minmax(min(100%, 17rem), 1fr)); margin-bottom:1rem; }
section.card, article.card { background:var(--card); border:1px solid var(--line); border-radius:.5rem; padding:.85rem 1rem; min-width:0; overflow-wrap:break-word; }
section.wide { margin-bottom:1rem; }
dl { display:grid; grid-template-columns:max-content 1fr; gap:.2rem .75rem; margin:0; }
dt { color:var(--muted); } dd { margin:0; overflow-wrap:anywhere; }
.badge { display:inline-block; padding:.1rem .5rem; border-radius:1rem; font-weight:600; font-size:.85rem; border:1px solid transparent; white-space:nowrap; }
.mode-DEBUG { background:var(--warn); color:#1b1f24; border-color:#b08c00; }
.mode-PROD { background:var(--ok); color:#fff; }
.mode-DIAG { background:var(--bad); color:#fff; }
.ok { background:#dafbe1; color:#0f5323; border-color:#4ac26b; }
.bad { background:#ffebe9; color:#82071e; border-color:#ff8182; }
.idle { background:#eaeef2; color:#24292f; border-color:#afb8c1; }
.warn { background:#fff8c5; color:#4d2d00; border-color:#d4a72c; }
.muted { color:var(--muted); font-size:.88rem; }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:.88rem; }
th, td { text-align:left; padding:.3rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
td code { overflow-wrap:anywhere; }
td code, pre { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:.82rem; }
pre { background:var(--bg); border:1px solid var(--line); border-radius:.35rem; padding:.5rem; overflow-x:auto; max-height:24rem; }
button { font:inherit; padding:.35rem .8rem; border-radius:.35rem; border:1px solid #1f6feb; background:#1f6feb; color:#fff; cursor:pointer; }
button.secondary { background:#fff; color:#1f6feb; }
form.inline { display:inline; }
form.actions { margin-top:.6rem; }
.insecure { margin:0; padding:.6rem 1rem; background:var(--bad); color:#fff; font-weight:600; }
ul.tasks { margin:0; padding-left:1.2rem; } ul.tasks li.done { color:var(--muted); text-decoration:line-through; }
#refresh-state { font-size:.85rem; color:var(--muted); }
#action-message:not(:empty) { margin:0 1rem; padding:.5rem .75rem; border-radius:.35rem; background:#ddf4ff; border:1px solid #54aeff; }
a { color:#0969da; }
figure.chart { margin:.45rem 0 0; } figure.chart svg.spark { display:block; width:100%; height:44px; }
figure.chart figcaption { font-size:.8rem; }
/* Narrow screens: each table row becomes a small labelled block instead of a sideways scroll. */
@media (max-width: 40rem) {
  table.stack thead { position:absolute; left:-9999px; }
  table.stack tr { display:block; padding:.35rem 0; border-bottom:1px solid var(--line); }
  table.stack th, table.stack td { display:flex; gap:.5rem; border:0; padding:.1rem .25rem; overflow-wrap:anywhere; }
  /* A flex item will not shrink below its content unless told: long JSON and URLs must wrap. */
  table.stack td > * { min-width:0; }
  .badge { white-space:normal; max-width:100%; }
  table.stack td[data-label]::before { content:attr(data-label); color:var(--muted); flex:none; width:6.5rem; }
}
`;

export function Layout(props: { title: string; head?: Child; nav?: Child; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title}</title>
        <style>{raw(STYLE)}</style>
        {props.head}
      </head>
      <body>
        <header class="top">
          <h1>{props.title}</h1>
          {props.nav}
        </header>
        {props.children}
      </body>
    </html>
  );
}
