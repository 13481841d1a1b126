// The console's building blocks: a DOM builder and the parts every page is made of (page
// header, tables with empty states, forms that show errors next to their field, badges, copy
// buttons, dialogs, notices) and the formats numbers and times are shown in. Everything is built
// with DOM calls and text nodes, never markup strings, so no value can turn into markup.

import { ApiError } from './core.js';

/** Appends children (Nodes, strings, numbers, arrays; null/false skipped) to `el`. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Makes an element: h('button', { class: 'primary', onclick: fn }, 'Save'). Props starting with
 * `on` are listeners; `class`, `dataset` and boolean attributes are handled; properties such as
 * `value` and `checked` are set as properties.
 */
export function h(tag, props, ...children) {
  const el = tag === 'svg' || props?.svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false || key === 'svg') continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.setAttribute('class', value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value' || key === 'checked' || key === 'selected') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  return append(el, children);
}

/** An SVG element (for charts): s('rect', { x: 0, ... }). */
export function s(tag, props, ...children) {
  return h(tag, { ...props, svg: true }, ...children);
}

/** A page: its title, optional actions on the right, a lead sentence and its body. */
export function page({ title, lead, actions }, ...body) {
  return h('section', { class: 'page' },
    h('header', { class: 'page-head' },
      h('div', null, h('h1', { tabindex: '-1' }, title), lead ? h('p', { class: 'lead' }, lead) : null),
      actions ? h('div', { class: 'actions' }, actions) : null),
    body);
}

/** A titled panel. */
export function card(title, ...body) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, body);
}

/** What a list shows when it has nothing, with what to do about it. */
export function empty(text, action) {
  return h('div', { class: 'empty', role: 'status' }, h('p', null, text), action || null);
}

/**
 * A table: columns = [{ label, value: (row) => Node|string, class? }]. With no rows it shows
 * `empty` (a string or a Node) instead.
 */
export function table({ columns, rows, empty: none, caption, rowClass }) {
  if (!rows.length) return typeof none === 'string' || !none ? empty(none || 'Nothing here yet.') : none;
  return h('div', { class: 'table-wrap' },
    h('table', null,
      caption ? h('caption', null, caption) : null,
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
      h('tbody', null, rows.map((row) => h('tr', { class: rowClass ? rowClass(row) : null },
        columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.value(row))))))));
}

/** A small coloured label, e.g. for a state: badge('pending'). */
export function badge(text, kind) {
  return h('span', { class: `badge ${kind || String(text).toLowerCase().replace(/[^a-z0-9]+/g, '-')}` }, text);
}

/** A button; `kind` is 'primary', 'danger', 'link' or nothing. */
export function button(label, onclick, kind, extra) {
  return h('button', { type: 'button', class: kind || null, onclick, ...extra }, label);
}

/** A button that copies `text` and says so. */
export function copyButton(text, label = 'Copy') {
  const b = button(label, async () => {
    const done = await copyText(text);
    b.textContent = done ? 'Copied' : 'Select and copy';
    b.classList.toggle('copied', done);
  }, null, { 'aria-label': `${label} to clipboard` });
  return b;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (plain http on a non-loopback name): the old way still works.
    const area = h('textarea', { class: 'offscreen', readonly: true }, text);
    document.body.append(area);
    area.select();
    const done = document.execCommand('copy');
    area.remove();
    return done;
  }
}

/** A secret shown once: the value, selectable, with a copy button and the warning. */
export function secret(value, what = 'key') {
  return h('div', { class: 'secret', role: 'status' },
    h('p', null, h('strong', null, `Copy this ${what} now.`), ` It is shown only once; Tollgate keeps only its hash.`),
    h('div', { class: 'secret-row' }, h('code', { class: 'secret-value', tabindex: '0' }, value), copyButton(value)));
}

/** A notice above the page content. */
export function notice(text, kind = 'info') {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** Shows a short message in the corner for a few seconds. */
export function toast(text, kind = 'ok') {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', { id: 'toasts', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const t = h('div', { class: `toast ${kind}` }, text);
  box.append(t);
  setTimeout(() => t.remove(), 4000);
}

/**
 * A form. fields = [{ name, label, type ('text', 'password', 'number', 'select', 'textarea',
 * 'checkbox'), options (for select: [value, label] pairs), required, placeholder, help, value,
 * matches (a RegExp: a server message it matches is shown under this field) }].
 * `onSubmit(values)` may throw an ApiError: a message that names a field ("name: ..." or
 * "... `name` ...") is shown under that field, anything else above the buttons.
 */
export function form({ fields, submit = 'Save', onSubmit, cancel, inline }) {
  const controls = {};
  const errors = {};
  const general = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const rows = fields.map((f) => {
    const id = `f-${f.name}-${Math.random().toString(36).slice(2, 8)}`;
    const control = makeControl(f, id);
    controls[f.name] = control;
    errors[f.name] = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
    const label = h('label', { for: id }, f.label, f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
    const help = f.help ? h('p', { class: 'help', id: `${id}-help` }, f.help) : null;
    if (help) control.setAttribute('aria-describedby', `${id}-help`);
    return f.type === 'checkbox'
      ? h('div', { class: 'field check' }, control, label, help, errors[f.name])
      : h('div', { class: 'field' }, label, control, help, errors[f.name]);
  });
  const submitButton = h('button', { type: 'submit', class: 'primary' }, submit);
  const el = h('form', { class: inline ? 'form inline' : 'form', novalidate: true },
    rows, general,
    h('div', { class: 'form-actions' }, submitButton, cancel ? button('Cancel', cancel) : null));
  const clear = () => {
    general.hidden = true;
    for (const [name, e] of Object.entries(errors)) {
      e.hidden = true;
      controls[name].removeAttribute('aria-invalid');
    }
  };
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear();
    const values = {};
    for (const f of fields) {
      const c = controls[f.name];
      let v = f.type === 'checkbox' ? c.checked : c.value;
      if (f.type === 'number' && v !== '') v = Number(v);
      if (f.required && (v === '' || v === null)) {
        showError(f.name, `${f.label} is required.`);
        return;
      }
      values[f.name] = v;
    }
    submitButton.disabled = true;
    try {
      await onSubmit(values);
    } catch (e) {
      const field = e instanceof ApiError ? fieldOf(e.message, fields) : null;
      if (field) showError(field, e.message);
      else {
        general.textContent = e.message;
        general.hidden = false;
      }
    } finally {
      submitButton.disabled = false;
    }
  });
  function showError(name, message) {
    errors[name].textContent = message;
    errors[name].hidden = false;
    controls[name].setAttribute('aria-invalid', 'true');
    controls[name].setAttribute('aria-errormessage', errors[name].id);
    controls[name].focus();
  }
  el.controls = controls;
  return el;
}

