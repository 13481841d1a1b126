// The console's core: the admin API client, the signed-in user, and the hash router.
// Pages are modules that export `routes`; app.js registers them here. Nothing here builds DOM
// beyond mounting what a page returns (ui.js has the building blocks).

/** An answer of the admin API that was not 2xx: `status` and the server's message. */
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Who is signed in: the answer of GET /admin/me (name, role, tenant, csrf_token, expires_at). */
export const session = { me: null };

const listeners = { signedOut: [] };

/** Calls `fn(reason)` when the API says the session is gone (expired, signed out elsewhere). */
export function onSignedOut(fn) {
  listeners.signedOut.push(fn);
}

/**
 * Calls the admin API. `body` (any JSON value) is sent as JSON; state changes carry the session's
 * CSRF token. Resolves to the parsed answer (null for 204); rejects with ApiError. A 401 means
 * the session ended: the console goes back to the sign-in page.
 */
export async function api(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && session.me && session.me.csrf_token) {
    init.headers['X-CSRF-Token'] = session.me.csrf_token;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `The gateway's admin API cannot be reached (${e.message}).`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.ok) return data;
  const message = (data && data.error && data.error.message) || text || response.statusText;
  if (response.status === 401 && session.me) {
    session.me = null;
    listeners.signedOut.forEach((fn) => fn('Your session has ended. Sign in again.'));
  }
  throw new ApiError(response.status, message, data && data.error && data.error.code);
}

/** Builds a query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The path segment `s`, escaped for an API path. */
export const seg = (s) => encodeURIComponent(s);

export const isOperator = () => session.me && session.me.role === 'operator';
export const isTenantAdmin = () => session.me && session.me.role === 'tenant_admin';

// ---- the router -------------------------------------------------------------------------------

const table = [];

/**
 * Registers a page. `path` is like `/apps/:tenant/:app`; `render(ctx)` returns a Node (or a
 * promise of one) where ctx = { params, query, navigate, refresh }. `roles` limits who may open
 * it (default: everyone signed in); `nav` = { section, label } puts it in the side bar.
 */
export function register(route) {
  const parts = route.path.split('/').filter(Boolean);
  table.push({ ...route, parts });
}

/** Every registered route, in order (for the side bar). */
export const routes = () => table;

/** Whether the signed-in user may open `route`. */
export function allowed(route) {
  return !route.roles || (session.me && route.roles.includes(session.me.role));
}

/** The current location: the route, its params and query, from `location.hash`. */
export function current() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [pathPart, queryPart] = raw.split('?');
  const segs = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  for (const route of table) {
    if (route.parts.length !== segs.length) continue;
    const params = {};
    const hit = route.parts.every((p, i) => {
      if (p.startsWith(':')) {
        params[p.slice(1)] = segs[i];
        return true;
      }
      return p === segs[i];
    });
    if (hit) return { route, params, query: Object.fromEntries(new URLSearchParams(queryPart || '')) };
  }
  return { route: null, params: {}, query: {}, path: pathPart };
}

/** Goes to `path` (a route path with its values filled in, and an optional query). */
export function navigate(path) {
  const target = `#${path}`;
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = target;
}

/** The hash link to `path`, with each value encoded: link('/apps', t, a) -> '#/apps/t/a'. */
export function link(base, ...values) {
  return `#${[base, ...values.map(seg)].join('/')}`;
}
