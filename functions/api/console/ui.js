// Small DOM helpers, money and dates, the confirmation dialog and the page's messages.

/** h('p', {class: 'x'}, 'text', child): an element with attributes, properties and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'value' || key === 'checked') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Stripe's decimals per currency (the API's boxoffice.money keeps the same tables).
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx',
  'vnd', 'vuv', 'xaf', 'xof', 'xpf']);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

export function decimals(currency) {
  const code = (currency || '').toLowerCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

/** An amount in minor units, in the conference's currency format: money(125000, 'usd') is "$1,250.00". */
export function money(amount, currency) {
  if (amount === null || amount === undefined) return '—';
  const digits = decimals(currency);
  const major = Number(amount) / 10 ** digits;
  return new Intl.NumberFormat(undefined, {
    style: 'currency', currency: (currency || 'usd').toUpperCase(),
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(major);
}

/** "12.50" typed by a person, in minor units (1250), without floating point; null when it is not an amount. */
export function parseAmount(text, currency) {
  const digits = decimals(currency);
  const match = String(text).trim().replace(/[\s,]/g, '').match(/^(\d+)(?:\.(\d*))?$/);
  if (!match || (match[2] || '').length > digits) return null;
  const fraction = (match[2] || '').padEnd(digits, '0');
  return Number(match[1]) * 10 ** digits + Number(fraction || 0);
}

/** Minor units as the plain number a form field shows (1250 → "12.50"). */
export function amountInput(amount, currency) {
  const digits = decimals(currency);
  if (digits === 0) return String(amount);
  const text = String(amount).padStart(digits + 1, '0');
  return `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

export function when(iso) {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

const STATUS_TONE = {
  paid: 'ok', processed: 'ok', succeeded: 'ok', active: 'ok', fulfilled: 'ok', approved: 'ok',
  pending: 'warn', processing: 'warn', partially_refunded: 'warn', received: 'warn',
  failed: 'bad', cancelled: 'bad', refunded: 'bad', expired: 'bad', frozen: 'bad', rejected: 'bad',
};

export function badge(status) {
  const label = String(status || 'unknown').replaceAll('_', ' ');
  return h('span', { class: `badge ${STATUS_TONE[status] || ''}` }, label);
}

/** A table; columns are [header, row => cell, {num: true}]. Empty rows show `empty` instead. */
export function table({ caption, columns, rows, empty = 'Nothing here yet.', id }) {
  if (!rows.length) return h('p', { class: 'empty', id }, empty);
  const head = h('tr', {}, columns.map(([label, , opts]) => h('th', { scope: 'col', class: opts?.num ? 'num' : null }, label)));
  const body = rows.map((row) => h('tr', {}, columns.map(([label, cell, opts]) =>
    h('td', { 'data-label': label, class: opts?.num ? 'num' : null }, cell(row)))));
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'stack', id }, caption ? h('caption', {}, caption) : null, h('thead', {}, head), h('tbody', {}, body)));
}

export function field(labelText, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const hintEl = hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, labelText, hintEl ? ' ' : null, hintEl), input);
}

export function notice(kind, ...content) {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...content);
}

/** The API's own sentence when it refused, else what went wrong on the way. */
export function errorNotice(err) {
  return notice('error', h('strong', {}, 'Not done: '), err?.message || String(err));
}

export function loading(what = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, what);
}

/** Say something to screen readers without moving focus. */
export function announce(text) {
  const el = document.getElementById('announcer');
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 50);
}

/** Ask before money moves. Resolves true only when the person confirms. */
export function confirmAction({ title, body, confirmLabel = 'Confirm', danger = false }) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-body').replaceChildren(...[].concat(body).map((b) => (b instanceof Node ? b : h('p', {}, b))));
  const ok = document.getElementById('confirm-ok');
  ok.textContent = confirmLabel;
  ok.className = danger ? 'danger' : '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = 'cancel';
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

/** Run `action` from a button: disabled while it runs, errors shown in `out` as the API said them. */
export async function busy(button, out, action) {
  button.disabled = true;
  out?.replaceChildren();
  try {
    return await action();
  } catch (err) {
    out?.replaceChildren(errorNotice(err));
    return undefined;
  } finally {
    button.disabled = false;
  }
}

export function newKey() {
  return crypto.randomUUID();
}

export function setConferenceName(name) {
  document.getElementById('conference-name').textContent = name ? `· ${name}` : '';
}

let flashed = null;

/** A message for the next page shown (after a save re-renders the page). */
export function flash(text) {
  flashed = text;
}

export function takeFlash() {
  const text = flashed;
  flashed = null;
  return text;
}
