// The API client: every request goes through api(), which adds the token and turns error
// responses into ApiError with a readable message.
import { getToken } from './session.js';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

let onUnauthorized = () => {};

// The router decides what a 401 means for the page (sign in again).
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

function describeError(body, status) {
  const detail = body && body.detail;
  if (typeof detail === 'string' && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((item) => {
        if (typeof item === 'string') return item;
        const loc = (item.loc || []).filter((part) => part !== 'body' && part !== 'query');
        const msg = item.msg || 'is invalid';
        return loc.length ? `${loc.join('.')}: ${msg}` : msg;
      })
      .join('; ');
  }
  if (detail && typeof detail === 'object') return JSON.stringify(detail);
  if (status === 429) return 'Too many requests. Please wait a moment and try again.';
  if (status >= 500) return `The server had a problem (HTTP ${status}). Please try again.`;
  return `Request failed (HTTP ${status}).`;
}

async function readBody(response) {
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  try {
    if (type.includes('json')) return await response.json();
    if (!response.ok && type.startsWith('text/plain')) {
      const text = (await response.text()).trim();
      if (text) return { detail: text.slice(0, 300) };
    }
  } catch {
    /* an unreadable body is reported by status below */
  }
  return null;
}

export async function api(path, { method = 'GET', json, form } = {}) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch {
    throw new ApiError(0, 'Could not reach the server. Check your connection and try again.');
  }
  const data = await readBody(response);
  if (!response.ok) {
    const message = describeError(data, response.status);
    if (response.status === 401 && path !== '/auth/login') onUnauthorized(message);
    throw new ApiError(response.status, message, data);
  }
  return data;
}

// The caller's rating of a movie: saved (0.5-5 stars; resolves to the stored rating) or removed.
export const saveRating = (movieId, rating) =>
  api(`/movies/${movieId}/rating`, { method: 'PUT', json: { rating } });
export const deleteRating = (movieId) => api(`/movies/${movieId}/rating`, { method: 'DELETE' });

// Build a query string from an object, leaving out empty values.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
