// The catalog: every API the user's tenant may see (an operator sees every published one), with
// its description, version, state, kind and which of the tenant's apps are subscribed, and a
// search box. An API's page shows its facts, its OpenAPI document as reference docs, and the
// form to subscribe an app.

import { api, query, isOperator, link } from '../core.js';
import { h, page, card, table, badge, empty, facts, a } from '../ui.js';
import { catalog, myTenant, kindLabel, subscribeForm, stateWithReason } from '../portal.js';
import { reference } from '../openapi.js';

/** The subscriptions the user may see (their tenant's; an operator's: every one), by API. */
async function subscriptionsByApi() {
  const subs = (await api('GET', `/admin/subscriptions${query({ tenant: myTenant() })}`)) || [];
  const by = new Map();
  for (const s of subs) {
    if (!by.has(s.api)) by.set(s.api, []);
    by.get(s.api).push(s);
  }
  return by;
}

function subscribedCell(subs) {
  if (!subs || !subs.length) return h('span', { class: 'muted' }, 'not subscribed');
  if (isOperator()) {
    const active = subs.filter((s) => s.state === 'active').length;
    const pending = subs.filter((s) => s.state === 'pending').length;
    return h('span', null, `${active} active`, pending ? [', ', badge(`${pending} pending`, 'pending')] : null);
  }
  return h('ul', { class: 'inline-list' }, subs.map((s) => h('li', null, a(link('/apps', s.tenant, s.app), s.app), ' ', badge(s.state))));
}

async function list() {
  const [apis, subs] = await Promise.all([catalog(), subscriptionsByApi()]);
  const search = h('input', { type: 'search', id: 'catalog-search', placeholder: 'Search by name or description', 'aria-label': 'Search the catalog' });
  const rows = apis.map((api) => ({ api, text: `${api.name} ${api.description || ''} ${api.version || ''} ${kindLabel(api.kind)}`.toLowerCase() }));
  const tableNode = table({
    columns: [
      { label: 'API', value: ({ api }) => h('div', null, a(link('/catalog', api.name), h('strong', null, api.name)), h('div', { class: 'muted small' }, api.description || 'No description.')) },
      { label: 'Version', value: ({ api }) => api.version || '–' },
      { label: 'State', value: ({ api }) => badge(api.state) },
      { label: 'Kind', value: ({ api }) => kindLabel(api.kind) },
      { label: 'Approval', value: ({ api }) => api.approval },
      { label: isOperator() ? 'Subscriptions' : 'Your apps', value: ({ api }) => subscribedCell(subs.get(api.name)) },
    ],
    rows,
    empty: empty(isOperator() ? 'No API is published yet. Publish one from the APIs page.' : 'No API is visible to your tenant yet. Ask an operator to publish one.'),
  });
  const none = h('p', { class: 'muted', role: 'status', hidden: true }, 'No API matches your search.');
  search.addEventListener('input', () => {
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    tableNode.querySelectorAll('tbody tr').forEach((tr, i) => {
      const hit = !q || rows[i].text.includes(q);
      tr.hidden = !hit;
      if (hit) shown++;
    });
    none.hidden = shown > 0;
  });
  return page({ title: 'Catalog', lead: 'The APIs you can subscribe your apps to. Open one for its reference.' },
    apis.length ? h('div', { class: 'toolbar' }, search) : null, tableNode, none);
}

async function detail({ params, refresh }) {
  const [apis, subs] = await Promise.all([catalog(), subscriptionsByApi()]);
  const entry = apis.find((x) => x.name === params.api);
  if (!entry) {
    return page({ title: params.api, lead: 'Not in your catalog.' },
      empty('There is no published API of this name that your tenant may see.', a('#/catalog', 'Back to the catalog')));
  }
  const mine = subs.get(entry.name) || [];
  const subscribe = entry.auth === 'none'
    ? h('p', { class: 'muted' }, 'This API takes no key: call it without a subscription.')
    : await subscribeForm({ api: entry.name, onDone: () => refresh() });
  return page({ title: entry.name, lead: entry.description || 'No description.', actions: [a('#/catalog', '← Catalog')] },
    h('div', { class: 'grid' },
      card('About',
        facts([
          ['State', badge(entry.state)],
          ['Kind', kindLabel(entry.kind)],
          ['Version', entry.version],
          ['Path', entry.path ? h('code', null, entry.path) : null],
          ['Methods', entry.methods && entry.methods.length ? entry.methods.join(', ') : 'any'],
          ['Key', entry.auth === 'api_key' ? 'API key' : 'none'],
          ['Approval', entry.approval === 'manual' ? 'an operator approves each app' : 'automatic'],
          ['Owner', entry.owner],
          entry.successor ? ['Successor', a(link('/catalog', entry.successor), entry.successor)] : null,
          entry.sunset ? ['Sunset', entry.sunset] : null,
          entry.models ? ['Models', entry.models.length ? entry.models.join(', ') : 'none visible to you'] : null,
          entry.mcp ? ['MCP endpoint', h('code', null, entry.mcp.endpoint || '–')] : null,
          entry.mcp ? ['Tool prefix', h('code', null, entry.mcp.tool_prefix || '–')] : null,
        ])),
      card('Subscribe an app',
        mine.length
          ? h('ul', { class: 'inline-list subs' }, mine.map((s) => h('li', null, a(link('/apps', s.tenant, s.app), isOperator() ? `${s.tenant}/${s.app}` : s.app), ' ', stateWithReason(s))))
          : h('p', { class: 'muted' }, 'No app is subscribed yet.'),
        subscribe)),
    h('h2', { class: 'section-title' }, 'Reference'),
    reference(entry.openapi));
}

export const routes = [
  { path: '/catalog', title: 'Catalog', nav: { section: 'Discover', label: 'Catalog' }, render: list },
  { path: '/catalog/:api', title: 'API', parent: '/catalog', render: detail },
];
