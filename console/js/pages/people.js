// Tenants and users. Operators list, create and delete tenants, and manage every user (create
// with a role, a tenant and an initial password; disable, enable, delete). A tenant admin sees
// and manages their own tenant's members only: the admin API confines them, the page just does
// not offer what they cannot do.

import { api, query, link, seg, isOperator, session, navigate } from '../core.js';
import { h, page, card, table, empty, form, button, badge, toast, confirmDialog, a } from '../ui.js';
import { myTenant, tenantNames, when } from '../portal.js';

async function tenants({ refresh }) {
  const list = (await api('GET', '/admin/tenants')) || [];
  const create = form({
    fields: [
      { name: 'name', label: 'Name', required: true, placeholder: 'e.g. acme', help: 'Lower-case letters, digits, - and _.', matches: /tenant name|tenant "/ },
      { name: 'description', label: 'Description', placeholder: 'Who the tenant is' },
    ],
    submit: 'Create tenant',
    onSubmit: async (v) => {
      const body = { name: v.name.trim() };
      if (v.description.trim()) body.description = v.description.trim();
      const t = await api('POST', '/admin/tenants', body);
      toast(`Tenant ${t.name} created.`);
      refresh();
    },
  });
  const remove = async (t) => {
    const ok = await confirmDialog(`Delete the tenant ${t.name} with its apps, keys, subscriptions and members?`, { confirm: 'Delete tenant', danger: true });
    if (!ok) return;
    try {
      await api('DELETE', `/admin/tenants/${seg(t.name)}`);
      toast(`Tenant ${t.name} deleted.`);
      refresh();
    } catch (e) {
      toast(e.message, 'error');
    }
  };
  return page({ title: 'Tenants', lead: 'The teams and customers that own apps, keys and subscriptions.' },
    table({
      columns: [
        { label: 'Tenant', value: (t) => h('div', null, h('strong', null, t.name), h('div', { class: 'muted small' }, t.description || '')) },
        { label: 'Plan', value: (t) => t.plan || h('span', { class: 'muted' }, 'none') },
        { label: 'Source', value: (t) => (t.source === 'config' ? badge('declared', 'config') : 'admin API') },
        { label: 'Created', value: (t) => when(t.created_at) },
        {
          label: 'Actions',
          value: (t) => h('div', { class: 'row-actions' },
            a(link('/apps', t.name), 'Apps'), a(`#/users${query({ tenant: t.name })}`, 'Members'),
            t.source === 'config' ? null : button('Delete', () => remove(t), 'danger', { 'aria-label': `Delete tenant ${t.name}` })),
        },
      ],
      rows: list,
      empty: empty('There is no tenant yet. Create the first one below.'),
    }),
    card('Create a tenant', create));
}

const ROLES = [['tenant_developer', 'tenant developer'], ['tenant_admin', 'tenant admin'], ['operator', 'operator']];

async function users({ query: q, refresh }) {
  const forced = myTenant();
  const tenant = forced || q.tenant || '';
  const [list, names] = await Promise.all([
    api('GET', `/admin/users${query({ tenant })}`),
    isOperator() ? tenantNames() : [forced],
  ]);
  const fields = [
    { name: 'name', label: 'User name', required: true, placeholder: 'e.g. alice', help: 'Lower-case letters, digits, - and _.', matches: /user name|user "/ },
    { name: 'role', label: 'Role', type: 'select', value: 'tenant_developer', options: isOperator() ? ROLES : ROLES.slice(0, 2), matches: /\brole\b/ },
  ];
  if (isOperator()) {
    fields.push({ name: 'tenant', label: 'Tenant', type: 'select', value: tenant, options: [['', '(none: operators only)'], ...names.map((n) => [n])], help: 'Tenant users belong to one tenant; operators to none.', matches: /tenant/ });
  }
  fields.push(
    { name: 'email', label: 'Email', type: 'email', placeholder: 'optional', matches: /email/ },
    { name: 'password', label: 'Initial password', type: 'password', required: true, autocomplete: 'new-password', help: '12 characters or more. Share it with the user safely.', matches: /password/ },
  );
  const create = form({
    fields,
    submit: 'Create user',
    onSubmit: async (v) => {
      const body = { name: v.name.trim(), role: v.role, password: v.password };
      const t = forced || v.tenant;
      if (t && v.role !== 'operator') body.tenant = t;
      if (v.email.trim()) body.email = v.email.trim();
      const u = await api('POST', '/admin/users', body);
      toast(`User ${u.name} created.`);
      refresh();
    },
  });
  const setDisabled = async (u, disabled) => {
    try {
      await api('PATCH', `/admin/users/${seg(u.name)}`, { disabled });
      toast(`${u.name} ${disabled ? 'disabled: their sessions ended' : 'enabled'}.`);
      refresh();
    } catch (e) {
      toast(e.message, 'error');
    }
  };
  const remove = async (u) => {
    const ok = await confirmDialog(`Delete the user ${u.name} with their sessions and tokens?`, { confirm: 'Delete user', danger: true });
    if (!ok) return;
    try {
      await api('DELETE', `/admin/users/${seg(u.name)}`);
      toast(`User ${u.name} deleted.`);
      refresh();
    } catch (e) {
      toast(e.message, 'error');
    }
  };
  const filter = isOperator()
    ? h('div', { class: 'toolbar' }, h('label', { for: 'users-tenant' }, 'Tenant'),
      h('select', { id: 'users-tenant', onchange: (e) => navigate(`/users${query({ tenant: e.target.value })}`) },
        [['', 'every tenant'], ...names.map((n) => [n, n])].map(([v, l]) => h('option', { value: v, selected: v === tenant }, l))))
    : null;
  const self = session.me.name;
  return page({ title: forced ? `Members of ${forced}` : 'Users', lead: forced ? 'The people who work in your tenant.' : 'Who may sign in to the console and the admin API, with which role.' },
    filter,
    table({
      columns: [
        { label: 'User', value: (u) => h('div', null, h('strong', null, u.name), u.email ? h('div', { class: 'muted small' }, u.email) : null) },
        { label: 'Role', value: (u) => u.role.replace('_', ' ') },
        { label: 'Tenant', value: (u) => u.tenant || h('span', { class: 'muted' }, '–') },
        { label: 'State', value: (u) => (u.disabled ? badge('disabled') : u.locked_until && u.locked_until > Date.now() / 1000 ? badge('locked', 'warn') : badge('active')) },
        { label: 'Last sign-in', value: (u) => (u.last_login ? when(u.last_login) : 'never') },
        {
          label: 'Actions',
          value: (u) => (u.name === self ? h('span', { class: 'muted' }, 'you') : h('div', { class: 'row-actions' },
            button(u.disabled ? 'Enable' : 'Disable', () => setDisabled(u, !u.disabled), null, { 'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.name}` }),
            button('Delete', () => remove(u), 'danger', { 'aria-label': `Delete ${u.name}` }))),
        },
      ],
      rows: list || [],
      empty: empty(tenant ? `${tenant} has no member yet. Add one below.` : 'There is no user yet.'),
    }),
    card(forced ? 'Add a member' : 'Create a user', create));
}

export const routes = [
  { path: '/tenants', title: 'Tenants', nav: { section: 'Govern', label: 'Tenants' }, roles: ['operator'], render: tenants },
  { path: '/users', title: 'Users', nav: { section: 'Govern', label: 'Users' }, roles: ['operator', 'tenant_admin'], render: users },
];
