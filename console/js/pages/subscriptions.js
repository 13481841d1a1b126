// Subscriptions: the tenant's (an operator's: every tenant's) subscriptions with their states
// and the reasons given (a rejection's, a revocation's), filtered by state.

import { api, query, link, isOperator, navigate } from '../core.js';
import { h, page, table, empty, a } from '../ui.js';
import { myTenant, when, stateWithReason } from '../portal.js';

const STATES = ['pending', 'active', 'rejected', 'revoked'];

function appCell(s) {
  return a(link('/apps', s.tenant, s.app), isOperator() ? `${s.tenant}/${s.app}` : s.app);
}

async function list({ query: q }) {
  const state = STATES.includes(q.state) ? q.state : '';
  const subs = (await api('GET', `/admin/subscriptions${query({ tenant: myTenant(), state })}`)) || [];
  const filter = h('select', { id: 'sub-state', onchange: (e) => navigate(`/subscriptions${query({ state: e.target.value })}`) },
    [['', 'every state'], ...STATES.map((x) => [x, x])].map(([v, l]) => h('option', { value: v, selected: v === state }, l)));
  return page({ title: 'Subscriptions', lead: 'Which app may call which API, and where each request stands.' },
    h('div', { class: 'toolbar' }, h('label', { for: 'sub-state' }, 'State'), filter),
    table({
      columns: [
        { label: 'App', value: appCell },
        { label: 'API', value: (s) => a(link('/catalog', s.api), s.api) },
        { label: 'State', value: stateWithReason },
        { label: 'Requested', value: (s) => when(s.created_at) },
        { label: 'Updated', value: (s) => when(s.updated_at) },
      ],
      rows: subs,
      empty: empty(state ? `No ${state} subscription.` : 'No subscription yet. Subscribe an app to an API from the catalog.', state ? null : a('#/catalog', 'Browse the catalog')),
    }));
}

export const routes = [
  { path: '/subscriptions', title: 'Subscriptions', nav: { section: 'Build', label: 'Subscriptions' }, render: list },
];
