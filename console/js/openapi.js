// Renders an API's OpenAPI document (3.0 or 3.1, as the catalog gives it) as reference docs:
// its servers, each operation with its method, path, summary, parameters, request body and
// responses, and schemas as nested field lists. Local `$ref`s are followed (a cycle is shown as
// a link-like name, not followed again). Built with DOM calls only: nothing in the document can
// become markup.

import { h, badge, card, table, empty } from './ui.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * The reference for `doc`: a parsed document, `{url}` for a remote one, a string (a YAML file,
 * shown as it is) or null (no document).
 */
export function reference(doc) {
  if (!doc) return empty('This API publishes no OpenAPI document. Ask its owner for one.');
  if (typeof doc === 'string') return card('OpenAPI document', h('pre', { class: 'doc-source' }, doc));
  if (doc.url && !doc.paths) {
    return card('OpenAPI document', h('p', null, 'The document is published at ', h('a', { href: doc.url, rel: 'noreferrer noopener', target: '_blank' }, doc.url), '.'));
  }
  const ctx = { doc };
  const ops = operations(doc);
  const schemas = Object.entries(doc.components?.schemas || doc.definitions || {});
  return h('div', { class: 'reference' },
    info(doc),
    servers(doc),
    card(`Operations (${ops.length})`,
      ops.length ? ops.map((op) => operation(op, ctx)) : empty('The document lists no operations.')),
    schemas.length
      ? card('Schemas', schemas.map(([name, schema]) => h('details', { class: 'schema-block', id: `schema-${name}` },
        h('summary', null, h('code', null, name)), schemaView(schema, ctx, new Set([`#/components/schemas/${name}`])))))
      : null);
}

function info(doc) {
  const i = doc.info || {};
  if (!i.title && !i.description) return null;
  return card(i.title || 'About', i.version ? h('p', { class: 'muted' }, `Document version ${i.version}`) : null,
    i.description ? paragraphs(i.description) : null);
}

function servers(doc) {
  const list = doc.servers || [];
  if (!list.length) return null;
  return card('Servers', h('ul', { class: 'servers' }, list.map((s) =>
    h('li', null, h('code', null, s.url), s.description ? ` – ${s.description}` : null))));
}

/** Every operation of the document, in document order: {method, path, op, shared parameters}. */
function operations(doc) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    if (!item || typeof item !== 'object') continue;
    for (const method of METHODS) {
      if (item[method]) out.push({ method, path, op: item[method], shared: item.parameters || [] });
    }
  }
  return out;
}

function operation({ method, path, op, shared }, ctx) {
  const params = mergeParams(shared, op.parameters || [], ctx);
  return h('details', { class: 'operation', open: true },
    h('summary', null,
      h('span', { class: `method ${method}` }, method.toUpperCase()),
      h('code', { class: 'op-path' }, path),
      op.summary ? h('span', { class: 'op-summary' }, op.summary) : null,
      op.deprecated ? badge('deprecated') : null),
    h('div', { class: 'op-body' },
      op.description ? paragraphs(op.description) : null,
      op.operationId ? h('p', { class: 'muted' }, 'Operation ', h('code', null, op.operationId)) : null,
      params.length ? [h('h3', null, 'Parameters'), paramTable(params, ctx)] : null,
      op.requestBody ? requestBody(resolve(op.requestBody, ctx), ctx) : null,
      responses(op.responses || {}, ctx)));
}

/** Path-level parameters, replaced by an operation's own of the same name and place. */
function mergeParams(shared, own, ctx) {
  const all = [...shared, ...own].map((p) => resolve(p, ctx));
  const seen = new Map();
  for (const p of all) seen.set(`${p.in}:${p.name}`, p);
  return [...seen.values()];
}

function paramTable(params, ctx) {
  return table({
    columns: [
      { label: 'Name', value: (p) => h('code', null, p.name) },
      { label: 'In', value: (p) => p.in },
      { label: 'Type', value: (p) => typeName(resolve(p.schema || {}, ctx), ctx) },
      { label: 'Required', value: (p) => (p.required ? 'yes' : 'no') },
      { label: 'Description', value: (p) => p.description || '' },
    ],
    rows: params,
  });
}

function requestBody(body, ctx) {
  return [h('h3', null, 'Request body', body.required ? h('span', { class: 'muted' }, ' (required)') : null),
    body.description ? h('p', null, body.description) : null,
    content(body.content || {}, ctx)];
}

function responses(map, ctx) {
  const entries = Object.entries(map);
  if (!entries.length) return null;
  return [h('h3', null, 'Responses'), h('ul', { class: 'responses' }, entries.map(([code, r]) => {
    const res = resolve(r, ctx);
    return h('li', null,
      h('span', { class: `status s${String(code)[0]}` }, code), ' ', res.description || '',
      res.content ? content(res.content, ctx) : null);
  }))];
}

function content(map, ctx) {
  return Object.entries(map).map(([type, media]) => h('div', { class: 'media' },
    h('p', { class: 'muted' }, h('code', null, type)),
    media.schema ? schemaView(media.schema, ctx, new Set()) : null));
}

