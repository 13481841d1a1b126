// APIs (operators): every API the gateway serves (routes, prompt APIs, upstream MCP servers)
// with its lifecycle state, visibility, approval mode and where it is defined. Publish,
// deprecate and retire go through PUT /admin/apis/{name}/state (an override of the configured
// state, which "Back to configured" removes). Routes stored through the console are created,
// edited and deleted here too (/admin/routes); declared ones are read-only.

import { api, seg } from '../core.js';
import { h, page, table, badge, button, toast, confirmDialog, form } from '../ui.js';
import { editor, sourceCell, rowActions, list, put, READ_ONLY_WHY } from '../entries.js';

const OPS = ['operator'];

/** The lifecycle moves offered from each state, as [target state, button label]. */
const MOVES = {
  draft: [['published', 'Publish']],
  published: [['deprecated', 'Deprecate'], ['retired', 'Retire']],
  deprecated: [['published', 'Publish'], ['retired', 'Retire']],
  retired: [['published', 'Publish']],
};

const WHY = {
  published: 'It becomes routable and appears in the catalog.',
  deprecated: 'It keeps serving, with a Deprecation header, and the catalog marks it.',
  retired: 'It answers 410 Gone from now on.',
};

async function renderList({ refresh }) {
  const [apis, routes, prompts] = await Promise.all([
    api('GET', '/admin/apis'),
    api('GET', '/admin/routes'),
    api('GET', '/admin/prompts').catch(() => []),
  ]);
  const byRoute = new Map(routes.routes.map((r) => [r.name, r]));
  const promptSource = new Map((prompts || []).map((p) => [p.name, p.source]));
  const rows = apis.map((x) => ({ ...x, entry: byRoute.get(x.name), promptSource: promptSource.get(String(x.name).replace(/\.v[^.]+$/, '')) }));
  // A stored route the configuration in force leaves out (a reload removed its upstream) is no
  // API now, but it is still there to fix or delete.
  const served = new Set(apis.map((x) => x.name));
  for (const r of routes.routes.filter((r) => !served.has(r.name))) {
    const settings = r.api || {};
    rows.push({ name: r.name, kind: r.handler === 'llm' ? 'llm' : 'rest', path: r.path_prefix || r.path, version: settings.version, state: 'not served', visibility: settings.visibility, approval: settings.approval, entry: r });
  }
  return page({
    title: 'APIs',
    lead: 'Every API the gateway serves, its lifecycle and who may use it. Changes apply on every worker within a second.',
    actions: h('a', { class: 'button primary', href: '#/apis/new' }, 'New route'),
  },
  table({
    columns: [
      { label: 'API', value: (r) => h('div', null, h('strong', null, r.name), h('div', { class: 'muted small' }, `${r.kind} · ${r.path || '–'}${r.version ? ` · v${r.version}` : ''}`)) },
      { label: 'State', value: (r) => stateCell(r) },
      { label: 'Visibility', value: (r) => visibility(r.visibility) },
      { label: 'Approval', value: (r) => badge(r.approval || 'auto', 'plain') },
      { label: 'Source', value: (r) => source(r) },
      { label: 'Lifecycle', value: (r) => lifecycle(r, refresh, apis.map((x) => x.name)) },
      { label: 'Route', value: (r) => (r.entry ? rowActions('routes', r.entry, '/apis/route', refresh) : managedElsewhere(r)) },
    ],
    rows,
    rowClass: (r) => `api-row api-${r.name.replace(/[^A-Za-z0-9_-]/g, '_')}`,
    empty: h('div', { class: 'empty' }, h('p', null, 'No APIs yet. Create a route to publish one.'), h('a', { class: 'button primary', href: '#/apis/new' }, 'New route')),
  }));
}

function stateCell(r) {
  if (r.entry && r.entry.served === false) return h('div', null, badge('not served', 'error'), h('div', { class: 'small problem' }, r.entry.problem));
  const overridden = r.override ? h('div', { class: 'muted small', title: 'Set here; the configured state is the route\'s own' }, `set here (configured: ${r.configured_state})`) : null;
  const next = r.state === 'deprecated' && (r.successor || r.sunset)
    ? h('div', { class: 'muted small' }, [r.successor ? `→ ${r.successor}` : null, r.sunset ? `sunset ${r.sunset.slice(0, 10)}` : null].filter(Boolean).join(', '))
    : null;
  return h('div', null, badge(r.state), next, overridden);
}

const visibility = (v) => (Array.isArray(v) ? `tenants: ${v.join(', ')}` : v || 'public');

function source(r) {
  if (r.entry) return sourceCell(r.entry);
  if (r.kind === 'prompt') return r.promptSource === 'config' ? sourceCell({ read_only: true }) : badge('prompt API', 'store');
  return sourceCell({ read_only: true });
}

function managedElsewhere(r) {
  if (r.kind === 'prompt') return h('span', { class: 'muted small' }, 'Prompt API: managed through /admin/prompts');
  return h('span', { class: 'muted small', title: READ_ONLY_WHY }, 'Declared in the configuration file');
}

/** The lifecycle buttons for the API's state, and the way back to the configured state. */
function lifecycle(r, refresh, names) {
  const moves = (MOVES[r.state] || []).map(([state, label]) =>
    button(label, () => move(r, state, label, refresh, names), state === 'retired' ? 'danger small' : 'small', { 'aria-label': `${label} ${r.name}` }));
  const reset = r.override
    ? button('Back to configured', () => unset(r, refresh), 'link small', { 'aria-label': `Back to the configured state of ${r.name}` })
    : null;
  return h('div', { class: 'row-actions' }, moves, reset);
}

