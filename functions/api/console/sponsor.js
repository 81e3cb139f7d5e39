// Sponsors: buy codes in bulk through Stripe Checkout, see each purchase's codes, download them as CSV.
// Staff open the same purchase page and get its approve, fulfil and refund actions too.
import { all, api, conf } from './api.js';
import { catalogOf, namesOf } from './attendee.js';
import {
  amountInput, announce, badge, busy, confirmAction, field, h, money, newKey, notice, parseAmount, table, when,
} from './ui.js';

export function purchaseItem(names, p) {
  return p.ticket_type_id ? names[`ticket:${p.ticket_type_id}`] || p.ticket_type_id : names[`addon:${p.addon_id}`] || p.addon_id;
}

export function purchasesTable(cid, names, purchases, empty) {
  return table({
    caption: `${purchases.length} purchase${purchases.length === 1 ? '' : 's'}`,
    id: 'purchases-table',
    rows: purchases,
    empty,
    columns: [
      ['Purchase', (p) => h('a', { href: `#/c/${cid}/purchases/${p.id}` }, `${p.quantity} × ${purchaseItem(names, p)}`)],
      ['Sponsor', (p) => p.sponsor_id || '—'],
      ['Ordered', (p) => when(p.created_at)],
      ['Total', (p) => money(p.total_amount, p.currency), { num: true }],
      ['Status', (p) => [badge(p.status), p.attention ? ' ⚑ needs attention' : '']],
      ['Codes issued', (p) => `${p.vouchers_generated} of ${p.quantity}`, { num: true }],
    ],
  });
}

/** Off to Stripe Checkout for a purchase, after the sponsor confirms the amount. */
async function payPurchase(cid, p, button, out) {
  const ok = await confirmAction({
    title: 'Pay by card',
    body: [`You will pay ${money(p.total_amount, p.currency)} for ${p.quantity} codes on Stripe's secure checkout page.`],
    confirmLabel: 'Go to checkout',
  });
  if (!ok) return;
  const back = `${window.location.origin}/#/c/${cid}/purchases/${p.id}`;
  const session = await busy(button, out, () => api('POST', `${conf(cid)}/bulk-purchases/${p.id}/checkout`, {
    body: { success_url: `${back}?paid=1`, cancel_url: `${back}?cancelled=1` },
  }));
  if (session) window.location.assign(session.checkout_url);
}

export async function purchases({ cid, page, roles: who }) {
  const [catalog, list] = await Promise.all([catalogOf(cid), all(`${conf(cid)}/bulk-purchases`)]);
  const names = namesOf(catalog);
  const sponsor = who.sponsorOf(cid);
  page.append(h('h1', {}, 'Sponsor codes'), h('p', { class: 'lead' },
    sponsor ? `Codes bought by ${sponsor}: each code is one ticket or add-on for someone you invite.` : 'Bulk purchases you can see.'));
  const items = [
    ...catalog.ticket_types.filter((t) => t.bulk_enabled).map((t) => ({ key: `ticket:${t.id}`, body: { ticket_type_id: t.id }, ...t })),
    ...catalog.addons.filter((a) => a.bulk_enabled).map((a) => ({ key: `addon:${a.id}`, body: { addon_id: a.id }, ...a })),
  ];
  if (sponsor && items.length) {
    const select = h('select', { id: 'buy-item', name: 'item' }, items.map((i) =>
      h('option', { value: i.key, disabled: i.sold_out }, `${i.name}: ${money(i.price, catalog.currency)} each${i.sold_out ? ' (sold out)' : ''}`)));
    const quantity = h('input', { id: 'buy-quantity', name: 'quantity', type: 'number', min: 1, value: 1, required: true, inputmode: 'numeric' });
    const preview = h('p', { id: 'buy-total', 'aria-live': 'polite' });
    const chosen = () => items.find((i) => i.key === select.value);
    const update = () => {
      const item = chosen();
      const n = Number(quantity.value) || 0;
      preview.textContent = `${n} × ${money(item.price, catalog.currency)} = ${money(item.price * n, catalog.currency)}`;
    };
    select.addEventListener('change', update);
    quantity.addEventListener('input', update);
    const out = h('div', { id: 'buy-result' });
    const submit = h('button', { type: 'submit', id: 'buy-codes' }, 'Buy codes and pay');
    const key = newKey();
    page.append(h('form', {
      class: 'card',
      'aria-labelledby': 'buy-title',
      onsubmit: async (event) => {
        event.preventDefault();
        const item = chosen();
        const n = Number(quantity.value);
        const ok = await confirmAction({
          title: 'Buy codes',
          body: [`${n} × ${item.name} for ${money(item.price * n, catalog.currency)}.`, 'You will pay by card on Stripe\'s secure checkout page.'],
          confirmLabel: `Pay ${money(item.price * n, catalog.currency)}`,
        });
        if (!ok) return;
        const created = await busy(submit, out, () => api('POST', `${conf(cid)}/bulk-purchases`, { body: { ...item.body, quantity: n }, idempotencyKey: key }));
        if (!created) return;
        const back = `${window.location.origin}/#/c/${cid}/purchases/${created.id}`;
        const session = await busy(submit, out, () => api('POST', `${conf(cid)}/bulk-purchases/${created.id}/checkout`, {
          body: { success_url: `${back}?paid=1`, cancel_url: `${back}?cancelled=1` },
        }));
        if (session) window.location.assign(session.checkout_url);
      },
    },
    h('h2', { id: 'buy-title' }, 'Buy codes'),
    field('Ticket or add-on', select), field('How many codes', quantity), preview,
    h('div', { class: 'actions' }, submit), out));
    update();
  }
  page.append(h('h2', {}, 'Purchases'), purchasesTable(cid, names, list, 'No purchases yet.'));
}

