// The overview: where a user starts after signing in. It counts what needs attention (an
// operator's pending subscription requests) and links to the pages each role uses most.

import { api, session, isOperator, query } from '../core.js';
import { h, page, card, a, fmt } from '../ui.js';

async function render() {
  const me = session.me;
  const [catalog, pending, tenant] = await Promise.all([
    api('GET', `/admin/catalog${query({ tenant: me.tenant })}`),
    isOperator() ? api('GET', `/admin/subscriptions${query({ state: 'pending' })}`) : null,
    me.tenant ? api('GET', `/admin/tenants/${encodeURIComponent(me.tenant)}`) : null,
  ]);
  const tiles = [
    tile('APIs in the catalog', catalog.length, '#/catalog', 'Browse the catalog'),
    pending ? tile('Subscription requests waiting', pending.length, '#/approvals', 'Review requests') : null,
    tenant ? tile(`Apps of ${me.tenant}`, (tenant.apps || []).length, '#/apps', 'Manage apps and keys') : null,
  ];
  return page({ title: `Welcome, ${me.name}`, lead: isOperator() ? 'You operate this gateway: every tenant, API and model.' : `You work in the tenant ${me.tenant}.` },
    h('div', { class: 'tiles' }, tiles),
    card('Get started',
      h('ol', { class: 'steps' },
        h('li', null, a('#/catalog', 'Find an API'), ' and read its reference.'),
        h('li', null, a('#/apps', 'Create an app'), ', then a key for it (shown once).'),
        h('li', null, 'Subscribe the app to the API; some APIs need an operator to approve.'),
        h('li', null, 'Call the gateway with the key, and watch the calls in ', a('#/usage', 'Usage'), '.'))));
}

function tile(label, value, href, action) {
  return h('a', { class: 'tile', href }, h('span', { class: 'tile-value' }, fmt.num(value)), h('span', { class: 'tile-label' }, label), h('span', { class: 'tile-action' }, `${action} →`));
}

export const routes = [{ path: '/', title: 'Overview', nav: { section: 'Console', label: 'Overview' }, render }];