async function move(r, state, label, refresh, names) {
  if (state === 'deprecated') return deprecate(r, names, refresh);
  const ok = await confirmDialog(`${label} ${r.name}? ${WHY[state]}`, { confirm: label, danger: state === 'retired' });
  if (!ok) return;
  try {
    await api('PUT', `/admin/apis/${seg(r.name)}/state`, { state });
    toast(`${r.name} is ${state}.`);
    refresh();
  } catch (e) {
    toast(e.message, 'error');
  }
}

/** Deprecating asks for the successor and the sunset date callers are told about. */
function deprecate(r, names, refresh) {
  const dialog = h('dialog', { class: 'dialog', 'aria-label': `Deprecate ${r.name}` });
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  const f = form({
    fields: [
      { name: 'successor', label: 'Successor', type: 'select', options: [['', '– none –'], ...names.filter((n) => n !== r.name).map((n) => [n, n])], value: r.successor || '', help: 'The API callers should move to (the Link header, the catalog).' },
      { name: 'sunset', label: 'Sunset date', type: 'date', value: (r.sunset || '').slice(0, 10), help: 'When it is to be retired (the Sunset header).' },
    ],
    submit: 'Deprecate',
    cancel: close,
    onSubmit: async (v) => {
      await api('PUT', `/admin/apis/${seg(r.name)}/state`, { state: 'deprecated', successor: v.successor || undefined, sunset: v.sunset || undefined });
      toast(`${r.name} is deprecated.`);
      close();
      refresh();
    },
  });
  dialog.addEventListener('cancel', close);
  dialog.append(h('p', null, `Deprecate ${r.name}? ${WHY.deprecated}`), f);
  document.body.append(dialog);
  dialog.showModal();
}

async function unset(r, refresh) {
  const ok = await confirmDialog(`Put ${r.name} back to its configured state (${r.configured_state})?`, { confirm: 'Back to configured' });
  if (!ok) return;
  try {
    await api('DELETE', `/admin/apis/${seg(r.name)}/state`);
    toast(`${r.name} is ${r.configured_state} again.`);
    refresh();
  } catch (e) {
    toast(e.message, 'error');
  }
}

// ---- a route's create and edit page ------------------------------------------------------

async function renderRoute({ params }) {
  const upstreams = (await api('GET', '/admin/upstreams')).upstreams.map((u) => u.name);
  return editor({
    kind: 'routes',
    what: 'route',
    name: params.name,
    listPath: '/apis',
    lead: 'A route sends the requests under its path to an upstream; its API settings decide who may call it.',
    fields: (t) => routeFields(t, upstreams),
    toTable: routeTable,
  });
}

function routeFields(t, upstreams) {
  const api = t.api || {};
  const ups = [['', '– none (an LLM route) –'], ...upstreams.map((u) => [u, u])];
  if (t.upstream && !upstreams.includes(t.upstream)) ups.push([t.upstream, `${t.upstream} (missing)`]);
  return [
    { name: 'name', label: 'Name', required: true, placeholder: 'orders', help: 'The API\'s name in the catalog and in subscriptions; it cannot change later.', value: t.name },
    { name: 'path_prefix', label: 'Path prefix', placeholder: '/orders', help: 'Requests whose path starts with it are this route\'s.', value: t.path_prefix },
    { name: 'methods', label: 'Methods', placeholder: 'GET, POST', help: 'Comma-separated; empty for every method.', value: (t.methods || []).join(', ') },
    { name: 'upstream', label: 'Upstream', type: 'select', options: ups, value: t.upstream ?? (t.name ? '' : upstreams[0]), help: upstreams.length ? null : 'No upstream yet: create one under Upstreams first.' },
    { name: 'auth', label: 'Authentication', type: 'select', options: [['api_key', 'API key'], ['none', 'None (open)']], value: api.auth || (t.name ? 'none' : 'api_key') },
    { name: 'approval', label: 'Subscription approval', type: 'select', options: [['auto', 'Automatic'], ['manual', 'An operator approves']], value: api.approval || 'auto' },
    { name: 'visibility', label: 'Visibility', placeholder: 'public', help: '"public", or the comma-separated tenants that may see and subscribe to it.', value: Array.isArray(api.visibility) ? api.visibility.join(', ') : api.visibility || 'public' },
    { name: 'state', label: 'Configured state', type: 'select', options: [['draft', 'Draft (not routable yet)'], ['published', 'Published'], ['deprecated', 'Deprecated'], ['retired', 'Retired']], value: api.state || (t.name ? 'published' : 'draft'), help: 'Publish, deprecate and retire from the APIs list later.' },
    { name: 'description', label: 'Description', type: 'textarea', rows: 3, value: api.description },
    { name: 'version', label: 'Version', placeholder: '1.0.0', value: api.version },
  ];
}

function routeTable(v, t) {
  put(t, 'path_prefix', v.path_prefix.trim());
  put(t, 'methods', list(v.methods).map((m) => m.toUpperCase()));
  put(t, 'upstream', v.upstream);
  const vis = v.visibility.trim();
  const apiSection = t.api || {};
  put(apiSection, 'auth', v.auth);
  put(apiSection, 'approval', v.approval);
  put(apiSection, 'visibility', !vis || vis === 'public' ? 'public' : list(vis));
  put(apiSection, 'state', v.state);
  put(apiSection, 'description', v.description.trim());
  put(apiSection, 'version', v.version.trim());
  t.api = apiSection;
  return t;
}

export const routes = [
  { path: '/apis', title: 'APIs', nav: { section: 'Govern', label: 'APIs' }, roles: OPS, render: renderList },
  { path: '/apis/new', title: 'New route', parent: '/apis', roles: OPS, render: renderRoute },
  { path: '/apis/route/:name', title: 'Route', parent: '/apis', roles: OPS, render: renderRoute },
];
