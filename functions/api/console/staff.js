// Staff: what needs attention, conference setup, bulk purchases, orders, store credit, failed Stripe
// events and the audit. Each page starts with a staff-only call, so a refusal shows the API's message.
import { all, api, conf } from './api.js';
import { catalogOf, creditsTable, namesOf, ordersTable } from './attendee.js';
import { purchasesTable } from './sponsor.js';
import {
  amountInput, announce, badge, busy, errorNotice, field, flash, h, money, newKey, notice, parseAmount, table, when,
} from './ui.js';

/** The failed Stripe events (staff only): the API refuses anyone else, and the page stops there. */
async function gate(cid, page) {
  const failed = await all(`${conf(cid)}/stripe-events`, { status: 'failed' }, 5);
  if (failed.length) {
    page.append(notice('warn', `${failed.length} Stripe event${failed.length === 1 ? '' : 's'} failed: `,
      h('a', { href: `#/c/${cid}/staff/events` }, 'review and replay')));
  }
  return failed;
}

export async function attention({ cid, page }) {
  page.append(h('h1', {}, 'Needs attention'), h('p', { class: 'lead' }, 'Money or records the system will not settle on its own: a person must look.'));
  const failed = await gate(cid, page);
  const [catalog, purchases, orders] = await Promise.all([
    catalogOf(cid), all(`${conf(cid)}/bulk-purchases`), all(`${conf(cid)}/orders`, {}, 5),
  ]);
  const names = namesOf(catalog);
  const flaggedPurchases = purchases.filter((p) => p.attention);
  const flaggedOrders = orders.filter((o) => o.attention);
  page.append(h('h2', {}, 'Failed Stripe events'), failed.length
    ? h('p', {}, `${failed.length} waiting. `, h('a', { href: `#/c/${cid}/staff/events` }, 'Open the Stripe events'))
    : h('p', { class: 'empty' }, 'No failed Stripe events.'));
  page.append(h('h2', {}, 'Bulk purchases'), table({
    caption: 'Bulk purchases that need attention',
    rows: flaggedPurchases,
    empty: 'No bulk purchase needs attention.',
    columns: [
      ['Purchase', (p) => h('a', { href: `#/c/${cid}/purchases/${p.id}` }, `${p.quantity} × ${names[p.ticket_type_id ? `ticket:${p.ticket_type_id}` : `addon:${p.addon_id}`] || p.id}`)],
      ['Sponsor', (p) => p.sponsor_id || '—'],
      ['Status', (p) => badge(p.status)],
      ['Why', (p) => p.attention],
    ],
  }));
  page.append(h('h2', {}, 'Orders'), table({
    caption: 'Orders that need attention',
    rows: flaggedOrders,
    empty: 'No order needs attention.',
    columns: [
      ['Order', (o) => h('a', { href: `#/c/${cid}/orders/${o.id}` }, o.reference)],
      ['User', (o) => o.user_id],
      ['Status', (o) => badge(o.status)],
      ['Why', (o) => o.attention],
    ],
  }));
}

function checkbox(name, label, checked) {
  return h('label', { class: 'choice' }, h('input', { type: 'checkbox', name, checked }), label);
}

/** A PUT form: fields are [name, label, input]; `toBody` builds the request from the form's values. */
function upsertForm({ title, idLabel, path, fields, toBody, onSaved }) {
  const idInput = h('input', { name: 'id', required: true, pattern: '[a-z0-9][a-z0-9-]*', autocomplete: 'off' });
  const out = h('div');
  const submit = h('button', { type: 'submit' }, 'Save');
  const titleId = `t-${title.toLowerCase().replace(/\W+/g, '-')}`;
  const form = h('form', {
    class: 'card',
    id: `form-${title.toLowerCase().split(' (')[0].replace(/\W+/g, '-')}`,
    'aria-labelledby': titleId,
    onsubmit: async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(new FormData(form));
      for (const box of form.querySelectorAll('input[type="checkbox"]')) values[box.name] = box.checked;
      let body;
      try {
        body = toBody(values);
      } catch (err) {
        out.replaceChildren(errorNotice(err));
        return;
      }
      const saved = await busy(submit, out, () => api('PUT', path(values.id), { body }));
      if (saved) {
        const message = `Saved ${saved.name || values.id}.`;
        if (onSaved) {
          flash(message);
          onSaved();
        } else {
          out.replaceChildren(notice('ok', message));
          form.reset();
        }
      }
    },
  }, h('h2', { id: titleId }, title), idLabel ? field(idLabel, idInput) : null, fields, h('div', { class: 'actions' }, submit), out);
  return form;
}

function price(values, currency) {
  const minor = parseAmount(values.price, currency);
  if (minor === null) throw new Error(`The price "${values.price}" is not an amount in ${currency.toUpperCase()}.`);
  return minor;
}

