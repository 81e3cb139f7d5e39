// The console's shell: configuration, sign-in, the hash router and the navigation by role.
import { completeSignIn, consoleConfig, loadConfig, roles, session, signIn, signOut } from './auth.js';
import { errorNotice, h, loading, notice, takeFlash } from './ui.js';
import * as attendee from './attendee.js';
import * as sponsor from './sponsor.js';
import * as staff from './staff.js';

const LAST_CONFERENCE = 'boxoffice.conference';

// [pattern, view, title]; :cid and :id are path parameters of the hash.
const ROUTES = [
  ['shop', attendee.shop, 'Buy tickets'],
  ['orders', attendee.myOrders, 'My orders'],
  ['orders/:id', attendee.order, 'Order'],
  ['credits', attendee.myCredits, 'My store credit'],
  ['purchases', sponsor.purchases, 'Sponsor codes'],
  ['purchases/:id', sponsor.purchase, 'Purchase'],
  ['staff', staff.attention, 'Needs attention'],
  ['staff/setup', staff.setup, 'Conference setup'],
  ['staff/purchases', staff.purchases, 'Bulk purchases'],
  ['staff/orders', staff.orders, 'Orders'],
  ['staff/credits', staff.credits, 'Store credit'],
  ['staff/events', staff.events, 'Failed Stripe events'],
  ['staff/audit', staff.audit, 'The books'],
];

function parseHash() {
  const [path, query = ''] = window.location.hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

function match(rest) {
  for (const [pattern, view, title] of ROUTES) {
    const want = pattern.split('/');
    if (want.length !== rest.length) continue;
    const found = {};
    if (want.every((seg, i) => (seg.startsWith(':') ? (found[seg.slice(1)] = rest[i]) : seg === rest[i]))) {
      return { view, title, ...found };
    }
  }
  return null;
}

function defaultPage(cid, who) {
  if (who.isStaff(cid)) return `#/c/${cid}/staff`;
  if (who.sponsorOf(cid)) return `#/c/${cid}/purchases`;
  return `#/c/${cid}/shop`;
}

function knownConference(who) {
  return localStorage.getItem(LAST_CONFERENCE) || consoleConfig().conference || who?.conferences[0] || null;
}

function renderAccount() {
  const who = roles();
  const account = document.getElementById('account');
  if (!who) {
    account.replaceChildren();
    return;
  }
  const { parts } = parseHash();
  const cid = parts[0] === 'c' ? parts[1] : null;
  let role = 'attendee';
  if (who.admin) role = 'admin';
  else if (cid && who.isStaff(cid)) role = 'staff';
  else if (cid && who.sponsorOf(cid)) role = `sponsor ${who.sponsorOf(cid)}`;
  account.replaceChildren(
    h('span', { class: 'who' }, `Signed in as ${who.email} (${role})`),
    h('button', { type: 'button', onclick: () => signOut() }, 'Sign out'),
  );
}

function renderNav(cid, current) {
  const nav = document.getElementById('nav');
  const who = roles();
  if (!who || !cid) {
    nav.replaceChildren();
    return;
  }
  const link = (path, label) => {
    const href = `#/c/${encodeURIComponent(cid)}${path ? '/' + path : ''}`;
    return h('li', {}, h('a', { href, 'aria-current': current === path ? 'page' : null }, label));
  };
  const items = [link('shop', 'Buy tickets'), link('orders', 'My orders'), link('credits', 'My store credit')];
  if (who.sponsorOf(cid)) items.push(link('purchases', 'Sponsor codes'));
  if (who.isStaff(cid)) {
    items.push(
      h('li', { class: 'group', 'aria-hidden': 'true' }, 'Staff:'),
      link('staff', 'Attention'), link('staff/setup', 'Setup'), link('staff/purchases', 'Bulk purchases'),
      link('staff/orders', 'Orders'), link('staff/credits', 'Credit'), link('staff/events', 'Stripe events'),
      link('staff/audit', 'Audit'),
    );
  }
  nav.replaceChildren(h('ul', {}, items));
}

function home(page) {
  const config = consoleConfig();
  const who = roles();
  page.append(h('h1', {}, 'Boxoffice'));
  if (!who) {
    page.append(h('p', { class: 'lead' }, 'Tickets, sponsor codes, refunds and store credit for your conference.'));
    if (!config.authorize_url) {
      page.append(notice('warn', config.sign_in_note));
      return;
    }
    page.append(h('button', { type: 'button', id: 'sign-in', onclick: () => signIn('#/') }, 'Sign in'));
    return;
  }
  const input = h('input', { id: 'conference-id', name: 'conference', required: true, autocomplete: 'off', value: knownConference(who) || '' });
  page.append(
    h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        window.location.hash = `#/c/${encodeURIComponent(input.value.trim())}`;
      },
    },
    h('label', { for: 'conference-id' }, 'Conference id'), input,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Open'))),
  );
}

let renderCount = 0;

async function render() {
  const main = document.getElementById('main');
  const page = h('div', {});
  const mine = ++renderCount;
  main.replaceChildren(page);
  renderAccount();
  const { parts, params } = parseHash();
  const signedIn = Boolean(session());
  if (parts[0] !== 'c' || !parts[1]) {
    renderNav(null);
    document.getElementById('conference-name').textContent = '';
    document.title = 'Boxoffice';
    const who = roles();
    const cid = who && knownConference(who);
    if (who && cid && !parts.length && !params.has('choose')) {
      window.location.replace(defaultPage(cid, who));
      return;
    }
    home(page);
    return;
  }
  const cid = parts[1];
  if (!signedIn) {
    renderNav(null);
    page.append(h('h1', {}, 'Sign in to continue'));
    if (consoleConfig().authorize_url) {
      page.append(h('button', { type: 'button', id: 'sign-in', onclick: () => signIn(window.location.hash) }, 'Sign in'));
    } else {
      page.append(notice('warn', consoleConfig().sign_in_note));
    }
    return;
  }
  localStorage.setItem(LAST_CONFERENCE, cid);
  const rest = parts.slice(2);
  if (!rest.length) {
    window.location.replace(defaultPage(cid, roles()));
    return;
  }
  const found = match(rest);
  renderNav(cid, rest.length === 2 && rest[0] !== 'staff' ? rest[0] : rest.join('/'));
  if (!found) {
    page.append(h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: `#/c/${cid}` }, 'Back to the conference')));
    return;
  }
  document.title = `${found.title} · Boxoffice`;
  if (mine > 1) main.focus();
  const message = takeFlash();
  if (message) page.append(notice('ok', message));
  page.append(loading());
  try {
    await found.view({ cid, id: found.id, params, page, roles: roles() });
  } catch (err) {
    page.append(errorNotice(err));
  } finally {
    page.querySelectorAll(':scope > .loading').forEach((el) => el.remove());
  }
}

async function start() {
  const main = document.getElementById('main');
  try {
    await loadConfig();
    await completeSignIn();
  } catch (err) {
    main.replaceChildren(h('h1', {}, 'Sign-in did not finish'), errorNotice(err), h('p', {}, h('a', { href: '/' }, 'Start again')));
    return;
  }
  // The skip link moves focus without touching the hash, which is the router's.
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    document.getElementById('main').focus();
  });
  window.addEventListener('hashchange', render);
  await render();
}

start();
