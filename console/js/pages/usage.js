// Usage: requests, errors, tokens, cost and latency over time from the call store's totals
// (GET /admin/usage; a tenant user's own /admin/tenants/{t}/usage), grouped by API, app or
// model, in a time range. The range and the grouping live in the URL's query, so a view can
// be linked. Each chart has its totals beside it and its figures in a table under it.

import { api, session, isOperator, query, seg, navigate } from '../core.js';
import { h, page, card, empty, fmt, button } from '../ui.js';
import { timeChart, chartTable } from '../chart.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The picker's ranges: their length and the bucket their chart is drawn in. */
export const RANGES = {
  '1h': { label: 'Last hour', span: HOUR, bucket: 'minute' },
  '24h': { label: 'Last 24 hours', span: DAY, bucket: 'hour' },
  '7d': { label: 'Last 7 days', span: 7 * DAY, bucket: 'day' },
  custom: { label: 'Custom range' },
};

const BUCKET_MS = { minute: MINUTE, hour: HOUR, day: DAY };
const GROUPS = [['route', 'API'], ['app', 'App'], ['model', 'Model']];
/** Groups drawn on their own; the rest are added up as "Other". */
const SHOWN = 5;
/** console.css's grey, for the groups added up as "Other". */
const OTHER_COLOUR = 6;

/** A datetime-local value (local time) for `ms`. */
function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * MINUTE);
  return d.toISOString().slice(0, 16);
}

/**
 * The time window a query asks for: { from, to, bucket, error }. Custom ranges take their
 * bucket from their length (minutes up to 3 hours, hours up to 3 days, then days).
 */
export function timeWindow(q, now = Date.now()) {
  const range = RANGES[q.range] ? q.range : '24h';
  if (range !== 'custom') {
    const r = RANGES[range];
    return { range, from: now - r.span, to: now, bucket: r.bucket };
  }
  const from = q.from ? new Date(q.from).getTime() : NaN;
  const to = q.to ? new Date(q.to).getTime() : now;
  if (Number.isNaN(from) || Number.isNaN(to)) return { range, error: 'Give the custom range a start and an end.' };
  if (from >= to) return { range, error: 'The start of the range must be before its end.' };
  const span = to - from;
  return { range, from, to, bucket: span <= 3 * HOUR ? 'minute' : span <= 3 * DAY ? 'hour' : 'day' };
}

function usagePath() {
  return isOperator() ? '/admin/usage' : `/admin/tenants/${seg(session.me.tenant)}/usage`;
}

async function render({ query: q }) {
  const group = GROUPS.some(([g]) => g === q.group) ? q.group : 'route';
  const w = timeWindow(q);
  const tenant = isOperator() ? q.tenant || '' : session.me.tenant;
  const controls = picker(q, w, group);
  const lead = isOperator()
    ? (tenant ? `Calls of the tenant ${tenant}.` : 'Calls of every tenant.')
    : `Calls of the tenant ${tenant}.`;
  if (w.error) return page({ title: 'Usage', lead }, controls, empty(w.error));
  const params = { from: w.from, to: w.to, bucket: w.bucket, group_by: group };
  if (isOperator() && tenant) params.tenant = tenant;
  const { usage } = await api('GET', `${usagePath()}${query(params)}`);
  if (!usage.length) {
    return page({ title: 'Usage', lead }, controls,
      empty('No calls in this time range.', h('a', { href: `#/usage${query({ ...q, range: '7d', from: '', to: '' })}` }, 'Look at the last 7 days')));
  }
  const data = shape(usage, w, group);
  return page({ title: 'Usage', lead }, controls, summary(data), h('div', { class: 'charts' }, charts(data)));
}

