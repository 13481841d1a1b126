// Models (manage), for operators: the public model names clients send, each deployed on one or
// more providers with weights, with fallbacks and prices. Stored ones are created, edited and
// deleted here (/admin/models); declared ones are read-only. (The models list every user sees,
// with its playground, is the Models page.)

import { api } from '../core.js';
import { h, page, table, fmt } from '../ui.js';
import { editor, sourceCell, rowActions, list, put } from '../entries.js';

const OPS = ['operator'];

async function renderList({ refresh }) {
  const { models } = await api('GET', '/admin/models');
  return page({
    title: 'Models (manage)',
    lead: 'The model names clients call, and the providers that serve them. Changes apply on every worker within a second.',
    actions: [
      h('a', { class: 'button', href: '#/providers' }, 'Providers'),
      h('a', { class: 'button primary', href: '#/admin-models/new' }, 'New model'),
    ],
  },
  table({
    columns: [
      { label: 'Model', value: (m) => h('div', null, h('strong', null, m.name), (m.aliases || []).length ? h('div', { class: 'muted small' }, `also ${m.aliases.join(', ')}`) : null) },
      { label: 'Deployments', value: (m) => h('ul', { class: 'plain' }, (m.deployments || []).map((d) => h('li', null, h('code', null, deployment(d))))) },
      { label: 'Fallbacks', value: (m) => ((m.fallbacks || []).length ? m.fallbacks.join(' → ') : h('span', { class: 'muted' }, 'none')) },
      { label: 'Price in / out', class: 'num', value: (m) => `${fmt.cost(m.input_price || 0)} / ${fmt.cost(m.output_price || 0)}` },
      { label: 'Source', value: sourceCell },
      { label: '', value: (m) => rowActions('models', m, '/admin-models/edit', refresh) },
    ],
    rows: models,
    rowClass: (m) => `model-row model-${m.name.replace(/[^A-Za-z0-9_-]/g, '_')}`,
    empty: h('div', { class: 'empty' }, h('p', null, 'No models yet. Deploy one on a provider.'), h('a', { class: 'button primary', href: '#/admin-models/new' }, 'New model')),
  }));
}

/** A deployment as written in the form: "provider model", and the weight when not 1. */
const deployment = (d) => `${d.provider} ${d.model}${d.weight && d.weight !== 1 ? ` weight ${d.weight}` : ''}`;

async function render({ params }) {
  const providers = (await api('GET', '/admin/providers')).providers.map((p) => p.name);
  return editor({
    kind: 'models',
    what: 'model',
    name: params.name,
    listPath: '/admin-models',
    lead: 'A model is the name clients send as "model"; each call goes to one of its deployments, by weight.',
    fields: (t) => fields(t, providers),
    toTable,
  });
}

function fields(t, providers) {
  return [
    { name: 'name', label: 'Name', required: true, placeholder: 'gpt-4o', help: 'What clients send as "model".', value: t.name },
    {
      name: 'deployments',
      label: 'Deployments',
      type: 'textarea',
      rows: 3,
      required: true,
      placeholder: `${providers[0] || 'provider'} provider-model-name`,
      help: `One a line: the provider (${providers.join(', ') || 'none yet'}), its name for the model, and "weight N" to share the load unevenly.`,
      value: (t.deployments || []).map(deployment).join('\n'),
    },
    { name: 'fallbacks', label: 'Fallbacks', placeholder: 'gpt-4o-mini', help: 'Models tried in order, comma-separated, when every deployment failed.', value: (t.fallbacks || []).join(', ') },
    { name: 'input_price', label: 'Input price (USD per million tokens)', type: 'number', min: 0, step: 'any', value: t.input_price ?? '' },
    { name: 'output_price', label: 'Output price (USD per million tokens)', type: 'number', min: 0, step: 'any', value: t.output_price ?? '' },
  ];
}

function toTable(v, t) {
  const before = t.deployments || [];
  t.deployments = String(v.deployments).split('\n').map((l) => l.trim()).filter(Boolean).map((line, i) => {
    const [provider, model, ...rest] = line.split(/\s+/);
    const weight = /^(?:weight\s+)?(\d+)$/.exec(rest.join(' '));
    // What the form does not show (a deployment's own key) stays with the same deployment.
    const old = before[i] && before[i].provider === provider && before[i].model === model ? before[i] : {};
    const d = { ...old, provider, model: model ?? '' };
    put(d, 'weight', weight && Number(weight[1]) !== 1 ? Number(weight[1]) : '');
    return d;
  });
  put(t, 'fallbacks', list(v.fallbacks));
  put(t, 'input_price', v.input_price === '' ? '' : Number(v.input_price));
  put(t, 'output_price', v.output_price === '' ? '' : Number(v.output_price));
  return t;
}

export const routes = [
  { path: '/admin-models', title: 'Models (manage)', nav: { section: 'Govern', label: 'Models (manage)' }, roles: OPS, render: renderList },
  { path: '/admin-models/new', title: 'New model', parent: '/admin-models', roles: OPS, render },
  { path: '/admin-models/edit/:name', title: 'Model', parent: '/admin-models', roles: OPS, render },
];
