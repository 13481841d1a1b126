// Starts the console: asks who is signed in, then draws the shell (top bar, side bar made from
// the registered pages the user's role may open) and renders the page the hash names. Each page
// module exports `routes`; to add a page, import its module here and list its file in
// src/admin/console.rs.
//
// When a page has rendered, <main> gets data-ready set to its route path (and the time it took
// in data-ms), which the browser tests wait for.

import { api, session, register, routes, allowed, current, navigate, onSignedOut, ApiError } from './core.js';
import { h, notice, button } from './ui.js';
import * as signin from './pages/signin.js';
import * as home from './pages/home.js';
import * as catalog from './pages/catalog.js';
import * as models from './pages/models.js';
import * as apps from './pages/apps.js';
import * as subscriptions from './pages/subscriptions.js';
import * as approvals from './pages/approvals.js';
import * as people from './pages/people.js';
import * as usage from './pages/usage.js';
import * as calls from './pages/calls.js';
import * as audit from './pages/audit.js';
import * as limits from './pages/limits.js';

import * as apis from './pages/apis.js';
import * as upstreams from './pages/upstreams.js';
import * as providers from './pages/providers.js';
import * as adminModels from './pages/admin-models.js';

const modules = [
  home, catalog, models, apps, subscriptions, usage, calls,
  approvals, apis, upstreams, providers, adminModels, people, audit, limits,
];
for (const m of modules) m.routes.forEach(register);

const root = document.getElementById('app');
let renderCount = 0;

async function boot() {
  try {
    session.me = await api('GET', '/admin/me');
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) return fatal(e);
    session.me = null;
  }
  if (session.me && session.me.via !== 'session') {
    // A bearer token in the browser (an extension, a proxy) is no sign-in: ask for one.
    session.me = null;
  }
  show();
}

function fatal(e) {
  root.replaceChildren(h('main', { class: 'signin' }, notice(`The console cannot start: ${e.message}`, 'error'), button('Try again', () => location.reload())));
}

/** Draws what the location asks for: the sign-in page, or the shell with the page. */
function show(reason) {
  if (!session.me) {
    root.replaceChildren(signin.render({ reason, onSignedIn: (me) => { session.me = me; show(); } }));
    return;
  }
  const main = h('main', { id: 'main', tabindex: '-1' });
  root.replaceChildren(h('div', { class: 'shell' }, topBar(), sideBar(), main));
  renderPage(main);
}

function topBar() {
  const me = session.me;
  const who = me.tenant ? `${me.name} · ${me.tenant}` : me.name;
  return h('header', { class: 'topbar' },
    h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); document.getElementById('main').focus(); } }, 'Skip to content'),
    h('a', { class: 'brand', href: '#/' }, h('img', { src: 'favicon.svg', alt: '', width: 24, height: 24 }), 'Tollgate'),
    h('div', { class: 'who' },
      h('span', { class: 'user', title: me.role }, who, ' ', h('span', { class: 'role' }, me.role.replace('_', ' '))),
      button('Sign out', signOut, 'link', { id: 'sign-out' })));
}

function sideBar() {
  const sections = new Map();
  for (const r of routes()) {
    if (!r.nav || !allowed(r)) continue;
    if (!sections.has(r.nav.section)) sections.set(r.nav.section, []);
    sections.get(r.nav.section).push(r);
  }
  return h('nav', { class: 'sidebar', 'aria-label': 'Console' },
    [...sections].map(([section, items]) => h('div', { class: 'nav-section' },
      h('h2', null, section),
      h('ul', null, items.map((r) => h('li', null,
        h('a', { href: `#${r.path}` }, r.nav.label)))))));
}

async function renderPage(main) {
  const { route, params, query } = current();
  const started = performance.now();
  const count = ++renderCount;
  main.removeAttribute('data-ready');
  main.setAttribute('aria-busy', 'true');
  document.querySelectorAll('.sidebar a').forEach((a) => {
    const on = route && a.getAttribute('href') === `#${route.nav ? route.path : route.parent || ''}`;
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  let node;
  if (!route) node = notFound('There is no such page in the console.');
  else if (!allowed(route)) node = notFound('Your role cannot open this page.');
  else {
    main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
    try {
      node = await route.render({ params, query, navigate, refresh: () => renderPage(main) });
    } catch (e) {
      node = failed(e, () => renderPage(main));
    }
  }
  if (count !== renderCount || !session.me) return; // a newer render (or a sign-out) won
  document.title = `${route ? route.title : 'Not found'} · Tollgate`;
  main.replaceChildren(node);
  main.setAttribute('aria-busy', 'false');
  main.dataset.ms = String(Math.round(performance.now() - started));
  main.dataset.at = String(Math.round(performance.now()));
  main.dataset.ready = route ? route.path : 'not-found';
}

function notFound(text) {
  return h('section', { class: 'page' }, h('h1', null, 'Not found'), h('p', null, text), h('a', { href: '#/' }, 'Go to the overview'));
}

function failed(e, retry) {
  const text = e instanceof ApiError && e.status === 403 ? `Not allowed: ${e.message}` : e.message;
  return h('section', { class: 'page' }, h('h1', null, 'Something went wrong'), notice(text, 'error'), button('Try again', retry));
}

async function signOut() {
  try {
    await api('POST', '/admin/logout');
  } catch {
    // Signed out already (expired): nothing left to end.
  }
  session.me = null;
  show('You are signed out.');
}

onSignedOut((reason) => show(reason));
window.addEventListener('hashchange', () => {
  const main = document.getElementById('main');
  if (session.me && main) renderPage(main);
});
boot();
