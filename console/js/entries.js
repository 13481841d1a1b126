// What the pages that manage live configuration share (APIs' routes, upstreams, providers,
// models): each entry is the JSON of its TOML table at /admin/KIND, "config" ones (declared in
// the configuration file) are read-only, "store" ones are created, edited and deleted here.
// `editor` is the one create/edit page all four use: a form for the common fields over the
// whole table, an advanced JSON editor of that table, the server's errors next to the field
// they name, and delete with a confirm.

import { api, seg, navigate, link } from './core.js';
import { h, page, card, badge, button, notice, toast, form, confirmDialog, facts, fmt } from './ui.js';

/** What a GET adds to a table (the server ignores them in a PUT, but the editor shows none). */
const META = ['source', 'read_only', 'updated_at', 'updated_by', 'served', 'problem'];

/** The table of an answered item, without what the server adds. */
export function bare(item) {
  const out = { ...item };
  for (const k of META) delete out[k];
  return out;
}

/** Why a declared entry has no edit controls here. */
export const READ_ONLY_WHY = 'Declared in the configuration file, which wins over the console: change it there and reload the gateway.';

/** The source column: "config" (with "read-only") or "store" (with "not served" when left out). */
export function sourceCell(item) {
  if (item.read_only) {
    return h('span', { class: 'source', title: READ_ONLY_WHY }, badge('config'), ' ', badge('read-only', 'read-only'));
  }
  return h('span', { class: 'source' }, badge(item.source || 'store', 'store'),
    item.served === false ? [' ', badge('not served', 'error')] : null);
}

/** A list's action cell: edit and delete for a stored entry, the reason for a declared one. */
export function rowActions(kind, item, editPath, refresh) {
  if (item.read_only) {
    return h('span', { class: 'row-actions' }, h('a', { href: link(editPath, item.name), 'aria-label': `View ${item.name}` }, 'View'),
      h('span', { class: 'muted small' }, ' read-only'));
  }
  return h('span', { class: 'row-actions' },
    h('a', { href: link(editPath, item.name), 'aria-label': `Edit ${item.name}` }, 'Edit'),
    button('Delete', () => remove(kind, item.name, refresh), 'link danger', { 'aria-label': `Delete ${item.name}` }));
}

/** Deletes a stored entry after a confirm; a refusal (something still uses it) is shown. */
export async function remove(kind, name, then) {
  const ok = await confirmDialog(`Delete ${singular(kind)} ${name}? Every worker stops using it within a second.`, { confirm: 'Delete', danger: true });
  if (!ok) return false;
  try {
    await api('DELETE', `/admin/${kind}/${seg(name)}`);
    toast(`Deleted ${singular(kind)} ${name}.`);
    then();
    return true;
  } catch (e) {
    toast(`${name} was not deleted: ${e.message}`, 'error');
    return false;
  }
}

const singular = (kind) => kind.replace(/s$/, '');

/** "a, b ,c" -> ['a', 'b', 'c']. */
export const list = (text) => String(text || '').split(',').map((s) => s.trim()).filter(Boolean);

/** Sets `obj[key] = value`, or removes the key when the value is empty (the default applies). */
export function put(obj, key, value) {
  const none = value === '' || value === null || value === undefined || (Array.isArray(value) && !value.length);
  if (none) delete obj[key];
  else obj[key] = value;
  return obj;
}

/**
 * The create (no `name`) or edit page of one entry of `kind`.
 * - `fields(table)`: the form's fields, filled from the table (`{}` for a new one);
 * - `toTable(values, table)`: the table to send, the form's values over the table as it was
 *   (so what the form does not show is kept);
 * - `listPath`: where to go back to; `what`: "route", "upstream" ...
 */
export async function editor({ kind, what, name, listPath, lead, fields, toTable, aside }) {
  const item = name ? await api('GET', `/admin/${kind}/${seg(name)}`) : null;
  const table = item ? bare(item) : {};
  const title = item ? `${what[0].toUpperCase()}${what.slice(1)} ${name}` : `New ${what}`;
  const back = () => navigate(listPath);
  if (item && item.read_only) {
    return page({ title, lead },
      notice(`${name} is read-only here. ${READ_ONLY_WHY}`, 'warn'),
      card('As declared', h('pre', { class: 'table-json' }, JSON.stringify(table, null, 2))),
      h('p', null, h('a', { href: `#${listPath}` }, `Back to the list`)));
  }
  const save = async (body) => {
    const saved = item
      ? await api('PUT', `/admin/${kind}/${seg(name)}`, body)
      : await api('POST', `/admin/${kind}`, body);
    toast(`Saved ${what} ${saved.name}. Every worker serves it within a second.`);
    back();
  };
  const main = form({
    fields: fields(table),
    submit: item ? 'Save changes' : `Create ${what}`,
    cancel: back,
    onSubmit: (values) => save(withName(toTable(values, clone(table)), name, values.name)),
  });
  if (item) main.controls.name.readOnly = true;
  const json = form({
    fields: [{ name: 'table', label: `The whole ${what} as JSON`, type: 'textarea', rows: 14, help: `The ${what}'s [[${kind}]] table, field for field, as JSON. Saving it replaces the ${what}.` }],
    submit: item ? 'Save JSON' : `Create ${what} from JSON`,
    cancel: back,
    onSubmit: ({ table: text }) => {
      let body;
      try {
        body = JSON.parse(text);
      } catch (e) {
        throw new Error(`table: not valid JSON (${e.message})`);
      }
      return save(body);
    },
  });
  const advanced = h('details', { class: 'advanced' },
    h('summary', null, 'Advanced: edit the whole table as JSON'), json);
  // Opening it shows what the form would save now, so both start from the same table.
  advanced.addEventListener('toggle', () => {
    if (!advanced.open) return;
    const values = Object.fromEntries(Object.entries(main.controls).map(([k, c]) => [k, c.type === 'checkbox' ? c.checked : c.value]));
    let current;
    try {
      current = withName(toTable(values, clone(table)), name, values.name);
    } catch {
      current = { name, ...table };
    }
    json.controls.table.value = JSON.stringify(current, null, 2);
  });
  const status = item ? [
    item.served === false ? notice(`Not served: ${item.problem}`, 'error') : null,
    facts([['Source', sourceCell(item)], ['Updated', `${fmt.time(item.updated_at)} by ${item.updated_by || '–'}`]]),
  ] : null;
  const actions = item ? button(`Delete ${what}`, () => remove(kind, name, back), 'danger') : null;
  return page({ title, lead, actions },
    status ? card(null, status) : null,
    h('div', { class: 'editor' }, card(item ? 'Settings' : null, main, advanced), aside || null));
}

/** The table with its name first (the form's on create, the path's on edit). */
function withName(table, name, formName) {
  return { name: name || String(formName || '').trim(), ...table };
}

const clone = (v) => JSON.parse(JSON.stringify(v));