const capacityOf = (values) => (values.capacity === '' || values.capacity === undefined ? null : Number(values.capacity));

export async function setup({ cid, page, roles: who }) {
  page.append(h('h1', {}, 'Conference setup'));
  await gate(cid, page);
  const catalog = await catalogOf(cid);
  const cur = catalog.currency;
  const rows = [...catalog.ticket_types.map((t) => ({ kind: 'Ticket type', ...t })), ...catalog.addons.map((a) => ({ kind: 'Add-on', ...a }))];
  page.append(table({
    caption: `Catalog (${cur.toUpperCase()})`,
    id: 'catalog-table',
    rows,
    columns: [
      ['Kind', (i) => i.kind], ['Id', (i) => h('code', {}, i.id)], ['Name', (i) => i.name],
      ['Price', (i) => money(i.price, cur), { num: true }],
      ['Sponsors can buy', (i) => (i.bulk_enabled ? 'yes' : 'no')],
      ['Needs a code', (i) => (i.requires_voucher ? 'yes' : i.kind === 'Add-on' ? '—' : 'no')],
      ['Capacity', (i) => i.capacity ?? 'unlimited', { num: true }],
      ['Left', (i) => (i.sold_out ? 'sold out' : i.available ?? '—'), { num: true }],
      ['Action', (i) => h('button', { type: 'button', class: 'secondary', 'aria-label': `Edit ${i.name}`, onclick: () => edit(i) }, 'Edit')],
    ],
  }));
  // Edit fills the form of the item's kind with what it is now (a save replaces it whole).
  const edit = (item) => {
    const form = document.getElementById(item.kind === 'Add-on' ? 'form-add-on' : 'form-ticket-type');
    const set = { id: item.id, name: item.name, price: amountInput(item.price, cur), capacity: item.capacity ?? '' };
    for (const [name, value] of Object.entries(set)) form.elements[name].value = value;
    for (const name of ['bulk_enabled', 'requires_voucher']) if (form.elements[name]) form.elements[name].checked = Boolean(item[name]);
    form.elements.name.focus();
  };
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  const priceInput = () => h('input', { name: 'price', required: true, inputmode: 'decimal', placeholder: amountInput(0, cur) });
  const capacityInput = () => h('input', { name: 'capacity', type: 'number', min: 0, inputmode: 'numeric' });
  const forms = h('div', { class: 'grid' },
    upsertForm({
      title: 'Ticket type', idLabel: 'Ticket type id', path: (id) => `${conf(cid)}/ticket-types/${encodeURIComponent(id)}`,
      fields: [field('Name', h('input', { name: 'name', required: true })), field('Price', priceInput(), `(${cur.toUpperCase()})`),
        field('Capacity', capacityInput(), '(empty: unlimited)'), checkbox('bulk_enabled', 'Sponsors can buy codes for it'),
        checkbox('requires_voucher', 'Hidden: only with a code')],
      toBody: (v) => ({ name: v.name, price: price(v, cur), bulk_enabled: v.bulk_enabled, requires_voucher: v.requires_voucher, capacity: capacityOf(v) }),
      onSaved: reload,
    }),
    upsertForm({
      title: 'Add-on', idLabel: 'Add-on id', path: (id) => `${conf(cid)}/addons/${encodeURIComponent(id)}`,
      fields: [field('Name', h('input', { name: 'name', required: true })), field('Price', priceInput(), `(${cur.toUpperCase()})`),
        field('Capacity', capacityInput(), '(empty: unlimited)'), checkbox('bulk_enabled', 'Sponsors can buy codes for it')],
      toBody: (v) => ({ name: v.name, price: price(v, cur), bulk_enabled: v.bulk_enabled, capacity: capacityOf(v) }),
      onSaved: reload,
    }),
    upsertForm({
      title: 'Sponsor', idLabel: 'Sponsor id', path: (id) => `${conf(cid)}/sponsors/${encodeURIComponent(id)}`,
      fields: [field('Name', h('input', { name: 'name', required: true })), field('Slug', h('input', { name: 'slug', required: true })),
        field('Contact email', h('input', { name: 'contact_email', type: 'email', required: true })), checkbox('is_active', 'Active', true)],
      toBody: (v) => ({ name: v.name, slug: v.slug, contact_email: v.contact_email, is_active: v.is_active }),
    }));
  page.append(forms);
  if (who.admin) {
    page.append(upsertForm({
      title: 'Conference settings (admin)', path: () => conf(cid),
      fields: [field('Name', h('input', { name: 'name', required: true, value: catalog.name })),
        field('Currency', h('input', { name: 'currency', required: true, value: cur, maxlength: 3 }), '(fixed once set)'),
        field('Venue capacity', h('input', { name: 'capacity', type: 'number', min: 0 }), '(every ticket type together; empty: unlimited)'),
        checkbox('is_active', 'On sale', true)],
      toBody: (v) => ({ name: v.name, currency: v.currency.toLowerCase(), is_active: v.is_active, ticket_capacity: capacityOf(v) }),
      onSaved: reload,
    }));
  }
}