export async function purchase(ctx) {
  const { cid, id, params, page } = ctx;
  const catalog = await catalogOf(cid);
  const box = h('div');
  page.append(box);
  let current = await api('GET', `${conf(cid)}/bulk-purchases/${id}`);
  await renderPurchase(ctx, catalog, current, box);
  const settled = (p) => p.status === 'paid' && p.vouchers_generated >= p.quantity;
  if (params.has('paid') && !settled(current) && !['failed', 'refunded'].includes(current.status)) {
    for (let i = 0; i < 80 && !settled(current) && box.isConnected; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 750));
      current = await api('GET', `${conf(cid)}/bulk-purchases/${id}`);
    }
    if (box.isConnected) {
      await renderPurchase(ctx, catalog, current, box);
      announce(`The purchase is ${current.status}; ${current.vouchers_generated} codes issued.`);
    }
  }
}

async function renderPurchase(ctx, catalog, p, box) {
  const { cid, params, roles: who } = ctx;
  const names = namesOf(catalog);
  const cur = p.currency;
  const reload = async () => renderPurchase(ctx, catalog, await api('GET', `${conf(cid)}/bulk-purchases/${p.id}`), box);
  const out = h('div', { id: 'purchase-result' });
  const parts = [
    h('h1', {}, `${p.quantity} × ${purchaseItem(names, p)}`),
    h('p', {}, 'Status: ', h('span', { id: 'purchase-status' }, badge(p.status)), ` · ordered ${when(p.created_at)}`, p.sponsor_id ? ` · sponsor ${p.sponsor_id}` : ''),
  ];
  if (params.has('paid') && p.status !== 'paid') parts.push(notice('warn', 'Waiting for Stripe to confirm your payment…'));
  if (params.has('cancelled') && p.status === 'pending') parts.push(notice('warn', 'Payment was cancelled: nothing was charged.'));
  if (p.attention) parts.push(notice('warn', h('strong', {}, 'Needs attention: '), p.attention));
  parts.push(h('dl', { class: 'totals' },
    h('dt', {}, 'Unit price'), h('dd', {}, money(p.unit_price, cur)),
    h('dt', {}, 'Total'), h('dd', { id: 'purchase-total' }, money(p.total_amount, cur)),
    h('dt', {}, 'Refunded'), h('dd', {}, money(p.amount_refunded, cur)),
    h('dt', {}, 'Codes issued'), h('dd', { id: 'codes-issued' }, `${p.vouchers_generated} of ${p.quantity}`)));
  if (p.description) parts.push(h('p', {}, p.description));
  const actions = h('div', { class: 'actions' });
  if (p.status === 'pending' && p.total_amount > 0) {
    const pay = h('button', { type: 'button', id: 'pay-purchase' }, `Pay ${money(p.total_amount, cur)} by card`);
    pay.addEventListener('click', () => payPurchase(cid, p, pay, out));
    actions.append(pay);
  }
  if (who.isStaff(cid)) staffActions(cid, p, actions, out, reload);
  parts.push(actions, out);
  if (p.vouchers_generated > 0) parts.push(await codesSection(cid, p));
  if (who.isStaff(cid) && p.status === 'paid' && p.total_amount > p.amount_refunded) {
    parts.push(refundPurchaseForm(cid, p, reload));
  }
  box.replaceChildren(...parts);
}

