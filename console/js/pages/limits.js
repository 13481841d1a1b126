// Limits (operators): the configured limits, the host's most refused buckets, and one bucket
// (/limits/:limit?tenant=..&app=..): its state at the rate the tenant's plan gives it, and a
// reset (confirmed, audited as limit.reset). The key parts a bucket is looked up by are the
// limit's own `key`, kept in the URL so a bucket can be linked.

import { api, query, seg, link, navigate } from '../core.js';
import { h, page, card, table, empty, badge, fmt, facts, a, form, button, confirmDialog, toast } from '../ui.js';

const PART_LABELS = { tenant: 'Tenant', app: 'App', api_key: 'Key id', route: 'Route', model: 'Model', client_ip: 'Client IP' };

async function list() {
  const [limits, top] = await Promise.all([api('GET', '/admin/limits'), api('GET', '/admin/limits/top?n=20')]);
  return page({ title: 'Limits', lead: 'Rate limits and caps declared in the configuration, and the buckets that refuse the most.' },
    card('Configured limits', table({
      columns: [
        { label: 'Limit', value: (l) => a(link('/limits', l.name), l.name) },
        { label: 'Counts', value: (l) => l.counts },
        { label: 'Rate', class: 'num', value: (l) => (l.counts === 'concurrency' ? `${fmt.num(l.rate)} at once` : `${fmt.num(l.rate)} / ${l.period}`) },
        { label: 'Burst', class: 'num', value: (l) => fmt.num(l.burst) },
        { label: 'Keyed by', value: (l) => (l.key.length ? l.key.join(', ') : 'everyone together') },
        { label: 'Scope', value: (l) => badge(l.scope, 'neutral') },
        { label: 'Plans', value: (l) => (l.plans.length ? l.plans.join(', ') : '–') },
      ],
      rows: limits,
      empty: empty('No limits are configured. Declare them as [[limits]] in the configuration and name them on routes, models or plans.'),
    })),
    card('Most refused buckets', table({
      caption: 'Refusals on this host since it started, most first',
      columns: [
        { label: 'Limit', value: (r) => parseLabel(r.label).limit },
        { label: 'Bucket', value: (r) => h('span', { class: 'mono' }, Object.entries(parseLabel(r.label).parts).map(([k, v]) => `${k}=${v}`).join(' ') || '(one bucket)') },
        { label: 'Refusals', class: 'num', value: (r) => fmt.num(r.refusals) },
        { label: 'Overcount', class: 'num', value: (r) => fmt.num(r.overcount) },
        { label: '', value: (r) => { const p = parseLabel(r.label); return a(`${link('/limits', p.limit)}${query(p.parts)}`, 'Inspect'); } },
      ],
      rows: top,
      empty: empty('No request has been refused by a limit since the gateway started.'),
    })));
}

/** A top entry's label, `name part=value ...`, as the limit and its key parts. */
export function parseLabel(label) {
  const [limit, ...rest] = label.split(' ');
  const parts = {};
  for (const p of rest) {
    const i = p.indexOf('=');
    if (i > 0) parts[p.slice(0, i)] = p.slice(i + 1);
  }
  return { limit, parts };
}

async function bucket({ params, query: q, refresh }) {
  const limits = await api('GET', '/admin/limits');
  const spec = limits.find((l) => l.name === params.limit);
  if (!spec) {
    return page({ title: params.limit, actions: a('#/limits', '← All limits') }, empty(`There is no limit named ${params.limit}.`, a('#/limits', 'See the configured limits')));
  }
  const parts = {};
  for (const k of spec.key) if (q[k] !== undefined) parts[k] = q[k];
  const complete = spec.key.every((k) => q[k] !== undefined && q[k] !== '');
  const lookup = form({
    fields: spec.key.map((k) => ({ name: k, label: PART_LABELS[k] || k, value: q[k], required: true })),
    submit: 'Show bucket',
    inline: true,
    onSubmit: async (v) => navigate(`${link('/limits', spec.name).slice(1)}${query(v)}`),
  });
  let state = null;
  if (complete) state = await api('GET', `/admin/limits/${seg(spec.name)}/bucket${query(parts)}`);
  return page({ title: `Limit ${spec.name}`, lead: `${spec.counts}: ${spec.counts === 'concurrency' ? `${fmt.num(spec.rate)} at once` : `${fmt.num(spec.rate)} per ${spec.period}, burst ${fmt.num(spec.burst)}`}, ${spec.scope}.`, actions: a('#/limits', '← All limits') },
    spec.key.length ? card('Which bucket', h('p', { class: 'help' }, `This limit keeps a bucket per ${spec.key.join(' and ')}.`), lookup) : null,
    state ? stateCard(spec, parts, state, refresh) : empty('Give every key part to see its bucket.'));
}

/** Milliseconds as the two largest units: "59 min 55 s", "1.2 s". */
function duration(ms) {
  if (ms < 10_000) return `${(ms / 1000).toLocaleString('en-US', { maximumFractionDigits: 1 })} s`;
  const units = [['d', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000]];
  const out = [];
  let left = Math.round(ms);
  for (const [u, size] of units) {
    if (left >= size || out.length) {
      out.push(`${Math.floor(left / size)} ${u}`);
      left %= size;
    }
    if (out.length === 2) break;
  }
  return out.join(' ');
}

function stateCard(spec, parts, st, refresh) {
  const used = st.capacity ? Math.min(1, Math.max(0, (st.capacity - st.remaining) / st.capacity)) : 0;
  const meter = h('div', { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': st.capacity, 'aria-valuenow': st.remaining, 'aria-label': 'Remaining in the bucket' });
  const fill = h('div', { class: 'meter-fill' });
  fill.style.width = `${Math.round((1 - used) * 100)}%`;
  meter.append(fill);
  const reset = async () => {
    const ok = await confirmDialog(`Reset the bucket of ${spec.name} for ${Object.entries(parts).map(([k, v]) => `${k}=${v}`).join(' ') || 'everyone'}? Its next request finds it full.`, { confirm: 'Reset bucket', danger: true });
    if (!ok) return;
    await api('DELETE', `/admin/limits/${seg(spec.name)}/bucket${query(parts)}`);
    toast('The bucket was reset.');
    refresh();
  };
  return card('Bucket state',
    h('div', { class: 'bucket-state' },
      h('p', { class: 'big-figure', 'data-figure': 'remaining' }, fmt.num(st.remaining), h('span', { class: 'help' }, ` of ${fmt.num(st.capacity)} left`)),
      meter),
    facts([
      ['Remaining', h('span', { 'data-field': 'remaining' }, fmt.num(st.remaining))],
      ['Capacity', fmt.num(st.capacity)],
      ['Held (in flight)', st.held === undefined ? '–' : fmt.num(st.held)],
      ['Full again in', st.reset_ms ? duration(st.reset_ms) : 'now'],
      ['Next request allowed in', st.retry_after_ms ? duration(st.retry_after_ms) : 'now'],
      ['Bucket id', h('span', { class: 'mono' }, st.bucket)],
    ]),
    h('div', { class: 'form-actions' }, button('Reset bucket…', reset, 'danger', { id: 'reset-bucket' })));
}

export const routes = [
  { path: '/limits', title: 'Limits', nav: { section: 'Govern', label: 'Limits' }, roles: ['operator'], render: list },
  { path: '/limits/:limit', title: 'Limit', parent: '/limits', roles: ['operator'], render: bucket },
];
