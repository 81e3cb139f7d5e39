// What any signed-in user does: the catalog, orders (card or store credit), refunds and credits.
import { all, api, conf } from './api.js';
import {
  announce, badge, busy, confirmAction, errorNotice, field, h, money, newKey, notice, parseAmount,
  amountInput, setConferenceName, table, when,
} from './ui.js';

export async function catalogOf(cid) {
  const catalog = await api('GET', `${conf(cid)}/catalog`);
  setConferenceName(catalog.name);
  return catalog;
}

/** id → display name of every ticket type and add-on ("ticket:general" and "addon:workshop"). */
export function namesOf(catalog) {
  const names = {};
  for (const t of catalog.ticket_types) names[`ticket:${t.id}`] = t.name;
  for (const a of catalog.addons) names[`addon:${a.id}`] = a.name;
  return names;
}

export function lineName(names, line) {
  return line.ticket_type_id ? names[`ticket:${line.ticket_type_id}`] || line.ticket_type_id
    : names[`addon:${line.addon_id}`] || line.addon_id;
}

export function left(item) {
  if (item.sold_out) return 'Sold out';
  return item.available === null || item.available === undefined ? 'Available' : `${item.available} left`;
}

export function ownOnly(who, cid) {
  // Staff listing orders or credits without a user see everyone's; "mine" names the user.
  return who.isStaff(cid) ? { user_id: who.sub } : {};
}

export async function shop({ cid, page }) {
  const catalog = await catalogOf(cid);
  const { currency } = catalog;
  page.append(h('h1', {}, 'Buy tickets'), h('p', { class: 'lead' }, `${catalog.name}: choose what you need, then pay by card or with store credit.`));
  const quantities = [];
  const total = h('p', { 'aria-live': 'polite', id: 'order-preview' });
  const update = () => {
    const sum = quantities.reduce((acc, q) => acc + q.item.price * (Number(q.input.value) || 0), 0);
    total.textContent = `Total before any code: ${money(sum, currency)}`;
  };
  const row = (kind) => (item) => {
    const max = item.sold_out ? 0 : Math.min(item.available ?? 20, 20);
    const input = h('input', {
      type: 'number', min: 0, max, value: 0, inputmode: 'numeric', disabled: item.sold_out,
      name: `${kind}:${item.id}`, 'aria-label': `Quantity of ${item.name}`, oninput: update,
    });
    quantities.push({ kind, item, input });
    return input;
  };
  const columns = (kind) => [
    ['Item', (i) => [i.name, i.requires_voucher ? ' (needs a code)' : '']],
    ['Price', (i) => money(i.price, currency), { num: true }],
    ['Left', left],
    ['Quantity', row(kind)],
  ];
  const code = h('input', { id: 'voucher-code', name: 'voucher_code', autocomplete: 'off', spellcheck: 'false' });
  const out = h('div', { id: 'shop-result' });
  const submit = h('button', { type: 'submit', id: 'place-order' }, 'Place order');
  const key = newKey();
  page.append(h('form', {
    class: 'card',
    onsubmit: async (event) => {
      event.preventDefault();
      const lines = quantities.filter((q) => Number(q.input.value) > 0).map((q) => ({
        [q.kind === 'ticket' ? 'ticket_type_id' : 'addon_id']: q.item.id, quantity: Number(q.input.value),
      }));
      if (!lines.length) {
        out.replaceChildren(notice('error', 'Choose at least one ticket or add-on.'));
        return;
      }
      const body = { lines, ...(code.value.trim() ? { voucher_code: code.value.trim() } : {}) };
      const order = await busy(submit, out, () => api('POST', `${conf(cid)}/orders`, { body, idempotencyKey: key }));
      if (order) window.location.hash = `#/c/${cid}/orders/${order.id}`;
    },
  },
  table({ caption: 'Tickets', columns: columns('ticket'), rows: catalog.ticket_types, empty: 'No tickets on sale.' }),
  table({ caption: 'Add-ons', columns: columns('addon'), rows: catalog.addons, empty: 'No add-ons.' }),
  field('Voucher code', code, '(optional: a sponsor code or a discount)'),
  total, h('div', { class: 'actions' }, submit), out));
  update();
}