export async function purchases({ cid, page, params }) {
  page.append(h('h1', {}, 'Bulk purchases'));
  await gate(cid, page);
  const catalog = await catalogOf(cid);
  const names = namesOf(catalog);
  const status = h('select', { id: 'purchase-status-filter', name: 'status' },
    ['', 'pending', 'approved', 'processing', 'paid', 'failed', 'refunded'].map((s) => h('option', { value: s, selected: params.get('status') === s }, s || 'any')));
  const sponsorFilter = h('input', { id: 'purchase-sponsor-filter', name: 'sponsor_id', value: params.get('sponsor_id') || '' });
  page.append(h('form', {
    class: 'card',
    role: 'search',
    onsubmit: (event) => {
      event.preventDefault();
      const query = new URLSearchParams({ status: status.value, sponsor_id: sponsorFilter.value.trim() });
      window.location.hash = `#/c/${cid}/staff/purchases?${query}`;
    },
  }, h('div', { class: 'grid' }, field('Status', status), field('Sponsor id', sponsorFilter)), h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'))));
  const list = await all(`${conf(cid)}/bulk-purchases`, { status: params.get('status'), sponsor_id: params.get('sponsor_id') });
  page.append(purchasesTable(cid, names, list, 'No bulk purchases match.'));

  // A deal made by staff: a comp (free) deal is approved and its codes issued here; a priced one is paid by the sponsor.
  const items = [...catalog.ticket_types.map((t) => [`ticket:${t.id}`, t]), ...catalog.addons.map((a) => [`addon:${a.id}`, a])];
  const item = h('select', { name: 'item' }, items.map(([key, i]) => h('option', { value: key }, i.name)));
  const out = h('div');
  const submit = h('button', { type: 'submit' }, 'Create the deal');
  const key = newKey();
  const form = h('form', {
    class: 'card',
    'aria-labelledby': 'deal-title',
    onsubmit: async (event) => {
      event.preventDefault();
      const v = Object.fromEntries(new FormData(form));
      const unit = parseAmount(v.unit_price || '0', catalog.currency);
      if (unit === null) {
        out.replaceChildren(notice('error', 'The unit price is not an amount.'));
        return;
      }
      const [kind, itemId] = v.item.split(':');
      const body = {
        sponsor_id: v.sponsor_id || undefined, quantity: Number(v.quantity), unit_price: unit,
        [kind === 'ticket' ? 'ticket_type_id' : 'addon_id']: itemId, description: v.description || undefined,
        voucher_config: { voucher_type: 'comp', max_uses: 1 },
      };
      const created = await busy(submit, out, () => api('POST', `${conf(cid)}/bulk-purchases`, { body, idempotencyKey: key }));
      if (created) window.location.hash = `#/c/${cid}/purchases/${created.id}`;
    },
  }, h('h2', { id: 'deal-title' }, 'New deal for a sponsor'),
  h('div', { class: 'grid' }, field('Sponsor id', h('input', { name: 'sponsor_id', required: true })), field('Ticket or add-on', item),
    field('Quantity', h('input', { name: 'quantity', type: 'number', min: 1, value: 1, required: true })),
    field('Unit price', h('input', { name: 'unit_price', inputmode: 'decimal', value: amountInput(0, catalog.currency) }), '(0: a comp deal)'),
    field('Description', h('input', { name: 'description' }))),
  h('div', { class: 'actions' }, submit), out);
  page.append(form);
}

export async function orders({ cid, page, params }) {
  page.append(h('h1', {}, 'Orders'));
  await gate(cid, page);
  const catalog = await catalogOf(cid);
  const find = h('input', { id: 'order-find', name: 'find', value: params.get('find') || '', autocomplete: 'off' });
  const user = h('input', { id: 'order-user', name: 'user', value: params.get('user') || '', autocomplete: 'off' });
  const status = h('select', { id: 'order-status-filter', name: 'status' },
    ['', 'pending', 'paid', 'partially_refunded', 'refunded', 'cancelled'].map((s) => h('option', { value: s, selected: params.get('status') === s }, s ? s.replaceAll('_', ' ') : 'any')));
  page.append(h('form', {
    class: 'card',
    role: 'search',
    onsubmit: (event) => {
      event.preventDefault();
      const value = find.value.trim();
      if (value.startsWith('ord_')) {
        window.location.hash = `#/c/${cid}/orders/${value}`;
        return;
      }
      const query = new URLSearchParams({ find: value, user: user.value.trim(), status: status.value });
      window.location.hash = `#/c/${cid}/staff/orders?${query}`;
    },
  }, h('div', { class: 'grid' }, field('Reference or order id', find), field('User id', user), field('Status', status)),
  h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'order-search' }, 'Find'))));
  const wanted = (params.get('find') || '').toUpperCase();
  let list = await all(`${conf(cid)}/orders`, { user_id: params.get('user'), status: params.get('status') }, wanted ? 20 : 2);
  if (wanted) list = list.filter((o) => o.reference.toUpperCase() === wanted || o.id === params.get('find'));
  page.append(ordersTable(cid, catalog, list, wanted ? `No order has the reference ${wanted}.` : 'No orders match.'));
}

