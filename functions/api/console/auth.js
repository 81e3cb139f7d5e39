// Sign-in: OAuth 2.0 authorization code with PKCE, against Cognito's managed login, an external
// issuer, or the local runner's sign-in page. Which one is the stack's config (/console/config.json).
// The session ({idToken, claims, refreshToken}) lives in this tab's sessionStorage. The ID token lasts
// an hour; the refresh token renews it until the refresh token itself expires or is revoked.
const SESSION = 'boxoffice.session';
const PENDING = 'boxoffice.pending';
/** Renew the ID token this long before its exp (at most a tenth of its life, for short-lived tokens). */
const RENEW_AHEAD_SECONDS = 60;

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
  // An expired ID token is kept while a refresh token may still renew it.
  if (value.claims.exp * 1000 < Date.now() && !value.refreshToken) {
    sessionStorage.removeItem(SESSION);
    return null;
  }
  return value;
}

function keep(idToken, refreshToken) {
  sessionStorage.setItem(SESSION, JSON.stringify({ idToken, claims: claimsOf(idToken), refreshToken }));
}

/** True when the ID token expires within RENEW_AHEAD_SECONDS (or a tenth of its life), or has. */
export function renewalDue(current) {
  const { exp, iat = exp - 3600 } = current.claims;
  const ahead = Math.min(RENEW_AHEAD_SECONDS, (exp - iat) / 10);
  return Date.now() >= (exp - ahead) * 1000;
}

/** The token endpoint refused the refresh token (expired, revoked): the message says why. */
export class RenewalRefused extends Error {}

let renewing = null;

/**
 * A new ID token from the refresh token, kept in the session. One renewal at a time: requests that
 * find the token stale together share it. Throws RenewalRefused (after signing out quietly) when the
 * token endpoint refuses the refresh token, and a plain Error when it cannot be reached (still signed in).
 */
export function renewSession() {
  renewing ||= renew().finally(() => { renewing = null; });
  return renewing;
}

async function renew() {
  const current = session();
  if (!current?.refreshToken) throw new RenewalRefused('there is no refresh token');
  let reply;
  try {
    reply = await fetch(new URL(config.token_url, window.location.origin), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: config.client_id,
        refresh_token: current.refreshToken,
      }),
    });
  } catch {
    throw new Error('The sign-in service could not be reached to renew your sign-in. Check your connection and try again.');
  }
  const tokens = await reply.json().catch(() => ({}));
  if (reply.status >= 500) throw new Error(`The sign-in service answered ${reply.status}; try again.`);
  if (!reply.ok || !tokens.id_token) {
    signOut({ quiet: true });
    throw new RenewalRefused(tokens.error_description || tokens.error || `the sign-in service answered ${reply.status}`);
  }
  // Cognito answers the refresh grant without a new refresh token: the one we have stays good.
  keep(tokens.id_token, tokens.refresh_token || current.refreshToken);
  return tokens.id_token;
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
  keep(tokens.id_token, tokens.refresh_token || null);
  return pending.returnTo || '#/';
}

/** Forget the session; unless quiet, revoke its refresh token and leave through the issuer's logout. */
export async function signOut({ quiet = false } = {}) {
  const refreshToken = session()?.refreshToken;
  sessionStorage.removeItem(SESSION);
  if (quiet) return;
  if (config?.revoke_url && refreshToken) {
    // RFC 7009 (Cognito's /oauth2/revoke): the refresh token stops working, wherever it was copied to.
    await fetch(new URL(config.revoke_url, window.location.origin), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, client_id: config.client_id }),
      keepalive: true,
    }).catch(() => { /* signed out here all the same; the token expires on its own */ });
  }
  if (config?.logout_url) {
    const url = new URL(config.logout_url);
    url.search = new URLSearchParams({ client_id: config.client_id, logout_uri: redirectUri() }).toString();
    window.location.assign(url.toString());
  } else {
    window.location.assign('/#/');
  }
}
