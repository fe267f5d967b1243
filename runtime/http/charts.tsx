// runtime/http/charts.tsx
// Server-rendered inline SVG charts for the stream cards: sparklines and the 7-day coverage strip (no script, no build step).

const W = 240;
const H = 44;
const PAD = 3;

export interface Line {
  values: Array<number | null>;
  /** Stroke colour. */
  color: string;
  name: string;
}

/** `1234` → `1.2 k`, `0.5` → `0.5`: short numbers for chart labels. */
export function short(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  if (a >= 100) return String(Math.round(n));
  return String(Math.round(n * 100) / 100);
}

/**
 * Path data of one series scaled into the box: a null breaks the line (no record in that minute is
 * a hole, not a zero). One value alone is drawn as a dot-long segment so it stays visible.
 */
function pathOf(values: Array<number | null>, min: number, max: number): string {
  const n = values.length;
  const x = (i: number) => PAD + (n <= 1 ? 0 : (i * (W - 2 * PAD)) / (n - 1));
  const y = (v: number) => (max === min ? H / 2 : H - PAD - ((v - min) * (H - 2 * PAD)) / (max - min));
  let d = '';
  let open = false;
  values.forEach((v, i) => {
    if (v === null) {
      open = false;
      return;
    }
    const next = values[i + 1];
    const alone = !open && (next === null || next === undefined);
    d += `${open ? 'L' : 'M'}${x(i).toFixed(1)} ${y(v).toFixed(1)}`;
    if (alone) d += `h1.5`;
    open = true;
  });
  return d;
}

/**
 * A sparkline of one or more series on a shared scale, with a <title> for screen readers and
 * data-* attributes (points, last, min, max, sum of the first series) that tests and scrapers read.
 */
export function Sparkline(props: { lines: Line[]; label: string; testid: string; unit?: string }) {
  const all = props.lines.flatMap((l) => l.values.filter((v): v is number => v !== null));
  const first = props.lines[0]!.values;
  const known = first.filter((v): v is number => v !== null);
  const min = all.length ? Math.min(...all) : 0;
  const max = all.length ? Math.max(...all) : 0;
  const last = [...first].reverse().find((v): v is number => v !== null) ?? null;
  const unit = props.unit ? ` ${props.unit}` : '';
  const lastOf = (l: Line) => [...l.values].reverse().find((v): v is number => v !== null);
  const now = props.lines.map((l) => `${props.lines.length > 1 ? `${l.name} ` : ''}${lastOf(l) === undefined ? '—' : short(lastOf(l)!)}`).join(' · ');
  const caption = all.length ? `${props.label} ${now}${unit} (${short(min)}–${short(max)})` : `${props.label}: no data in the last hour`;
  return (
    <figure class="chart" data-testid={props.testid} data-points={String(known.length)} data-last={last === null ? '' : String(last)} data-min={String(min)} data-max={String(max)} data-sum={String(known.reduce((a, b) => a + b, 0))}>
      <svg class="spark" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={caption} preserveAspectRatio="none">
        <title>{caption}</title>
        <rect x="0" y="0" width={W} height={H} fill="#f6f8fa" />
        {props.lines.map((l) => (
          <path d={pathOf(l.values, min, max)} fill="none" stroke={l.color} stroke-width="1.6" stroke-linejoin="round" stroke-linecap="round" vector-effect="non-scaling-stroke" data-series={l.name} />
        ))}
      </svg>
      <figcaption class="muted">{caption}</figcaption>
    </figure>
  );
}

export interface CoverageDay {
  date: string;
  /** null: no quality report for that day (yet). */
  ratio: number | null;
  threshold: number | null;
  /** Missed or unfillable gaps counted that day. */
  lostGaps: number;
}

/** green: at or above the threshold without lost data; amber: above it with missed/unfillable gaps; red: below it; grey: no report. */
export function coverageTone(d: CoverageDay): 'ok' | 'warn' | 'bad' | 'none' {
  if (d.ratio === null || d.threshold === null) return 'none';
  if (d.ratio < d.threshold) return 'bad';
  return d.lostGaps > 0 ? 'warn' : 'ok';
}

const TONE_FILL = { ok: '#2da44e', warn: '#d4a72c', bad: '#cf222e', none: '#d0d7de' } as const;
const TONE_WORD = { ok: 'ok', warn: 'gaps', bad: 'below threshold', none: 'no report' } as const;

/** Seven squares, oldest first (today last), from the stored quality summaries (`runtime quality`, the daily duty). */
export function CoverageStrip(props: { days: CoverageDay[]; testid: string }) {
  const size = 18;
  const gap = 4;
  const width = props.days.length * (size + gap) - gap;
  const words = props.days.map((d) => `${d.date} ${d.ratio === null ? TONE_WORD.none : `${(d.ratio * 100).toFixed(1)} % ${TONE_WORD[coverageTone(d)]}`}`);
  return (
    <figure class="chart" data-testid={props.testid}>
      <svg viewBox={`0 0 ${width} ${size}`} width={width} height={size} role="img" aria-label={`coverage, last 7 days: ${words.join('; ')}`}>
        {props.days.map((d, i) => (
          <rect x={i * (size + gap)} y="0" width={size} height={size} rx="3" fill={TONE_FILL[coverageTone(d)]} data-date={d.date} data-tone={coverageTone(d)} data-ratio={d.ratio === null ? '' : String(d.ratio)}>
            <title>{words[i]}</title>
          </rect>
        ))}
      </svg>
      <figcaption class="muted">coverage, 7 days (today last)</figcaption>
    </figure>
  );
}
