// The public /v1 API, with the key kept for this browser tab.

const KEY = 'warmline.apiKey';

/** A refused request: the server's problem+json document. */
export class Problem extends Error {
  constructor(status, body) {
    const title = (body && body.title) || `HTTP ${status}`;
    const detail = (body && body.detail) || '';
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.body = body || {};
  }
}

export const session = {
  /** The API key, or null (open mode, or not signed in yet). */
  key: sessionStorage.getItem(KEY),
  /** What GET /v1/access answered: {open, role, agent, key_id}. */
  access: null,
};

export function setKey(key) {
  session.key = key || null;
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export function authHeaders() {
  return session.key ? { Authorization: `Bearer ${session.key}` } : {};
}

/** Calls the API; answers the parsed JSON body, or throws a `Problem`. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new Problem(0, { title: 'The service is unreachable', detail: String(e.message || e) });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) throw new Problem(response.status, parsed);
  return parsed;
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);

/** A query string from the non-empty values of `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

/** Learns what the key (or no key) may do; throws a Problem (401) when a key is needed. */
export async function loadAccess() {
  session.access = await get('/v1/access');
  return session.access;
}
