// Sign-in: OAuth 2.0 authorization code with PKCE, against Cognito's managed login, an external
// issuer, or the local runner's sign-in page. Which one is the stack's config (/console/config.json).
const SESSION = 'boxoffice.session';
const PENDING = 'boxoffice.pending';

let config = null;

export async function loadConfig() {
  const reply = await fetch('/console/config.json', { headers: { Accept: 'application/json' } });
  if (!reply.ok) throw new Error('The console could not read its configuration.');
  config = await reply.json();
  return config;
}

export const consoleConfig = () => config;

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

const redirectUri = () => `${window.location.origin}/`;

/** Claims of a JWT (the API verifies it; the console only reads who is signed in). */
export function claimsOf(token) {
  const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  const json = decodeURIComponent(Array.from(atob(part), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
  return JSON.parse(json);
}

/** Groups as API.md has them: an array, or API Gateway's flattened "[a b]". */
export function groupsOf(claims) {
  const raw = claims['cognito:groups'];
  if (Array.isArray(raw)) return raw;
  if (typeof raw === 'string') return raw.replace(/^\[|\]$/g, '').split(/[\s,]+/).filter(Boolean);
  return [];
}

export function session() {
  const stored = sessionStorage.getItem(SESSION);
  if (!stored) return null;
  const value = JSON.parse(stored);
  if (value.claims.exp * 1000 < Date.now()) {
    sessionStorage.removeItem(SESSION);
    return null;
  }
  return value;
}

/** What the signed-in user may do, from their groups: admin, staff of, sponsor of. */
export function roles() {
  const current = session();
  if (!current) return null;
  const groups = groupsOf(current.claims);
  const staff = new Set();
  const sponsors = {};
  for (const group of groups) {
    const [kind, cid, sponsor] = group.split(':');
    if (kind === 'staff' && cid) staff.add(cid);
    if (kind === 'sponsor' && cid && sponsor) sponsors[cid] = sponsor;
  }
  return {
    sub: current.claims.sub,
    email: current.claims.email || current.claims.sub,
    admin: groups.includes('admin'),
    isStaff: (cid) => groups.includes('admin') || staff.has(cid),
    sponsorOf: (cid) => sponsors[cid] || null,
    conferences: [...staff, ...Object.keys(sponsors)],
  };
}

/** Off to the sign-in page; we come back to `/` with ?code=&state=. */
export async function signIn(returnTo = window.location.hash) {
  const verifier = randomString(48);
  const state = randomString(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo }));
  const url = new URL(config.authorize_url, window.location.origin);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: config.scopes,
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: 'S256',
  }).toString();
  window.location.assign(url.toString());
}

/** When the page is the sign-in callback, trade the code for tokens. Returns where to go next. */
export async function completeSignIn() {
  const params = new URLSearchParams(window.location.search);
  if (!params.has('code') && !params.has('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  window.history.replaceState(null, '', '/' + (pending?.returnTo || '#/'));
  if (params.has('error')) throw new Error(`Sign-in was refused: ${params.get('error_description') || params.get('error')}`);
  if (!pending || pending.state !== params.get('state')) throw new Error('This sign-in answer was not for this page; sign in again.');
  const reply = await fetch(new URL(config.token_url, window.location.origin), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: config.client_id,
      code: params.get('code'),
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    }),
  });
  const tokens = await reply.json().catch(() => ({}));
  if (!reply.ok || !tokens.id_token) {
    throw new Error(`Sign-in failed: ${tokens.error_description || tokens.error || reply.statusText}`);
  }
  sessionStorage.setItem(SESSION, JSON.stringify({ idToken: tokens.id_token, claims: claimsOf(tokens.id_token) }));
  return pending.returnTo || '#/';
}

export function signOut({ quiet = false } = {}) {
  sessionStorage.removeItem(SESSION);
  if (quiet) return;
  if (config?.logout_url) {
    const url = new URL(config.logout_url);
    url.search = new URLSearchParams({ client_id: config.client_id, logout_uri: redirectUri() }).toString();
    window.location.assign(url.toString());
  } else {
    window.location.assign('/#/');
  }
}
