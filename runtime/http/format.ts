// runtime/http/format.ts
// Small text formatters for the operator pages: clock times, ages, byte sizes.

export function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function age(ms: number): string {
  if (ms < 0) return 'just now (clock ahead)';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${(s / 3600).toFixed(1)} h ago`;
  return `${(s / 86_400).toFixed(1)} d ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
