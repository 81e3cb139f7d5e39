// The public API, called with the signed-in user's ID token. Refusals become ApiError with the API's message.
import { session, signOut } from './auth.js';

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

export async function api(method, path, { body, query, idempotencyKey, raw = false } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  const headers = { Accept: 'application/json' };
  const token = session()?.idToken;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  let reply;
  try {
    reply = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'The API could not be reached. Check your connection and try again.');
  }
  if (!reply.ok) {
    const err = await refusal(reply);
    if (reply.status === 401) {
      signOut({ quiet: true });
      err.message = `Your sign-in is no longer valid (${err.message}). Sign in again.`;
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