/** The range and grouping controls; a change goes to the URL (and so to history). */
function picker(q, w, group) {
  const go = (changes) => navigate(`/usage${query({ ...q, ...changes })}`);
  const range = h('select', { id: 'usage-range', onchange: (e) => go({ range: e.target.value }) },
    Object.entries(RANGES).map(([v, r]) => h('option', { value: v, selected: v === w.range }, r.label)));
  const groupBy = h('select', { id: 'usage-group', onchange: (e) => go({ group: e.target.value }) },
    GROUPS.map(([v, l]) => h('option', { value: v, selected: v === group }, l)));
  const now = Date.now();
  const from = h('input', { id: 'usage-from', type: 'datetime-local', value: q.from || localInput(now - DAY) });
  const to = h('input', { id: 'usage-to', type: 'datetime-local', value: q.to || localInput(now) });
  const custom = w.range === 'custom'
    ? [field('From', from), field('To', to), button('Show', () => go({ range: 'custom', from: from.value, to: to.value }), 'primary', { id: 'usage-apply' })]
    : [];
  const tenant = isOperator()
    ? h('form', { class: 'tenant-filter', onsubmit: (e) => { e.preventDefault(); go({ tenant: e.target.elements.tenant.value.trim() }); } },
      field('Tenant', h('input', { id: 'usage-tenant', name: 'tenant', value: q.tenant || '', placeholder: 'every tenant' })))
    : null;
  return h('div', { class: 'toolbar', role: 'group', 'aria-label': 'What to show' },
    field('Time range', range), field('Group by', groupBy), custom, tenant);
}

function field(label, control) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}

/**
 * The rows as charts want them: every bucket of the window (empty ones too), the groups by
 * requests (the first SHOWN by name, the rest as "Other"), and the totals.
 */
function shape(rows, w, group) {
  const size = BUCKET_MS[w.bucket];
  const first = Math.floor(w.from / size) * size;
  const buckets = [];
  for (let b = first; b < w.to; b += size) buckets.push(b);
  const index = new Map(buckets.map((b, i) => [b, i]));
  const byGroup = new Map();
  for (const r of rows) {
    const name = r.group || '(none)';
    if (!byGroup.has(name)) byGroup.set(name, { name, requests: 0, rows: [] });
    const g = byGroup.get(name);
    g.requests += r.requests;
    g.rows.push(r);
  }
  const ranked = [...byGroup.values()].sort((a, b) => b.requests - a.requests || a.name.localeCompare(b.name));
  const named = ranked.slice(0, ranked.length > SHOWN + 1 ? SHOWN : ranked.length);
  const rest = ranked.slice(named.length);
  const series = (pick, { other = true } = {}) => {
    const make = (name, groups) => {
      const values = buckets.map(() => 0);
      for (const g of groups) for (const r of g.rows) {
        const i = index.get(Date.parse(r.bucket));
        if (i !== undefined) values[i] += pick(r);
      }
      return { name, values };
    };
    const out = named.map((g) => make(g.name, [g]));
    if (other && rest.length) out.push({ ...make(`Other (${rest.length})`, rest), colour: OTHER_COLOUR });
    return out;
  };
  const latency = named.map((g) => {
    const values = buckets.map(() => null);
    for (const r of g.rows) {
      const i = index.get(Date.parse(r.bucket));
      if (i !== undefined && r.latency_ms.p95 !== null) values[i] = Math.max(values[i] ?? 0, r.latency_ms.p95);
    }
    return { name: g.name, values };
  });
  const sum = (pick) => rows.reduce((a, r) => a + pick(r), 0);
  const totals = {
    requests: sum((r) => r.requests),
    errors: sum((r) => r.errors),
    client_errors: sum((r) => r.client_errors),
    prompt_tokens: sum((r) => r.prompt_tokens),
    completion_tokens: sum((r) => r.completion_tokens),
    cost_usd: sum((r) => r.cost_usd),
    p95: Math.max(...rows.map((r) => r.latency_ms.p95 ?? 0)),
  };
  return { buckets, bucketMs: size, series, latency, totals, group, ranked };
}

