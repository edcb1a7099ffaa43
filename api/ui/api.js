// The REST API from the browser: same origin, the session cookie (POST /session) as the
// credential, and the X-Callqa-UI header that cookie-authenticated changes need.

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export function query(params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === '') continue;
    qs.set(k, String(v));
  }
  const text = qs.toString();
  return text ? `?${text}` : '';
}

export async function api(method, path, { params, body } = {}) {
  const headers = { 'X-Callqa-UI': '1', Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path + query(params), {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const err = data && data.error ? data.error : {};
    const error = new ApiError(response.status, err.code || `http_${response.status}`,
      err.message || response.statusText, err.detail);
    if (response.status === 401 && path !== '/session') {
      window.dispatchEvent(new CustomEvent('callqa:signedout'));
    }
    throw error;
  }
  return data;
}

export const get = (path, params) => api('GET', path, { params });
export const post = (path, body) => api('POST', path, { body });
