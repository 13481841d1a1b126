// Apps and keys: a tenant's apps (an operator first chooses the tenant), the form that creates
// one, and an app's page with its keys (create: shown once with a copy button; rotate with an
// overlap; revoke after a confirmation) and its subscriptions (request one from the catalog).

import { api, seg, link, isOperator, isTenantAdmin, navigate } from '../core.js';
import { h, page, card, table, badge, empty, facts, form, button, secret, toast, confirmDialog, a } from '../ui.js';
import { myTenant, appsOf, tenantNames, when, catalog, subscribeForm, stateWithReason } from '../portal.js';

/**
 * A key just made (created or rotated) for the next render of its app's page: the page is drawn
 * again after the change, and this is the only time the key can be shown.
 */
let shownOnce = null;

async function tenants() {
  const tenant = myTenant();
  if (tenant) return appList({ params: { tenant } });
  const names = await tenantNames();
  return page({ title: 'Apps and keys', lead: 'Choose a tenant to see and manage its apps.' },
    table({
      columns: [{ label: 'Tenant', value: (t) => a(link('/apps', t), h('strong', null, t)) }],
      rows: names,
      empty: empty('There is no tenant yet.', isOperator() ? a('#/tenants', 'Create a tenant') : null),
    }));
}

async function appList({ params }) {
  const tenant = params.tenant;
  const [apps, subs] = await Promise.all([
    appsOf(tenant),
    api('GET', `/admin/subscriptions?tenant=${seg(tenant)}`),
  ]);
  const byApp = new Map();
  for (const s of subs || []) {
    if (!byApp.has(s.app)) byApp.set(s.app, []);
    byApp.get(s.app).push(s);
  }
  const create = form({
    fields: [
      { name: 'name', label: 'Name', required: true, placeholder: 'e.g. web-shop', help: 'Lower-case letters, digits, - and _.', matches: /app name|an app "/ },
      { name: 'description', label: 'Description', placeholder: 'What the app is for' },
      { name: 'models', label: 'Models', placeholder: 'e.g. gpt-4o, claude (empty: every model the tenant may use)', matches: /\bmodels?\b/ },
    ],
    submit: 'Create app',
    onSubmit: async (v) => {
      const body = { name: v.name.trim(), description: v.description };
      const models = v.models.split(',').map((m) => m.trim()).filter(Boolean);
      if (models.length) body.models = models;
      const app = await api('POST', `/admin/tenants/${seg(tenant)}/apps`, body);
      toast(`App ${app.name} created.`);
      navigate(`/apps/${seg(tenant)}/${seg(app.name)}`);
    },
  });
  return page({ title: isOperator() ? `Apps of ${tenant}` : 'Apps and keys', lead: 'An app holds the keys that call the gateway and the subscriptions that let them.', actions: isOperator() ? [a('#/apps', '← Tenants')] : null },
    table({
      columns: [
        { label: 'App', value: (x) => a(link('/apps', tenant, x.name), h('strong', null, x.name)) },
        { label: 'Description', value: (x) => x.description || h('span', { class: 'muted' }, '–') },
        { label: 'Subscriptions', value: (x) => subsCell(byApp.get(x.name)) },
        { label: 'Created', value: (x) => when(x.created_at) },
      ],
      rows: apps,
      empty: empty(`${tenant} has no app yet. Create the first one below, then a key for it.`),
    }),
    card('Create an app', create));
}

function subsCell(subs) {
  if (!subs || !subs.length) return h('span', { class: 'muted' }, 'none');
  return h('ul', { class: 'inline-list' }, subs.map((s) => h('li', null, s.api, ' ', badge(s.state))));
}

async function detail({ params, refresh }) {
  const { tenant, app: name } = params;
  const [app, keys, subs, apis] = await Promise.all([
    api('GET', `/admin/tenants/${seg(tenant)}/apps/${seg(name)}`),
    api('GET', `/admin/tenants/${seg(tenant)}/apps/${seg(name)}/keys`),
    api('GET', `/admin/tenants/${seg(tenant)}/apps/${seg(name)}/subscriptions`),
    catalog(tenant), // what this app's tenant may subscribe to, also when an operator looks
  ]);
  const fresh = shownOnce && shownOnce.tenant === tenant && shownOnce.app === name ? shownOnce.key : null;
  shownOnce = null;
  const remember = (key) => { shownOnce = { tenant, app: name, key }; };
  const taken = new Set(subs.filter((s) => s.state === 'active' || s.state === 'pending').map((s) => s.api));
  const open = apis.filter((x) => x.auth !== 'none' && !taken.has(x.name));
  const canDelete = isOperator() || isTenantAdmin();
  return page({
    title: app.name,
    lead: app.description || `An app of ${tenant}.`,
    actions: [a(isOperator() ? link('/apps', tenant) : '#/apps', '← Apps'), canDelete ? button('Delete app', () => deleteApp(tenant, name), 'danger') : null],
  },
  card('About', facts([
    ['Tenant', tenant],
    ['Models', app.models && app.models.length ? app.models.join(', ') : 'every model the tenant may use'],
    ['Created', when(app.created_at)],
    ['Source', app.source === 'config' ? 'declared in the configuration' : 'made through the admin API'],
  ])),
  card('Keys',
    fresh ? secret(fresh) : null,
    keyTable(keys, refresh, remember),
    h('h3', null, 'Create a key'),
    keyForm(tenant, name, refresh, remember)),
  card('Subscriptions',
    table({
      columns: [
        { label: 'API', value: (s) => a(link('/catalog', s.api), s.api) },
        { label: 'State', value: stateWithReason },
        { label: 'Requested', value: (s) => when(s.created_at) },
        { label: 'Updated', value: (s) => when(s.updated_at) },
      ],
      rows: subs,
      empty: 'This app is subscribed to no API yet: request one below.',
    }),
    h('h3', null, 'Request a subscription'),
    open.length
      ? await subscribeForm({ app: { tenant, name }, apis: open, onDone: () => refresh() })
      : h('p', { class: 'muted' }, 'Every API in your catalog is already subscribed or requested.')));
}

function keyTable(keys, refresh, remember) {
  return table({
    columns: [
      { label: 'Name', value: (k) => k.name || h('span', { class: 'muted' }, 'unnamed') },
      { label: 'ID', value: (k) => h('code', null, k.id) },
      { label: 'State', value: (k) => badge(k.state) },
      { label: 'Created', value: (k) => when(k.created_at) },
      { label: 'Expires', value: (k) => (k.expires_at ? when(k.expires_at) : 'never') },
      {
        label: 'Actions',
        value: (k) => (k.state === 'active'
          ? h('div', { class: 'row-actions' },
            button('Rotate', () => rotate(k, refresh, remember), null, { 'aria-label': `Rotate key ${k.id}` }),
            button('Revoke', () => revoke(k, refresh), 'danger', { 'aria-label': `Revoke key ${k.id}` }))
          : null),
      },
    ],
    rows: keys,
    empty: 'No key yet. Create one below: it is shown once.',
  });
}

function keyForm(tenant, app, refresh, remember) {
  return form({
    fields: [
      { name: 'name', label: 'Key name', placeholder: 'e.g. production', matches: /\bname\b/ },
      { name: 'expires_in', label: 'Expires', type: 'select', value: '', options: [['', 'never'], ['30d', 'in 30 days'], ['90d', 'in 90 days'], ['365d', 'in a year']] },
    ],
    submit: 'Create key',
    inline: true,
    onSubmit: async (v) => {
      const body = {};
      if (v.name.trim()) body.name = v.name.trim();
      if (v.expires_in) body.expires_in = v.expires_in;
      const key = await api('POST', `/admin/tenants/${seg(tenant)}/apps/${seg(app)}/keys`, body);
      remember(key.key);
      refresh();
    },
  });
}

/** Asks for the overlap, then rotates: the new key is shown once, the old one expires later. */
function rotate(key, refresh, remember) {
  const overlap = h('select', { id: 'rotate-overlap' },
    [['1h', '1 hour'], ['24h', '24 hours'], ['7d', '7 days'], ['0s', 'no overlap: the old key stops now']].map(([v, l]) => h('option', { value: v, selected: v === '24h' }, l)));
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'rotate-title' },
    h('h2', { id: 'rotate-title' }, `Rotate key ${key.id}`),
    h('p', null, 'A new key replaces this one. Both work during the overlap, so clients can move over.'),
    h('div', { class: 'field' }, h('label', { for: 'rotate-overlap' }, 'Overlap'), overlap),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    h('div', { class: 'form-actions' },
      button('Rotate', async () => {
        try {
          const out = await api('POST', `/admin/keys/${seg(key.id)}/rotate`, { overlap: overlap.value });
          close();
          remember(out.new.key);
          refresh();
        } catch (e) {
          const err = dialog.querySelector('.form-error');
          err.textContent = e.message;
          err.hidden = false;
        }
      }, 'primary'),
      button('Cancel', () => close())));
  const close = () => { dialog.close(); dialog.remove(); };
  dialog.addEventListener('cancel', close);
  document.body.append(dialog);
  dialog.showModal();
  overlap.focus();
}

