// The call log: the call store's records, newest first (GET /admin/calls; a tenant user's own
// /admin/tenants/{t}/calls), filtered by time, app, API, model, status class and text in the
// path, a page at a time (the API's cursor is kept in the URL, so a page can be linked), and
// one call's whole record (/calls/:id), every field the gateway wrote.

import { api, ApiError, session, isOperator, query, seg, navigate, link } from '../core.js';
import { h, page, card, table, empty, badge, fmt, facts, a, form } from '../ui.js';

const HOUR = 3_600_000;
const RANGES = [['', 'Any time'], ['1h', 'Last hour'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days']];
const SPANS = { '1h': HOUR, '24h': 24 * HOUR, '7d': 7 * 24 * HOUR };
const STATUS = [['', 'Any status'], ['2xx', '2xx success'], ['3xx', '3xx redirect'], ['4xx', '4xx client error'], ['5xx', '5xx server error'], ['0', 'No answer']];
/** The filters the URL may carry, as the API names them. */
const FILTERS = ['app', 'route', 'model', 'status', 'path'];
const PAGE = 50;

/** A record's time (RFC 3339) to the second, in the browser's time zone. */
const when = (t) => new Date(t).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });

function base() {
  return isOperator() ? '/admin' : `/admin/tenants/${seg(session.me.tenant)}`;
}

async function list({ query: q }) {
  const params = { limit: PAGE, cursor: q.cursor };
  for (const f of FILTERS) params[f] = q[f];
  if (isOperator()) params.tenant = q.tenant;
  if (SPANS[q.range]) params.from = Date.now() - SPANS[q.range];
  const result = await api('GET', `${base()}/calls${query(params)}`);
  const filtered = FILTERS.some((f) => q[f]) || q.range || q.tenant;
  const rows = result.calls;
  const body = rows.length
    ? table({ columns: columns(), rows, caption: `Calls, newest first${q.cursor ? ' (a later page)' : ''}` })
    : empty(filtered ? 'No call matches these filters.' : 'No calls are stored yet. Calls show here a moment after the gateway answers them.',
      filtered ? a('#/calls', 'Clear the filters') : null);
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of calls' },
    q.cursor ? a(`#/calls${query({ ...q, cursor: '' })}`, '← Newest calls') : null,
    result.next_cursor ? a(`#/calls${query({ ...q, cursor: result.next_cursor })}`, 'Older calls →') : null);
  return page({ title: 'Calls', lead: isOperator() ? 'Every call the gateway stored, newest first.' : `The calls of the tenant ${session.me.tenant}, newest first.` },
    filters(q), body, pager);
}

function filters(q) {
  const fields = [
    { name: 'range', label: 'Time', type: 'select', options: RANGES, value: q.range || '' },
    isOperator() ? { name: 'tenant', label: 'Tenant', value: q.tenant, placeholder: 'any' } : null,
    { name: 'app', label: 'App', value: q.app, placeholder: 'any' },
    { name: 'route', label: 'API', value: q.route, placeholder: 'any' },
    { name: 'model', label: 'Model', value: q.model, placeholder: 'any' },
    { name: 'status', label: 'Status', type: 'select', options: STATUS, value: q.status || '' },
    { name: 'path', label: 'Path contains', value: q.path, placeholder: '/orders' },
  ].filter(Boolean);
  const f = form({
    fields,
    submit: 'Filter',
    inline: true,
    onSubmit: async (values) => {
      const next = {};
      for (const [k, v] of Object.entries(values)) next[k] = String(v).trim();
      navigate(`/calls${query(next)}`);
    },
  });
  return h('div', { class: 'card filters', role: 'search', 'aria-label': 'Filter calls' }, f);
}

function status(code) {
  if (!code) return badge('no answer', 'error');
  return badge(String(code), code >= 500 ? 'error' : code >= 400 ? 'warn' : 'ok');
}

function columns() {
  const llm = (c) => c.llm || {};
  return [
    { label: 'Time', value: (c) => a(link('/calls', c.request_id), when(c.time)) },
    { label: 'Request', value: (c) => h('span', { class: 'mono' }, `${c.method} ${c.path}`) },
    { label: 'API', value: (c) => c.route || '–' },
    { label: 'Status', value: (c) => status(c.status) },
    { label: 'Latency', class: 'num', value: (c) => fmt.ms(c.latency_ms) },
    { label: isOperator() ? 'Tenant · app' : 'App', value: (c) => (isOperator() ? [c.tenant, c.app].filter(Boolean).join(' · ') : c.app) || '–' },
    { label: 'Model', value: (c) => llm(c).model || llm(c).requested_model || '–' },
    { label: 'Tokens', class: 'num', value: (c) => (c.llm ? fmt.num(llm(c).prompt_tokens + llm(c).completion_tokens) : '–') },
    { label: 'Cost', class: 'num', value: (c) => (c.llm ? fmt.cost(llm(c).cost_usd) : '–') },
  ];
}