/** Follows a local `$ref` (`#/components/...`); anything else is returned as it is. */
function resolve(node, ctx) {
  let n = node;
  for (let i = 0; n && n.$ref && i < 20; i++) {
    const target = lookup(ctx.doc, n.$ref);
    if (!target) return { description: `(unresolved ${n.$ref})` };
    n = target;
  }
  return n || {};
}

function lookup(doc, ref) {
  if (!ref.startsWith('#/')) return null;
  return ref.slice(2).split('/').reduce((o, k) => (o ? o[k.replace(/~1/g, '/').replace(/~0/g, '~')] : null), doc);
}

const refName = (ref) => ref.split('/').pop();

/** A short type label: `string (date-time)`, `array of Order`, `"a" | "b"`. */
function typeName(schema, ctx) {
  if (schema.$ref) return refName(schema.$ref);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  let t = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type;
  if (t === 'array' && schema.items) t = `array of ${typeName(schema.items, ctx)}`;
  if (!t && (schema.oneOf || schema.anyOf)) t = (schema.oneOf || schema.anyOf).map((s) => typeName(s, ctx)).join(' | ');
  if (!t && schema.properties) t = 'object';
  if (!t && schema.allOf) t = 'object';
  if (schema.format) t = `${t || ''} (${schema.format})`;
  if (schema.nullable) t = `${t}, nullable`;
  return t || 'any';
}

/**
 * A schema as a nested list of fields: each with its name, type, required mark, description
 * and, for objects and arrays of objects, its own fields. `seen` holds the `$ref`s on the way
 * down, so a recursive schema stops at its name.
 */
export function schemaView(schema, ctx, seen) {
  if (schema.$ref) {
    if (seen.has(schema.$ref)) return h('p', { class: 'muted' }, `${refName(schema.$ref)} (see above)`);
    const inner = new Set(seen).add(schema.$ref);
    return h('div', { class: 'schema' }, h('p', { class: 'schema-name' }, h('code', null, refName(schema.$ref))), schemaView(resolve(schema, ctx), ctx, inner));
  }
  const merged = mergeAllOf(schema, ctx);
  if (merged.properties) return fieldList(merged, ctx, seen);
  if (merged.type === 'array' && merged.items) {
    const items = merged.items.$ref ? merged.items : merged.items;
    return h('div', { class: 'schema' }, h('p', { class: 'muted' }, `array of ${typeName(items, ctx)}`), objectLike(items, ctx) ? schemaView(items, ctx, seen) : null);
  }
  const alts = merged.oneOf || merged.anyOf;
  if (alts) {
    return h('div', { class: 'schema' }, h('p', { class: 'muted' }, merged.oneOf ? 'one of:' : 'any of:'),
      h('ol', { class: 'alternatives' }, alts.map((s) => h('li', null, objectLike(s, ctx) ? schemaView(s, ctx, seen) : typeName(s, ctx)))));
  }
  return h('p', { class: 'muted' }, typeName(merged, ctx), merged.description ? ` – ${merged.description}` : '');
}

function objectLike(schema, ctx) {
  const s = resolve(schema, ctx);
  return !!(s.properties || s.allOf || s.oneOf || s.anyOf || (s.type === 'array' && s.items));
}

/** `allOf` parts put together into one object schema. */
function mergeAllOf(schema, ctx) {
  if (!schema.allOf) return schema;
  const out = { ...schema, properties: { ...(schema.properties || {}) }, required: [...(schema.required || [])] };
  delete out.allOf;
  for (const part of schema.allOf) {
    const p = mergeAllOf(resolve(part, ctx), ctx);
    Object.assign(out.properties, p.properties || {});
    out.required.push(...(p.required || []));
    if (!out.description && p.description) out.description = p.description;
  }
  return out;
}

function fieldList(schema, ctx, seen) {
  const required = new Set(schema.required || []);
  return h('ul', { class: 'fields' }, Object.entries(schema.properties).map(([name, prop]) => {
    const target = resolve(prop, ctx);
    return h('li', { class: 'field-item' },
      h('code', { class: 'field-name' }, name), ' ',
      h('span', { class: 'field-type' }, typeName(prop, ctx)),
      required.has(name) ? h('span', { class: 'field-req' }, ' required') : null,
      target.description ? h('span', { class: 'field-desc' }, ` – ${target.description}`) : null,
      children(prop, ctx, seen));
  }));
}

/**
 * The fields inside a field: of its object, or of its array's items, following `$ref`s (the
 * type label already names them). A `$ref` already on the way down is not opened again.
 */
function children(schema, ctx, seen) {
  let s = schema;
  const marks = new Set(seen);
  for (let i = 0; i < 8; i++) {
    if (s.$ref) {
      if (marks.has(s.$ref)) return null;
      marks.add(s.$ref);
      s = resolve(s, ctx);
    } else if (s.type === 'array' && s.items) {
      s = s.items;
    } else break;
  }
  const merged = mergeAllOf(s, ctx);
  if (merged.properties) return fieldList(merged, ctx, marks);
  if (merged.oneOf || merged.anyOf) return schemaView(merged, ctx, marks);
  return null;
}

/** Text with blank-line paragraphs (CommonMark is not rendered; its text stays readable). */
function paragraphs(text) {
  return String(text).split(/\n\s*\n/).map((p) => h('p', null, p));
}