function summary({ totals: t }) {
  const tile = (label, value, key, sub) => h('div', { class: 'tile stat', 'data-total': key },
    h('span', { class: 'tile-value' }, value), h('span', { class: 'tile-label' }, label), sub ? h('span', { class: 'tile-sub' }, sub) : null);
  return h('div', { class: 'tiles' },
    tile('Requests', fmt.num(t.requests), 'requests'),
    tile('Errors (5xx, no answer)', fmt.num(t.errors), 'errors', `${fmt.pct(t.requests ? t.errors / t.requests : 0)} of requests · ${fmt.num(t.client_errors)} 4xx`),
    tile('Tokens', fmt.num(t.prompt_tokens + t.completion_tokens), 'tokens', `${fmt.num(t.prompt_tokens)} prompt · ${fmt.num(t.completion_tokens)} completion`),
    tile('Cost', fmt.cost(t.cost_usd), 'cost'));
}

/** The sum of each series over the range, beside its chart. */
function totalsList(title, series, format, overall) {
  return h('dl', { class: 'chart-totals', 'aria-label': `${title}: totals` },
    h('dt', null, 'Total'), h('dd', { class: 'total' }, format(overall)),
    series.map((se) => [h('dt', null, se.name), h('dd', null, format(se.values.reduce((a, v) => a + (v || 0), 0)))]));
}

function charts(d) {
  const groupLabel = GROUPS.find(([g]) => g === d.group)[1];
  const num = (v) => fmt.num(Math.round(v * 100) / 100);
  const specs = [
    { id: 'requests', title: 'Requests', series: d.series((r) => r.requests), format: num, total: d.totals.requests },
    { id: 'errors', title: 'Errors (5xx and no answer)', series: d.series((r) => r.errors), format: num, total: d.totals.errors },
    { id: 'tokens', title: 'Tokens (prompt and completion)', series: d.series((r) => r.prompt_tokens + r.completion_tokens), format: num, total: d.totals.prompt_tokens + d.totals.completion_tokens },
    { id: 'cost', title: 'Cost (USD)', series: d.series((r) => r.cost_usd), format: fmt.cost, total: d.totals.cost_usd },
  ];
  const out = specs.map((sp) => card(`${sp.title} by ${groupLabel.toLowerCase()}`,
    h('div', { class: 'chart-row', 'data-chart': sp.id },
      timeChart({ title: sp.title, buckets: d.buckets, bucketMs: d.bucketMs, series: sp.series, format: sp.format }),
      totalsList(sp.title, sp.series, sp.format, sp.total)),
    chartTable({ title: sp.title, buckets: d.buckets, bucketMs: d.bucketMs, series: sp.series, format: sp.format })));
  const ms = (v) => (v === null || v === undefined ? '–' : fmt.ms(v));
  out.push(card(`Latency, p95 by ${groupLabel.toLowerCase()}`,
    h('div', { class: 'chart-row', 'data-chart': 'latency' },
      timeChart({ title: 'Latency p95', buckets: d.buckets, bucketMs: d.bucketMs, series: d.latency, kind: 'line', format: (v) => `${fmt.num(Math.round(v))} ms` }),
      h('dl', { class: 'chart-totals', 'aria-label': 'Latency: highest p95' },
        h('dt', null, 'Highest p95'), h('dd', { class: 'total' }, ms(d.totals.p95)),
        d.latency.map((se) => [h('dt', null, se.name), h('dd', null, ms(Math.max(...se.values.map((v) => v ?? 0))))]))),
    chartTable({ title: 'Latency p95', buckets: d.buckets, bucketMs: d.bucketMs, series: d.latency, format: ms, total: false }),
    h('p', { class: 'help' }, 'Percentiles come from each bucket’s histogram and read at most about a fifth above the true value.')));
  return out;
}

export const routes = [{ path: '/usage', title: 'Usage', nav: { section: 'Observe', label: 'Usage' }, render }];
