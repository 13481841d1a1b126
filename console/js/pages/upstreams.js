// Upstreams (operators): the backends routes send requests to, with their targets and where
// they are defined. Stored ones are created, edited and deleted here (/admin/upstreams);
// declared ones are read-only. A delete that would leave a route without its upstream is
// refused by the gateway, and the refusal is shown.

import { api } from '../core.js';
import { h, page, table, badge } from '../ui.js';
import { editor, sourceCell, rowActions, put } from '../entries.js';

const OPS = ['operator'];

async function renderList({ refresh }) {
  const { upstreams } = await api('GET', '/admin/upstreams');
  return page({
    title: 'Upstreams',
    lead: 'The services routes forward to. Changes apply on every worker within a second.',
    actions: h('a', { class: 'button primary', href: '#/upstreams/new' }, 'New upstream'),
  },
  table({
    columns: [
      { label: 'Name', value: (u) => h('strong', null, u.name) },
      { label: 'Targets', value: (u) => h('ul', { class: 'plain' }, (u.targets || []).map((t) => h('li', null, h('code', null, target(t))))) },
      { label: 'Balance', value: (u) => u.balance || 'round_robin' },
      { label: 'Health check', value: (u) => (u.health_check ? h('code', null, u.health_check.path) : h('span', { class: 'muted' }, 'passive only')) },
      { label: 'Protocol', value: (u) => (u.tls || u.http2 ? [u.tls ? badge('TLS', 'plain') : null, ' ', u.http2 ? badge('HTTP/2', 'plain') : null] : h('span', { class: 'muted' }, 'HTTP/1.1')) },
      { label: 'Source', value: sourceCell },
      { label: '', value: (u) => rowActions('upstreams', u, '/upstreams/edit', refresh) },
    ],
    rows: upstreams,
    rowClass: (u) => `upstream-row upstream-${u.name.replace(/[^A-Za-z0-9_-]/g, '_')}`,
    empty: h('div', { class: 'empty' }, h('p', null, 'No upstreams yet. Add the service a route should forward to.'), h('a', { class: 'button primary', href: '#/upstreams/new' }, 'New upstream')),
  }));
}

/** A target as written: "host:port", or "host:port weight N". */
const target = (t) => (typeof t === 'string' ? t : `${t.addr} weight ${t.weight ?? 1}`);

function render({ params }) {
  return editor({
    kind: 'upstreams',
    what: 'upstream',
    name: params.name,
    listPath: '/upstreams',
    lead: 'An upstream is a set of targets (host:port) that share the load of the routes that use it.',
    fields,
    toTable,
  });
}

function fields(t) {
  const hc = t.health_check || {};
  return [
    { name: 'name', label: 'Name', required: true, placeholder: 'orders-svc', value: t.name },
    { name: 'targets', label: 'Targets', type: 'textarea', rows: 3, required: true, placeholder: '10.0.0.5:8080\n10.0.0.6:8080 weight 2', help: 'One host:port a line; "weight N" after it with weighted balance.', value: (t.targets || []).map(target).join('\n') },
    { name: 'balance', label: 'Balance', type: 'select', options: [['round_robin', 'Round robin'], ['weighted', 'Weighted'], ['least_inflight', 'Fewest requests in flight'], ['consistent_hash', 'Consistent hash']], value: t.balance || 'round_robin' },
    { name: 'health_check.path', label: 'Health check path', placeholder: '/healthz', help: 'Probed on every target; empty for passive checks only.', value: hc.path },
    { name: 'health_check.interval', label: 'Health check interval', placeholder: '5s', value: hc.interval },
    { name: 'tls', label: 'TLS to the targets', type: 'checkbox', value: t.tls },
    { name: 'http2', label: 'HTTP/2 to the targets', type: 'checkbox', value: t.http2 },
  ];
}

function toTable(v, t) {
  t.targets = String(v.targets).split('\n').map((l) => l.trim()).filter(Boolean).map((line) => {
    const m = /^(\S+)\s+(?:weight\s+)?(\d+)$/.exec(line);
    return m ? { addr: m[1], weight: Number(m[2]) } : line;
  });
  put(t, 'balance', v.balance === 'round_robin' ? '' : v.balance);
  const path = String(v['health_check.path'] || '').trim();
  if (path) {
    t.health_check = put({ ...(t.health_check || {}), path }, 'interval', String(v['health_check.interval'] || '').trim());
  } else {
    delete t.health_check;
  }
  // Unchecked is the default (false): left out, as a TOML table would.
  put(t, 'tls', v.tls ? true : '');
  put(t, 'http2', v.http2 ? true : '');
  return t;
}

export const routes = [
  { path: '/upstreams', title: 'Upstreams', nav: { section: 'Govern', label: 'Upstreams' }, roles: OPS, render: renderList },
  { path: '/upstreams/new', title: 'New upstream', parent: '/upstreams', roles: OPS, render },
  { path: '/upstreams/edit/:name', title: 'Upstream', parent: '/upstreams', roles: OPS, render },
];
