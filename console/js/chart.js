// Time-series charts drawn as SVG by hand (no library): stacked bars for figures that add up
// (requests, errors, tokens, cost) and lines for those that do not (latency percentiles), with
// a y axis of round ticks, a time axis, a legend, and the same figures as a table for screen
// readers and for reading exact values. Colours come from console.css (.series-N), so the
// chart obeys the page's style sheet and its strict CSP.

import { h, s, table } from './ui.js';

const W = 640;
const H = 220;
const PAD = { left: 56, right: 12, top: 10, bottom: 28 };
/** How many colours console.css defines; later series reuse them. */
const COLOURS = 8;

/** A series' colour: its own `colour` (e.g. grey for "Other"), else the next in turn. */
const colour = (se, i) => (se.colour ?? i % COLOURS);

/** Round tick values from 0 to at least `max`: about `n` of them, at 1, 2 or 5 times 10^k. */
export function ticks(max, n = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  const out = [];
  for (let v = 0; v < max + step / 2; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < max) out.push(Number((out[out.length - 1] + step).toPrecision(12)));
  return out;
}

/** A short label for a bucket's start: the time of day within a day, else the date. */
function timeLabel(ms, bucketMs) {
  const d = new Date(ms);
  if (bucketMs >= 86_400_000) return d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' });
  return d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

/**
 * A chart of `series` ([{ name, values }], one value per bucket) over `buckets` (start times,
 * Unix ms, `bucketMs` apart). `kind` is 'stack' or 'line'; `format` writes a value.
 */
export function timeChart({ title, buckets, bucketMs, series, kind = 'stack', format = String }) {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const sums = buckets.map((_, i) => series.reduce((acc, se) => acc + (se.values[i] || 0), 0));
  const peak = kind === 'stack' ? Math.max(0, ...sums) : Math.max(0, ...series.flatMap((se) => se.values.map((v) => v || 0)));
  const yTicks = ticks(peak);
  const top = yTicks[yTicks.length - 1] || 1;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const slot = plotW / Math.max(1, buckets.length);
  const x = (i) => PAD.left + i * slot;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${title}: chart over time, the table below has the figures` });
  // Horizontal grid lines with their values on the y axis.
  for (const t of yTicks) {
    svg.append(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(t), y2: y(t), class: 'grid-line' }));
    svg.append(s('text', { x: PAD.left - 6, y: y(t) + 4, class: 'tick y-tick', 'text-anchor': 'end' }, format(t)));
  }
  // Time ticks: about six labels whatever the number of buckets.
  const every = Math.max(1, Math.ceil(buckets.length / 6));
  buckets.forEach((b, i) => {
    if (i % every) return;
    const cx = x(i) + slot / 2;
    svg.append(s('line', { x1: cx, x2: cx, y1: PAD.top + plotH, y2: PAD.top + plotH + 4, class: 'axis' }));
    svg.append(s('text', { x: cx, y: H - 8, class: 'tick x-tick', 'text-anchor': 'middle' }, timeLabel(b, bucketMs)));
  });
  svg.append(s('line', { x1: PAD.left, x2: W - PAD.right, y1: PAD.top + plotH, y2: PAD.top + plotH, class: 'axis' }));
  svg.append(s('line', { x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: PAD.top + plotH, class: 'axis' }));
  if (kind === 'stack') drawBars(svg, { buckets, series, x, y, slot, format });
  else drawLines(svg, { buckets, series, x, y, slot, format });
  const legend = h('ul', { class: 'legend', 'aria-label': `${title}: legend` },
    series.map((se, i) => h('li', null, h('span', { class: `swatch series-${colour(se, i)}`, 'aria-hidden': 'true' }), se.name)));
  return h('figure', { class: 'chart-figure' }, svg, legend);
}

function drawBars(svg, { buckets, series, x, y, slot, format }) {
  const width = Math.max(1, slot * 0.72);
  buckets.forEach((b, i) => {
    let base = 0;
    series.forEach((se, k) => {
      const v = se.values[i] || 0;
      if (v <= 0) return;
      const rect = s('rect', { x: x(i) + (slot - width) / 2, y: y(base + v), width, height: Math.max(0.5, y(base) - y(base + v)), class: `bar series-${colour(se, k)}` },
        s('title', null, `${se.name}: ${format(v)}`));
      svg.append(rect);
      base += v;
    });
  });
}

function drawLines(svg, { buckets, series, x, y, slot, format }) {
  series.forEach((se, k) => {
    // A bucket without a value breaks the line rather than dropping it to zero.
    let d = '';
    let pen = false;
    buckets.forEach((_, i) => {
      const v = se.values[i];
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${(x(i) + slot / 2).toFixed(1)},${y(v).toFixed(1)} `;
      pen = true;
      svg.append(s('circle', { cx: x(i) + slot / 2, cy: y(v), r: 2.5, class: `dot series-${colour(se, k)}` }, s('title', null, `${se.name}: ${format(v)}`)));
    });
    if (d) svg.insertBefore(s('path', { d, class: `line series-${colour(se, k)}` }), svg.querySelector('circle'));
  });
}

/** The chart's figures as a table: a row per bucket, a column per series (and their total). */
export function chartTable({ title, buckets, bucketMs, series, format = String, total = true }) {
  const columns = [
    { label: 'Time', value: (r) => new Date(r.at).toLocaleString('en-GB', bucketMs >= 86_400_000 ? { dateStyle: 'medium' } : { dateStyle: 'short', timeStyle: 'short' }) },
    ...series.map((se, k) => ({ label: se.name, class: 'num', value: (r) => format(r.values[k]) })),
  ];
  if (total) columns.push({ label: 'Total', class: 'num', value: (r) => format(r.values.reduce((a, v) => a + (v || 0), 0)) });
  // Built when first opened: a page has several charts of up to a few hundred buckets.
  const details = h('details', { class: 'chart-data' }, h('summary', null, `${title} as a table`));
  details.addEventListener('toggle', () => {
    if (!details.open || details.querySelector('table')) return;
    const rows = buckets.map((at, i) => ({ at, values: series.map((se) => se.values[i]) }));
    details.append(table({ columns, rows, caption: title }));
  });
  return details;
}