export async function myOrders({ cid, page, roles: who }) {
  const [catalog, orders] = await Promise.all([catalogOf(cid), all(`${conf(cid)}/orders`, ownOnly(who, cid))]);
  page.append(h('h1', {}, 'My orders'));
  page.append(ordersTable(cid, catalog, orders, 'You have no orders yet.'));
  page.append(h('p', {}, h('a', { href: `#/c/${cid}/shop` }, 'Buy tickets')));
}

export function ordersTable(cid, catalog, orders, empty) {
  const { currency } = catalog;
  return table({
    caption: `${orders.length} order${orders.length === 1 ? '' : 's'}`,
    id: 'orders-table',
    rows: orders,
    empty,
    columns: [
      ['Reference', (o) => h('a', { href: `#/c/${cid}/orders/${o.id}` }, o.reference)],
      ['Placed', (o) => when(o.created_at)],
      ['Status', (o) => [badge(o.status), o.attention ? ' ⚑ needs attention' : '']],
      ['Total', (o) => money(o.total, o.currency || currency), { num: true }],
      ['Paid', (o) => money(o.amount_paid, o.currency || currency), { num: true }],
      ['Refunded', (o) => money(o.amount_refunded, o.currency || currency), { num: true }],
    ],
  });
}

export async function myCredits({ cid, page, roles: who }) {
  const credits = await all(`${conf(cid)}/credits`, ownOnly(who, cid));
  await catalogOf(cid);
  page.append(h('h1', {}, 'My store credit'));
  const available = credits.filter((c) => c.status === 'available').reduce((sum, c) => sum + c.remaining_amount, 0);
  if (credits.length) page.append(h('p', { class: 'lead', id: 'credit-total' }, `Available to spend: ${money(available, credits[0].currency)}`));
  page.append(creditsTable(cid, credits, 'You have no store credit.'));
}

export function creditsTable(cid, credits, empty) {
  return table({
    caption: 'Store credit',
    id: 'credits-table',
    rows: credits,
    empty,
    columns: [
      ['Issued', (c) => when(c.created_at)],
      ['User', (c) => c.user_id],
      ['Amount', (c) => money(c.amount, c.currency), { num: true }],
      ['Remaining', (c) => money(c.remaining_amount, c.currency), { num: true }],
      ['Status', (c) => badge(c.status)],
      ['From order', (c) => (c.source_order_id ? h('a', { href: `#/c/${cid}/orders/${c.source_order_id}` }, 'Order') : '—')],
      ['Spent on', (c) => (c.applications.length ? c.applications.map((a, i) => [i ? ', ' : '', h('a', { href: `#/c/${cid}/orders/${a.order_id}` }, money(a.amount, c.currency))]) : '—')],
      ['Note', (c) => c.note || '—'],
    ],
  });
}

export async function order(ctx) {
  const { cid, id, params, page } = ctx;
  const catalog = await catalogOf(cid);
  const box = h('div');
  page.append(box);
  let current = await api('GET', `${conf(cid)}/orders/${id}`);
  await renderOrder(ctx, catalog, current, box);
  if (params.has('paid') && current.status === 'pending') {
    for (let i = 0; i < 80 && current.status === 'pending' && box.isConnected; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 750));
      current = await api('GET', `${conf(cid)}/orders/${id}`);
    }
    if (box.isConnected) {
      await renderOrder(ctx, catalog, current, box);
      announce(`Order ${current.reference} is ${current.status.replaceAll('_', ' ')}.`);
    }
  }
}

