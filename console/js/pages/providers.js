// Providers (operators): the LLM services models are deployed on, with their kind, base URL
// and key. A key is a `${VAR}` reference to the gateway's environment (shown as written) or a
// literal, which the gateway stores encrypted and never shows again ("********"); leaving the
// key empty on edit keeps it. Stored ones are created, edited and deleted here
// (/admin/providers); declared ones are read-only.

import { api } from '../core.js';
import { h, page, table } from '../ui.js';
import { editor, sourceCell, rowActions, put } from '../entries.js';

const OPS = ['operator'];
const KINDS = ['openai', 'azure_openai', 'anthropic', 'gemini', 'openai_compatible', 'mock'];
/** What the gateway shows for a literal secret. */
const MASK = '********';

async function renderList({ refresh }) {
  const { providers } = await api('GET', '/admin/providers');
  return page({
    title: 'Providers',
    lead: 'The LLM services models are deployed on. Changes apply on every worker within a second.',
    actions: [
      h('a', { class: 'button', href: '#/admin-models' }, 'Models (manage)'),
      h('a', { class: 'button primary', href: '#/providers/new' }, 'New provider'),
    ],
  },
  table({
    columns: [
      { label: 'Name', value: (p) => h('strong', null, p.name) },
      { label: 'Kind', value: (p) => p.kind },
      { label: 'Base URL', value: (p) => (p.base_url ? h('code', null, p.base_url) : h('span', { class: 'muted' }, 'the public one')) },
      { label: 'Key', value: (p) => keyText(p.api_key) },
      { label: 'Source', value: sourceCell },
      { label: '', value: (p) => rowActions('providers', p, '/providers/edit', refresh) },
    ],
    rows: providers,
    rowClass: (p) => `provider-row provider-${p.name.replace(/[^A-Za-z0-9_-]/g, '_')}`,
    empty: h('div', { class: 'empty' }, h('p', null, 'No providers yet. Add one to deploy models on it.'), h('a', { class: 'button primary', href: '#/providers/new' }, 'New provider')),
  }));
}

function keyText(key) {
  if (!key) return h('span', { class: 'muted' }, 'none');
  if (key === MASK) return h('span', { title: 'Stored encrypted; never shown again' }, 'set (hidden)');
  return h('code', null, key);
}

function render({ params }) {
  return editor({
    kind: 'providers',
    what: 'provider',
    name: params.name,
    listPath: '/providers',
    lead: 'A provider is one account on an LLM service; models send their calls to it.',
    fields,
    toTable,
  });
}

function fields(t) {
  const hidden = t.api_key === MASK;
  return [
    { name: 'name', label: 'Name', required: true, placeholder: 'openai-main', value: t.name },
    { name: 'kind', label: 'Kind', type: 'select', options: KINDS.map((k) => [k, k]), value: t.kind || 'openai' },
    { name: 'base_url', label: 'Base URL', placeholder: 'https://api.openai.com/v1', help: 'Empty for the service\'s public URL.', value: t.base_url },
    {
      name: 'api_key',
      label: 'API key',
      // A reference is no secret and reads as written; a key being typed is hidden.
      type: t.api_key && !hidden ? 'text' : 'password',
      placeholder: hidden ? 'Set; leave empty to keep it' : '${OPENAI_API_KEY}',
      help: 'A ${VAR} reference to the gateway\'s environment, or the key itself: stored encrypted and never shown again.',
      value: hidden ? '' : t.api_key,
    },
  ];
}

function toTable(v, t) {
  put(t, 'kind', v.kind);
  put(t, 'base_url', String(v.base_url || '').trim());
  const key = String(v.api_key || '').trim();
  // An empty key on edit keeps the stored one: the mask tells the gateway so.
  if (key) t.api_key = key;
  else if (t.api_key !== MASK) delete t.api_key;
  return t;
}

export const routes = [
  { path: '/providers', title: 'Providers', nav: { section: 'Govern', label: 'Providers' }, roles: OPS, render: renderList },
  { path: '/providers/new', title: 'New provider', parent: '/providers', roles: OPS, render },
  { path: '/providers/edit/:name', title: 'Provider', parent: '/providers', roles: OPS, render },
];