function makeControl(f, id) {
  const common = { id, name: f.name, required: f.required || null, placeholder: f.placeholder || null };
  switch (f.type) {
    case 'select':
      return h('select', common, (f.options || []).map(([v, l]) =>
        h('option', { value: v, selected: String(f.value ?? '') === String(v) }, l ?? v)));
    case 'textarea':
      return h('textarea', { ...common, rows: f.rows || 6, spellcheck: 'false', value: f.value ?? '' });
    case 'checkbox':
      return h('input', { ...common, type: 'checkbox', checked: !!f.value });
    default:
      return h('input', { ...common, type: f.type || 'text', value: f.value ?? '', autocomplete: f.autocomplete || 'off', min: f.min, step: f.step });
  }
}

/**
 * The field a server message names: "name: ...", a path such as "routes[orders].api.approval: ..."
 * or "upstreams[u].targets[0]: ..." (the entry's own `section[name]` and list indexes dropped,
 * then the longest part of the path that is a field: `api.approval`, else `approval`), or a
 * `name` in backticks or quotes.
 */
function fieldOf(message, fields) {
  const names = fields.map((f) => f.name);
  const lead = /^(\S+?):\s/.exec(message);
  if (lead) {
    const parts = lead[1].replace(/^\w+\[[^\]]*\]\.?/, '').replace(/\[[^\]]*\]/g, '.').split('.').filter(Boolean);
    for (let len = parts.length; len > 0; len--) {
      for (let from = parts.length - len; from >= 0; from--) {
        const candidate = parts.slice(from, from + len).join('.');
        if (names.includes(candidate)) return candidate;
      }
    }
  }
  const named = fields.find((f) => f.matches && f.matches.test(message));
  if (named) return named.name;
  for (const n of names) {
    if (message.includes(`\`${n}\``) || message.includes(`"${n}"`) || message.includes(`'${n}'`)) return n;
  }
  return null;
}

/** A modal dialog; resolves true when confirmed. */
export function confirmDialog(text, { confirm = 'Confirm', danger = false, reason = false } = {}) {
  return new Promise((resolve) => {
    const input = reason ? h('textarea', { rows: 3, 'aria-label': 'Reason', placeholder: 'Reason (shown to the requester)' }) : null;
    const dialog = h('dialog', { class: 'dialog', 'aria-label': text },
      h('p', null, text), input,
      h('div', { class: 'form-actions' },
        button(confirm, () => close(reason ? input.value : true), danger ? 'danger' : 'primary'),
        button('Cancel', () => close(false))));
    const close = (v) => {
      dialog.close();
      dialog.remove();
      resolve(v);
    };
    dialog.addEventListener('cancel', () => close(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Formats for what pages show. */
export const fmt = {
  num: (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US')),
  cost: (n) => (n === null || n === undefined ? '–' : `$${Number(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 4 })}`),
  ms: (n) => (n === null || n === undefined ? '–' : `${Number(n).toLocaleString('en-US', { maximumFractionDigits: 1 })} ms`),
  pct: (n) => (n === null || n === undefined ? '–' : `${(Number(n) * 100).toLocaleString('en-US', { maximumFractionDigits: 1 })}%`),
  /** A unix time (seconds) as a local date and time. */
  time: (t) => (t ? new Date(t * 1000).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' }) : '–'),
  /** A unix time as "5 min ago" / "in 3 days". */
  ago: (t) => {
    if (!t) return '–';
    const d = t - Date.now() / 1000;
    const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
    const units = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
    for (const [u, secs] of units) if (Math.abs(d) >= secs || u === 'second') return rtf.format(Math.round(d / secs), u);
    return '';
  },
};

/** A link that looks like a link and goes to a hash route. */
export function a(href, ...children) {
  return h('a', { href }, children);
}

/** A definition list of [label, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '–')]));
}