function staffActions(cid, p, actions, out, reload) {
  const act = (label, idAttr, path, question) => {
    const button = h('button', { type: 'button', id: idAttr, class: 'secondary' }, label);
    button.addEventListener('click', async () => {
      if (!await confirmAction({ title: label, body: [question], confirmLabel: label })) return;
      if (await busy(button, out, () => api('POST', `${conf(cid)}/bulk-purchases/${p.id}/${path}`))) await reload();
    });
    actions.append(button);
  };
  if (p.status === 'pending') act('Approve', 'approve-purchase', 'approve', `Approve ${p.quantity} codes for ${p.sponsor_id || 'this purchase'}? Their places are held from now on.`);
  if (p.status === 'approved') act('Issue the codes', 'fulfill-purchase', 'fulfill', `Issue ${p.quantity} codes now, without payment (a comp deal)?`);
}

function refundPurchaseForm(cid, p, reload) {
  const cur = p.currency;
  const left = p.total_amount - p.amount_refunded;
  const amount = h('input', { id: 'purchase-refund-amount', name: 'amount', inputmode: 'decimal', value: amountInput(left, cur) });
  const reason = h('select', { id: 'purchase-refund-reason', name: 'reason' },
    h('option', { value: 'requested_by_customer' }, 'Requested by the sponsor'),
    h('option', { value: 'duplicate' }, 'Duplicate'), h('option', { value: 'fraudulent' }, 'Fraudulent'));
  const out = h('div');
  const submit = h('button', { type: 'submit', class: 'danger' }, 'Refund');
  const key = newKey();
  return h('form', {
    class: 'card',
    'aria-labelledby': 'purchase-refund-title',
    onsubmit: async (event) => {
      event.preventDefault();
      const minor = parseAmount(amount.value, cur);
      if (!minor) {
        out.replaceChildren(notice('error', `Enter an amount such as ${amountInput(left, cur)}.`));
        return;
      }
      const whole = minor === left;
      const ok = await confirmAction({
        title: 'Refund this purchase?',
        body: [`${money(minor, cur)} goes back to the sponsor's card.`, whole ? 'Its unused codes stop working.' : 'Its codes keep working.'],
        confirmLabel: `Refund ${money(minor, cur)}`, danger: true,
      });
      if (!ok) return;
      const body = { reason: reason.value, ...(whole ? {} : { amount: minor }) };
      if (await busy(submit, out, () => api('POST', `${conf(cid)}/bulk-purchases/${p.id}/refund`, { body, idempotencyKey: key }))) await reload();
    },
  }, h('h2', { id: 'purchase-refund-title' }, 'Refund (staff)'), field('Amount', amount, `(up to ${money(left, cur)})`),
  field('Reason', reason), h('div', { class: 'actions' }, submit), out);
}

async function codesSection(cid, p) {
  const codes = await all(`${conf(cid)}/bulk-purchases/${p.id}/vouchers`);
  const out = h('div');
  const download = h('button', { type: 'button', id: 'download-csv', class: 'secondary' }, 'Download CSV');
  download.addEventListener('click', () => busy(download, out, async () => {
    const reply = await api('GET', `${conf(cid)}/bulk-purchases/${p.id}/vouchers`, { query: { format: 'csv' }, raw: true });
    const blob = await reply.blob();
    const link = h('a', { href: URL.createObjectURL(blob), download: `${p.id}-codes.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    announce('The codes were downloaded as CSV.');
  }));
  return h('section', { 'aria-labelledby': 'codes-title' },
    h('h2', { id: 'codes-title' }, 'Codes'),
    h('p', {}, 'Give one code to each guest; "Times used" shows what each code was used for.'),
    h('div', { class: 'actions' }, download), out,
    table({
      caption: `${codes.length} codes`,
      id: 'codes-table',
      rows: codes,
      columns: [
        ['Code', (c) => h('code', {}, c.code)],
        ['Times used', (c) => `${c.times_used} of ${c.max_uses}`, { num: true }],
        ['Active', (c) => (c.is_active ? 'yes' : 'no')],
        ['Valid until', (c) => (c.valid_until ? when(c.valid_until) : '—')],
      ],
    }));
}
