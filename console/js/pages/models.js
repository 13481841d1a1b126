// Models: the models the user may call, from the catalog's LLM APIs (each lists the models the
// tenant may see), and a small playground. A key is shown only once, so the playground asks
// for one to be pasted; it stays in this page's memory (never stored, never in the address)
// and goes with the message to POST /admin/playground, which sends the chat through the
// gateway's own data plane, so the call is checked, limited and logged like any other.

import { api, isOperator } from '../core.js';
import { h, page, card, table, empty, form, fmt, a, notice } from '../ui.js';
import { catalog } from '../portal.js';

/** Each model with the LLM APIs that serve it: [{ model, apis: [{name, path}] }]. */
function modelsOf(apis) {
  const by = new Map();
  for (const x of apis.filter((e) => e.kind === 'llm')) {
    for (const m of x.models || []) {
      if (!by.has(m)) by.set(m, []);
      by.get(m).push(x);
    }
  }
  return [...by].map(([model, via]) => ({ model, apis: via })).sort((p, q) => p.model.localeCompare(q.model));
}

async function render() {
  const models = modelsOf(await catalog());
  return page({ title: 'Models', lead: 'The models your apps may call through the gateway\'s OpenAI-compatible API.' },
    table({
      columns: [
        { label: 'Model', value: (m) => h('code', null, m.model) },
        { label: 'Served at', value: (m) => h('ul', { class: 'inline-list' }, m.apis.map((x) => h('li', null, a(`#/catalog/${encodeURIComponent(x.name)}`, x.name), ' ', h('code', null, `${x.path}/chat/completions`)))) },
      ],
      rows: models,
      empty: empty(isOperator() ? 'No model is published on an LLM API yet.' : 'No model is available to your tenant yet. Ask an operator to publish one.'),
    }),
    models.length ? playground(models) : null);
}

function playground(models) {
  const result = h('div', { class: 'playground-result', 'aria-live': 'polite' });
  const options = [];
  for (const m of models) for (const x of m.apis) options.push([`${x.name}\u0000${m.model}`, m.apis.length > 1 ? `${m.model} (${x.name})` : m.model]);
  const f = form({
    fields: [
      { name: 'key', label: 'API key', type: 'password', required: true, placeholder: 'tg_…', help: 'Paste one of your app\'s keys. It stays in this page only: never stored, gone when you leave.', matches: /\bkey\b/ },
      { name: 'target', label: 'Model', type: 'select', options, required: true, matches: /\bmodel\b/ },
      { name: 'message', label: 'Message', type: 'textarea', rows: 3, required: true, placeholder: 'Say hello in three languages.', matches: /\bmessages?\b/ },
    ],
    submit: 'Send',
    onSubmit: async (v) => {
      const [apiName, model] = v.target.split('\u0000');
      result.replaceChildren(h('p', { class: 'loading' }, 'Waiting for the answer…'));
      let out;
      try {
        out = await api('POST', '/admin/playground', { api: apiName, model, key: v.key, messages: [{ role: 'user', content: v.message }] });
      } catch (e) {
        result.replaceChildren(); // the form shows the error, at its field when it names one
        throw e;
      }
      result.replaceChildren(answer(out));
    },
  });
  f.controls.key.setAttribute('autocomplete', 'off');
  return card('Playground', f, result);
}

/** The gateway's answer: the reply, or the error the data plane gave, with tokens and latency. */
function answer(out) {
  const body = out.response || {};
  const usage = body.usage || {};
  const stats = h('dl', { class: 'facts compact' },
    h('dt', null, 'Status'), h('dd', { class: 'play-status' }, String(out.status)),
    h('dt', null, 'Latency'), h('dd', { class: 'play-latency' }, fmt.ms(out.latency_ms)),
    h('dt', null, 'Tokens'), h('dd', { class: 'play-tokens' }, `${fmt.num(usage.prompt_tokens)} in · ${fmt.num(usage.completion_tokens)} out · ${fmt.num(usage.total_tokens)} total`));
  if (out.status >= 400) {
    const message = (body.error && body.error.message) || JSON.stringify(body);
    return h('div', null, notice(`The gateway refused the call: ${message}`, 'error'), stats);
  }
  const text = (body.choices || []).map((c) => (c.message && c.message.content) || '').join('\n');
  return h('div', null, h('div', { class: 'play-answer' }, text || '(an empty answer)'), stats);
}

export const routes = [
  { path: '/models', title: 'Models', nav: { section: 'Discover', label: 'Models' }, render },
];