async function renderOrder(ctx, catalog, o, box) {
  const { cid, params, roles: who } = ctx;
  const names = namesOf(catalog);
  const cur = o.currency;
  const owner = o.user_id === who.sub;
  const due = Math.max(o.total - o.amount_paid, 0);
  const reload = async () => renderOrder(ctx, catalog, await api('GET', `${conf(cid)}/orders/${o.id}`), box);
  const parts = [h('h1', {}, `Order ${o.reference}`), h('p', {}, 'Status: ', h('span', { id: 'order-status' }, badge(o.status)), ` · placed ${when(o.created_at)}`)];
  if (params.has('paid') && o.status === 'pending') parts.push(notice('warn', 'Waiting for Stripe to confirm your payment…'));
  if (params.has('cancelled') && o.status === 'pending') parts.push(notice('warn', 'Payment was cancelled: the order is still waiting for payment.'));
  if (o.attention) parts.push(notice('warn', h('strong', {}, 'Needs attention: '), o.attention));
  parts.push(table({
    caption: 'What is in the order',
    rows: o.lines,
    columns: [
      ['Item', (l) => lineName(names, l)],
      ['Quantity', (l) => l.quantity, { num: true }],
      ['Unit price', (l) => money(l.unit_price, cur), { num: true }],
      ['Amount', (l) => money(l.line_total, cur), { num: true }],
      ['Discount', (l) => money(l.discount, cur), { num: true }],
    ],
  }));
  const totals = [['Subtotal', o.subtotal], ['Discount', o.discount_amount], ['Total', o.total], ['Paid', o.amount_paid], ['Refunded', o.amount_refunded]];
  parts.push(h('dl', { class: 'totals' }, totals.map(([label, value]) => [h('dt', {}, label), h('dd', { id: `order-${label.toLowerCase()}` }, money(value, cur))])));
  if (o.voucher_code) parts.push(h('p', {}, 'Code used: ', h('code', {}, o.voucher_code)));
  if (o.status === 'pending') {
    parts.push(h('p', {}, `Held for you until ${when(o.hold_expires_at)}.`));
    if (owner) parts.push(await payBox(cid, o, due, reload));
    parts.push(cancelBox(cid, o, reload));
  }
  if (o.payments.length) {
    parts.push(table({
      caption: 'Payments',
      rows: o.payments,
      columns: [
        ['When', (p) => when(p.created_at)],
        ['Method', (p) => (p.method === 'credit' ? 'store credit' : p.method)],
        ['Amount', (p) => money(p.amount, cur), { num: true }],
        ['Status', (p) => [badge(p.status), p.own === false ? ' (not this order\'s own payment)' : '']],
      ],
    }));
  }
  const refunds = await api('GET', `${conf(cid)}/orders/${o.id}/refunds`);
  parts.push(h('h2', {}, 'Refunds'), table({
    caption: 'Refunds of this order',
    id: 'refunds-table',
    rows: refunds.items,
    empty: 'No refunds.',
    columns: [
      ['When', (r) => when(r.created_at)],
      ['Amount', (r) => money(r.amount, r.currency), { num: true }],
      ['To', (r) => (r.destination === 'store_credit' ? 'store credit' : 'card')],
      ['Status', (r) => badge(r.status)],
      ['Reason', (r) => r.reason.replaceAll('_', ' ')],
      ['Note', (r) => r.note || '—'],
    ],
  }));
  if (who.isStaff(cid) && o.amount_paid > o.amount_refunded) parts.push(refundForm(cid, o, reload));
  box.replaceChildren(...parts);
}

async function payBox(cid, o, due, reload) {
  const cur = o.currency;
  const out = h('div');
  const card = h('button', { type: 'button', id: 'pay-card' }, `Pay ${money(due, cur)} by card`);
  card.addEventListener('click', async () => {
    const ok = await confirmAction({
      title: 'Pay by card',
      body: [`You will pay ${money(due, cur)} for order ${o.reference} on Stripe's secure checkout page.`],
      confirmLabel: 'Go to checkout',
    });
    if (!ok) return;
    const back = `${window.location.origin}/#/c/${cid}/orders/${o.id}`;
    const session = await busy(card, out, () => api('POST', `${conf(cid)}/orders/${o.id}/checkout`, {
      body: { success_url: `${back}?paid=1`, cancel_url: `${back}?cancelled=1` },
    }));
    if (session) window.location.assign(session.checkout_url);
  });
  const section = h('section', { class: 'card', 'aria-labelledby': 'pay-title' }, h('h2', { id: 'pay-title' }, 'Pay'),
    h('p', {}, `Due now: ${money(due, cur)}`), h('div', { class: 'actions' }, card));
  const credits = (await all(`${conf(cid)}/credits`, { user_id: o.user_id }).catch(() => []))
    .filter((c) => c.status === 'available' && c.remaining_amount > 0 && c.currency === cur);
  if (credits.length && due > 0) {
    const select = h('select', { id: 'credit-choice', name: 'credit' }, credits.map((c) =>
      h('option', { value: c.id }, `${money(c.remaining_amount, cur)} left (issued ${when(c.created_at)})`)));
    const use = h('button', { type: 'button', id: 'pay-credit', class: 'secondary' }, 'Pay with store credit');
    use.addEventListener('click', async () => {
      const credit = credits.find((c) => c.id === select.value);
      const amount = Math.min(credit.remaining_amount, due);
      const ok = await confirmAction({
        title: 'Pay with store credit',
        body: [`${money(amount, cur)} of your store credit will pay order ${o.reference}.`,
          amount < due ? `${money(due - amount, cur)} will still be due by card.` : 'Nothing more will be due.'],
        confirmLabel: `Use ${money(amount, cur)} of credit`,
      });
      if (!ok) return;
      const paid = await busy(use, out, () => api('POST', `${conf(cid)}/credits/${credit.id}/apply`, { body: { order_id: o.id } }));
      if (paid) {
        announce(`${money(paid.amount, cur)} of store credit applied.`);
        await reload();
      }
    });
    section.append(field('Store credit to use', select), h('div', { class: 'actions' }, use));
  }
  section.append(out);
  return section;
}

