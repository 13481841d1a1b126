// What the self-service pages (catalog, apps, subscriptions, models) share: the tenant a page
// is about, an API's kind in words, dates as the admin API writes them, and the form that
// subscribes an app to an API (from the catalog and from an app's page alike).

import { api, session, seg, isOperator, query } from './core.js';
import { h, form, fmt, toast, badge } from './ui.js';

/** The signed-in user's tenant, or null for an operator. */
export const myTenant = () => (session.me && session.me.tenant) || null;

/** An API's kind as users say it: route, LLM route, prompt or MCP server. */
export function kindLabel(kind) {
  return { rest: 'route', llm: 'LLM route', prompt: 'prompt', mcp_server: 'MCP server' }[kind] || kind;
}

/** A time the admin API gives as RFC 3339 text or unix seconds, as a local date and time. */
export function when(t) {
  if (t === null || t === undefined || t === '') return '–';
  const secs = typeof t === 'number' ? t : Date.parse(t) / 1000;
  return Number.isFinite(secs) ? fmt.time(secs) : String(t);
}

/** A subscription's state badge, with its reason (a rejection's, a revocation's) beside it. */
export function stateWithReason(sub) {
  return h('span', { class: 'state' }, badge(sub.state), sub.reason ? h('span', { class: 'reason' }, ` ${sub.reason}`) : null);
}

/** The apps of `tenant` (an array, empty when it has none). */
export async function appsOf(tenant) {
  return (await api('GET', `/admin/tenants/${seg(tenant)}/apps`)) || [];
}

/** Every tenant's name (operators only). */
export async function tenantNames() {
  return ((await api('GET', '/admin/tenants')) || []).map((t) => t.name);
}

/** The catalog as `tenant` sees it (by default the signed-in user's; an operator's: all). */
export function catalog(tenant = myTenant()) {
  return api('GET', `/admin/catalog${query({ tenant })}`);
}

/**
 * A form that asks for a subscription of an app to an API. Give `api` (the API is fixed, the
 * app chosen) or `app` = {tenant, name} with `apis` (catalog entries to choose from). An
 * operator first chooses the tenant. Calls `onDone(subscription)` when the request is made.
 */
export async function subscribeForm({ api: apiName, app, apis, onDone }) {
  const fields = [];
  let tenants = [];
  if (!app && isOperator()) {
    tenants = await tenantNames();
    fields.push({ name: 'tenant', label: 'Tenant', type: 'select', options: tenants.map((t) => [t]), required: true });
  }
  const firstTenant = app ? app.tenant : myTenant() || tenants[0];
  if (!app) {
    const apps = firstTenant ? await appsOf(firstTenant) : [];
    if (!apps.length && !isOperator()) {
      return h('p', { class: 'muted' }, 'Your tenant has no app yet. ', h('a', { href: '#/apps' }, 'Create an app'), ' first, then subscribe it here.');
    }
    fields.push({ name: 'app', label: 'App', type: 'select', options: apps.map((a) => [a.name]), required: true, matches: /\bapp\b/ });
  } else {
    fields.push({ name: 'api', label: 'API', type: 'select', options: apis.map((a) => [a.name, `${a.name} (${kindLabel(a.kind)}, ${a.approval} approval)`]), required: true, matches: /\bAPI\b|\bapi\b/ });
  }
  const f = form({
    fields,
    submit: 'Request subscription',
    inline: true,
    onSubmit: async (v) => {
      const tenant = app ? app.tenant : v.tenant || myTenant();
      const appName = app ? app.name : v.app;
      const sub = await api('POST', `/admin/tenants/${seg(tenant)}/apps/${seg(appName)}/subscriptions`, { api: app ? v.api : apiName });
      toast(sub.state === 'active' ? `${appName} is subscribed to ${sub.api}.` : `${appName} asked for ${sub.api}: ${sub.state}.`);
      onDone(sub);
    },
  });
  if (f.controls.tenant) {
    f.controls.tenant.addEventListener('change', async () => {
      const apps = await appsOf(f.controls.tenant.value);
      f.controls.app.replaceChildren(...apps.map((a) => h('option', { value: a.name }, a.name)));
    });
  }
  return f;
}
