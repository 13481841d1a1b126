// The audit log (operators): every change made through the admin API, the CLI or the console,
// newest first, with who made it (the signed-in user, the token's user, or `config`), from
// where, what it did to which object, and the change itself. Filters are the API's: an action
// (exactly, or a dotted prefix such as `key`), a target (`tenant:acme`), and how many rows.

import { api, query, navigate } from '../core.js';
import { h, page, table, empty, badge, a, form } from '../ui.js';

const LIMITS = [['100', '100 rows'], ['500', '500 rows'], ['2000', '2,000 rows']];

async function render({ query: q }) {
  const params = { action: q.action, target: q.target, limit: q.limit || 100 };
  const rows = await api('GET', `/admin/audit${query(params)}`);
  const filtered = q.action || q.target;
  return page({ title: 'Audit log', lead: 'Every change to tenants, apps, keys, subscriptions, APIs, users and limits, newest first.' },
    filters(q),
    table({
      caption: `${rows.length} change${rows.length === 1 ? '' : 's'}, newest first`,
      columns: [
        { label: 'When', value: (r) => h('time', { datetime: r.at }, new Date(r.at).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' })) },
        { label: 'Who', value: (r) => [h('strong', null, r.actor), r.remote ? h('div', { class: 'help' }, r.remote) : null] },
        { label: 'Action', value: (r) => badge(r.action, 'neutral') },
        { label: 'Target', value: (r) => h('span', { class: 'mono' }, r.target) },
        { label: 'Change', value: (r) => change(r.detail) },
      ],
      rows,
      empty: empty(filtered ? 'No change matches these filters.' : 'Nothing has been changed yet.', filtered ? a('#/audit', 'Clear the filters') : null),
    }));
}

/** A change's detail: its fields, one a line, each value as JSON (objects stay compact). */
function change(detail) {
  if (detail === null || detail === undefined) return '–';
  if (typeof detail !== 'object' || Array.isArray(detail)) return h('code', null, JSON.stringify(detail));
  const entries = Object.entries(detail);
  if (!entries.length) return '–';
  return h('dl', { class: 'change' }, entries.map(([k, v]) => [h('dt', null, k), h('dd', null, v === null ? '–' : h('code', null, typeof v === 'string' ? v : JSON.stringify(dropNulls(v))))]));
}

/** An object without its null members (a bucket's key names only the parts it has). */
function dropNulls(v) {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null));
}

function filters(q) {
  const f = form({
    fields: [
      { name: 'action', label: 'Action', value: q.action, placeholder: 'key.create', help: 'Exactly, or everything under a prefix.' },
      { name: 'target', label: 'Target', value: q.target, placeholder: 'tenant:acme' },
      { name: 'limit', label: 'Show', type: 'select', options: LIMITS, value: q.limit || '100' },
    ],
    submit: 'Filter',
    inline: true,
    onSubmit: async (v) => navigate(`/audit${query({ action: v.action.trim(), target: v.target.trim(), limit: v.limit === '100' ? '' : v.limit })}`),
  });
  return h('div', { class: 'card filters', role: 'search', 'aria-label': 'Filter the audit log' }, f);
}

export const routes = [{ path: '/audit', title: 'Audit log', nav: { section: 'Govern', label: 'Audit log' }, roles: ['operator'], render }];
