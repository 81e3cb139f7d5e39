// The public API, called with the signed-in user's ID token. Refusals become ApiError with the API's message.
// A stale ID token is renewed first (auth.js); a 401 renews it once and repeats the request once, if
// that is safe. Only when the renewal is refused is the user signed out, with "Sign in again".
import { RenewalRefused, renewSession, renewalDue, session, signOut } from './auth.js';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** A refusal's sentence: API.md's {"error": {"message"}}, or API Gateway's own {"message"}. */
async function refusal(reply) {
  let body = null;
  try { body = await reply.json(); } catch { /* not JSON */ }
  const error = body?.error;
  let message = error?.message || body?.message || `The server answered ${reply.status} ${reply.statusText}`;
  if (error?.code === 'validation_error' && Array.isArray(error.details) && error.details.length) {
    message += ': ' + error.details.map((d) => `${(d.loc || []).filter((p) => p !== 'body').join('.')} ${d.msg}`).join('; ');
  }
  if (error?.code === 'sold_out' && Array.isArray(error.details)) {
    message += ' (' + error.details.map((d) => `${d.name || d.id || d.item}: ${d.available ?? 0} left`).join(', ') + ')';
  }
  return new ApiError(reply.status, error?.code || 'http_' + reply.status, message, error?.details);
}

/** Methods that do the same whether sent once or twice (RFC 9110 idempotent methods; PUT replaces). */
const REPEATABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Whether the request may be sent again after a 401. A 401 comes from the API's authorizer before any
 * handler runs, so nothing was done; still, a POST is repeated only with an Idempotency-Key, which
 * makes the API answer a repeat with the first answer instead of doing it twice.
 */
function repeatable(method, idempotencyKey) {
  return REPEATABLE_METHODS.has(method.toUpperCase()) || Boolean(idempotencyKey);
}

const signInAgain = (reason) => `Your sign-in is no longer valid (${reason}). Sign in again.`;

/** The ID token to send: renewed first when it is about to expire. */
async function idToken() {
  const current = session();
  if (!current) return null;
  if (!current.refreshToken || !renewalDue(current)) return current.idToken;
  return renewed();
}

/** A renewed ID token; a refused renewal becomes the sign-in-again error, an unreachable one a network error. */
async function renewed() {
  try {
    return await renewSession();
  } catch (err) {
    if (err instanceof RenewalRefused) throw new ApiError(401, 'unauthenticated', signInAgain(err.message));
    throw new ApiError(0, 'network', err.message);
  }
}

export async function api(method, path, { body, query, idempotencyKey, raw = false } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  const send = async (token) => {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    try {
      return await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, 'network', 'The API could not be reached. Check your connection and try again.');
    }
  };
  const sent = await idToken();
  let reply = await send(sent);
  if (reply.status === 401 && session()?.refreshToken) {
    // Refused before anything was done (expired early, a clock that runs slow): renew once (unless a
    // request beside this one just did), then repeat once.
    const latest = session().idToken;
    const token = latest !== sent ? latest : await renewed();
    if (!repeatable(method, idempotencyKey)) {
      throw new ApiError(401, 'renewed', 'Your sign-in had expired and has been renewed; nothing was done. Try again.');
    }
    reply = await send(token);
  }
  if (!reply.ok) {
    const err = await refusal(reply);
    if (reply.status === 401) {
      signOut({ quiet: true });
      err.message = signInAgain(err.message);
    }
    throw err;
  }
  if (raw) return reply;
  return reply.status === 204 ? null : reply.json();
}

/** Every item of a list, following `next` up to `pages` pages. */
export async function all(path, query = {}, pages = 10) {
  const items = [];
  let cursor;
  for (let page = 0; page < pages; page += 1) {
    const reply = await api('GET', path, { query: { limit: 200, ...query, cursor } });
    items.push(...reply.items);
    if (!reply.next) break;
    cursor = reply.next;
  }
  return items;
}

export const conf = (cid) => `/v1/conferences/${encodeURIComponent(cid)}`;