function cancelBox(cid, o, reload) {
  const out = h('div');
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'cancel-order' }, 'Cancel order');
  cancel.addEventListener('click', async () => {
    const ok = await confirmAction({
      title: 'Cancel this order?',
      body: [`Order ${o.reference} will be cancelled and its places (and any code) given back.`],
      confirmLabel: 'Cancel the order', danger: true,
    });
    if (ok && await busy(cancel, out, () => api('POST', `${conf(cid)}/orders/${o.id}/cancel`))) await reload();
  });
  return h('div', { class: 'actions' }, cancel, out);
}

function refundForm(cid, o, reload) {
  const cur = o.currency;
  const left = o.amount_paid - o.amount_refunded;
  const amount = h('input', { id: 'refund-amount', name: 'amount', inputmode: 'decimal', required: true, value: amountInput(left, cur) });
  const destination = (value, label, checked) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'destination', value, checked }), label);
  const reason = h('select', { id: 'refund-reason', name: 'reason' },
    h('option', { value: 'requested_by_customer' }, 'Requested by the customer'),
    h('option', { value: 'duplicate' }, 'Duplicate'),
    h('option', { value: 'fraudulent' }, 'Fraudulent'));
  const note = h('textarea', { id: 'refund-note', name: 'note', rows: 2, maxlength: 500 });
  const out = h('div', { id: 'refund-result' });
  const submit = h('button', { type: 'submit', id: 'refund-submit', class: 'danger' }, 'Refund');
  let key = newKey();
  const form = h('form', {
    class: 'card',
    'aria-labelledby': 'refund-title',
    onsubmit: async (event) => {
      event.preventDefault();
      const minor = parseAmount(amount.value, cur);
      if (!minor) {
        out.replaceChildren(notice('error', `Enter an amount such as ${amountInput(left, cur)}.`));
        return;
      }
      const to = form.querySelector('input[name="destination"]:checked').value;
      const ok = await confirmAction({
        title: 'Refund this order?',
        body: [`${money(minor, cur)} of order ${o.reference} will go back ${to === 'card' ? 'to the card it was paid with' : 'as store credit to its owner'}.`],
        confirmLabel: `Refund ${money(minor, cur)}`, danger: true,
      });
      if (!ok) return;
      const body = { amount: minor, reason: reason.value, destination: to, ...(note.value.trim() ? { note: note.value.trim() } : {}) };
      const refund = await busy(submit, out, () => api('POST', `${conf(cid)}/orders/${o.id}/refunds`, { body, idempotencyKey: key }));
      if (refund) {
        key = newKey();
        announce(`Refund of ${money(refund.amount, cur)} ${refund.status}.`);
        await reload();
      }
    },
  },
  h('h2', { id: 'refund-title' }, 'Refund (staff)'),
  field('Amount', amount, `(up to ${money(left, cur)})`),
  h('fieldset', {}, h('legend', {}, 'Refund to'), destination('card', 'The card it was paid with', true), destination('store_credit', 'Store credit', false)),
  field('Reason', reason), field('Note', note, '(kept with the refund)'),
  h('div', { class: 'actions' }, submit), out);
  return form;
}