// ---- one call -----------------------------------------------------------------------------

/** The record's fields in the sections the detail view shows them; the rest go under "Other". */
const SECTIONS = [
  ['Request', ['request_id', 'time', 'method', 'path', 'route', 'api_version', 'client', 'client_cert', 'bytes_in']],
  ['Answer', ['status', 'grpc_status', 'error', 'error_code', 'bytes_out', 'upstream', 'attempts']],
  ['Timings', ['latency_ms', 'upstream_latency_ms', 'ttfb_ms']],
  ['Caller', ['tenant', 'app', 'key']],
];
const CAPTURE = ['request_headers', 'request_body', 'response_body', 'bodies_truncated'];
const MS = new Set(['latency_ms', 'upstream_latency_ms', 'ttfb_ms', 'ttft_ms']);

function value(k, v) {
  if (v === null || v === undefined || v === '') return '–';
  if (MS.has(k)) return fmt.ms(v);
  if (k === 'cost_usd') return fmt.cost(v);
  if (k === 'status') return status(v);
  if (typeof v === 'object') return h('code', null, JSON.stringify(v));
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return fmt.num(v);
  return String(v);
}

/** A body as text, pretty-printed when it is JSON. */
function bodyText(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

async function detail({ params }) {
  let c;
  try {
    c = await api('GET', `${base()}/calls/${seg(params.id)}`);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    return page({ title: 'Call not found', actions: a('#/calls', '← All calls') },
      empty(`No call ${params.id} is stored${isOperator() ? '' : ` for the tenant ${session.me.tenant}`}: it may be older than the store keeps, or not yours to see.`, a('#/calls', 'Back to the calls')));
  }
  const shown = new Set(['llm', ...CAPTURE]);
  const sections = SECTIONS.map(([title, keys]) => {
    keys.forEach((k) => shown.add(k));
    return card(title, facts(keys.filter((k) => k in c).map((k) => [k, value(k, c[k])])));
  });
  if (c.llm) {
    sections.push(card('Model call', facts(Object.entries(c.llm).map(([k, v]) => [k, value(k, v)]))));
  }
  const other = Object.keys(c).filter((k) => !shown.has(k));
  if (other.length) sections.push(card('Other fields', facts(other.map((k) => [k, value(k, c[k])]))));
  const captured = [];
  if (c.request_headers) {
    const headers = Array.isArray(c.request_headers) ? c.request_headers : Object.entries(c.request_headers);
    captured.push(table({ caption: 'Request headers', columns: [{ label: 'Header', value: (r) => h('span', { class: 'mono' }, r[0]) }, { label: 'Value', value: (r) => h('span', { class: 'mono' }, r[1]) }], rows: headers }));
  }
  if ('request_body' in c) {
    captured.push(h('h3', null, 'Request body'), h('pre', { class: 'body', tabindex: '0' }, bodyText(c.request_body) || '(empty)'));
    captured.push(h('h3', null, 'Response body'), h('pre', { class: 'body', tabindex: '0' }, bodyText(c.response_body) || '(empty)'));
    if (c.bodies_truncated) captured.push(h('p', { class: 'help' }, 'A body was longer than the route’s capture limit and was cut.'));
  }
  const capture = captured.length
    ? card('Captured request and answer', captured)
    : card('Captured request and answer', h('p', { class: 'help' }, 'Not captured: the route’s capture setting keeps headers and bodies only when it is on.'));
  return page({ title: `${c.method} ${c.path}`, lead: `Call ${c.request_id} · ${when(c.time)}`, actions: a('#/calls', '← All calls') },
    h('div', { class: 'grid' }, sections), capture,
    h('details', { class: 'raw' }, h('summary', null, 'The whole record as JSON'), h('pre', { tabindex: '0' }, JSON.stringify(c, null, 2))));
}

export const routes = [
  { path: '/calls', title: 'Calls', nav: { section: 'Observe', label: 'Calls' }, render: list },
  { path: '/calls/:id', title: 'Call', parent: '/calls', render: detail },
];