async function revoke(key, refresh) {
  const ok = await confirmDialog(`Revoke key ${key.id}${key.name ? ` (${key.name})` : ''}? Calls with it fail at once.`, { confirm: 'Revoke key', danger: true });
  if (!ok) return;
  try {
    await api('DELETE', `/admin/keys/${seg(key.id)}`);
    toast(`Key ${key.id} revoked.`);
    refresh();
  } catch (e) {
    toast(e.message, 'error');
  }
}

async function deleteApp(tenant, app) {
  const ok = await confirmDialog(`Delete the app ${app} with its keys and subscriptions?`, { confirm: 'Delete app', danger: true });
  if (!ok) return;
  try {
    await api('DELETE', `/admin/tenants/${seg(tenant)}/apps/${seg(app)}`);
    toast(`App ${app} deleted.`);
    navigate(isOperator() ? `/apps/${seg(tenant)}` : '/apps');
  } catch (e) {
    toast(e.message, 'error');
  }
}

export const routes = [
  { path: '/apps', title: 'Apps and keys', nav: { section: 'Build', label: 'Apps' }, render: tenants },
  { path: '/apps/:tenant', title: 'Apps', parent: '/apps', render: appList },
  { path: '/apps/:tenant/:app', title: 'App', parent: '/apps', render: detail },
];