export async function credits({ cid, page, params }) {
  page.append(h('h1', {}, 'Store credit'));
  await gate(cid, page);
  await catalogOf(cid);
  const user = h('input', { id: 'credit-user', name: 'user', value: params.get('user') || '' });
  page.append(h('form', {
    class: 'card',
    role: 'search',
    onsubmit: (event) => {
      event.preventDefault();
      window.location.hash = `#/c/${cid}/staff/credits?${new URLSearchParams({ user: user.value.trim() })}`;
    },
  }, field('User id', user, '(empty: everyone)'), h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show'))));
  const list = await all(`${conf(cid)}/credits`, { user_id: params.get('user') });
  page.append(creditsTable(cid, list, 'No store credit.'));
}

export async function events({ cid, page }) {
  page.append(h('h1', {}, 'Failed Stripe events'), h('p', { class: 'lead' },
    'Events whose processing failed after its retries. Fix the cause, then replay: the event is processed again, exactly once.'));
  const failed = await all(`${conf(cid)}/stripe-events`, { status: 'failed' }, 5);
  await catalogOf(cid);
  const out = h('div', { id: 'replay-result' });
  const replay = (e) => {
    const button = h('button', { type: 'button', class: 'secondary', 'aria-label': `Replay ${e.event_id}` }, 'Replay');
    button.addEventListener('click', async () => {
      const queued = await busy(button, out, () => api('POST', `${conf(cid)}/stripe-events/${e.event_id}/replay`));
      if (queued) {
        out.replaceChildren(notice('ok', `Queued ${e.event_id} (${e.type}) for processing again.`));
        announce(`Queued ${e.event_id} again.`);
        button.closest('tr')?.querySelector('.badge')?.replaceWith(badge('queued'));
      }
    });
    return button;
  };
  page.append(out, table({
    caption: `${failed.length} failed event${failed.length === 1 ? '' : 's'}`,
    id: 'events-table',
    rows: failed,
    empty: 'No failed Stripe events.',
    columns: [
      ['Event', (e) => h('code', {}, e.event_id)], ['Type', (e) => e.type], ['Status', (e) => badge(e.status)],
      ['Attempts', (e) => e.attempts, { num: true }], ['Last error', (e) => e.last_error || '—'],
      ['Received', (e) => when(e.received_at)], ['Action', replay],
    ],
  }));
  page.append(h('div', { class: 'actions' }, h('button', {
    type: 'button', class: 'secondary', id: 'refresh-events', onclick: () => window.dispatchEvent(new HashChangeEvent('hashchange')),
  }, 'Refresh the list')));
}

export async function audit({ cid, page }) {
  page.append(h('h1', {}, 'The books'), h('p', { class: 'lead' },
    'Every order, purchase, code, credit and Stripe event checked against each other and against Stripe. Nothing is corrected automatically.'));
  const report = await api('GET', `${conf(cid)}/audit`, { query: { limit: 200 } });
  await catalogOf(cid);
  page.append(h('p', {}, 'Checked: ', Object.entries(report.checked).map(([k, n]) => `${n} ${k.replaceAll('_', ' ')}`).join(', ') || 'nothing yet', '.'));
  if (!report.items.length) {
    page.append(notice('ok', 'The books hold: nothing found.'));
    return;
  }
  page.append(table({
    caption: `${report.items.length} problem${report.items.length === 1 ? '' : 's'}${report.next ? ' (first page)' : ''}`,
    id: 'audit-table',
    rows: report.items,
    columns: [
      ['Kind', (i) => i.kind], ['Record', (i) => h('code', {}, i.record)], ['Invariant', (i) => i.invariant],
      ['Ours', (i) => JSON.stringify(i.ours)], ['Stripe', (i) => JSON.stringify(i.stripe)], ['Detail', (i) => i.detail],
    ],
  }));
}
