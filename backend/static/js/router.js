// Hash router: views register under the first path segment (#/NAME/ID?query).
// A view is `async (ctx) => {}` with ctx = { id, extra, params, rid }.
import { setUnauthorizedHandler } from './api.js';
import { el } from './dom.js';
import { clearMessages, showError, showNotice } from './messages.js';
import { $main, focusHeading, state } from './page.js';
import { clearSession, currentUser, getToken, rememberReturnTo } from './session.js';

const routes = new Map();
const $nav = document.getElementById('nav');
const $whoami = document.getElementById('whoami');
const $account = document.getElementById('account');
let firstRender = true;

export const HOME = '#/movies';

/**
 * Register a view. Options: `public` (reachable signed out), `withId` (accepts #/name/ID),
 * `withoutId` (set false to reject #/name alone), `nav` (the data-route of the nav link to mark).
 */
export function registerRoute(name, view, options = {}) {
  routes.set(name, { view, withoutId: true, ...options });
}

export function updateChrome(routeName = null) {
  const token = getToken();
  $nav.hidden = !token;
  $account.hidden = !token;
  const user = currentUser();
  for (const item of $nav.querySelectorAll('[data-admin-only]')) item.hidden = !user?.is_admin;
  if (token && user) {
    $whoami.replaceChildren(
      el('span', { class: 'whoami-label' }, 'Signed in as '),
      el('strong', {}, user.username),
    );
  } else {
    $whoami.replaceChildren();
  }
  for (const link of $nav.querySelectorAll('a[data-route]')) {
    if (link.dataset.route === routeName) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

export function navigate(hash, { replace = false } = {}) {
  if (replace) location.replace(hash);
  else location.hash = hash;
}

function parseHash() {
  const raw = location.hash || '';
  if (!raw.startsWith('#/')) return null;
  const [path, query = ''] = raw.slice(2).split('?');
  return {
    parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(query),
  };
}

function handleUnauthorized(message) {
  const hadToken = Boolean(getToken());
  clearSession();
  updateChrome();
  // Parallel requests can all come back 401: only the first one redirects.
  if (!hadToken && location.hash.startsWith('#/login')) return;
  state.flash = {
    kind: 'error',
    text: `${message ? `${message}. ` : ''}Your session has ended — please sign in again.`
      .replace('.. ', '. '),
  };
  if (!location.hash.startsWith('#/login')) {
    rememberReturnTo(location.hash);
    navigate('#/login');
  } else {
    route();
  }
}

function resolve(name, id, extra) {
  const entry = routes.get(name);
  if (!entry || extra !== undefined) return null;
  if (id === undefined) return entry.withoutId ? entry : null;
  return entry.withId && /^\d+$/.test(id) ? entry : null;
}

export async function route() {
  const parsed = parseHash();
  if (!parsed) {
    navigate(getToken() ? HOME : '#/login', { replace: true });
    return;
  }
  const rid = ++state.renderId;
  const [name = 'movies', id, extra] = parsed.parts;
  const previousView = state.view;
  const entry = resolve(name, id, extra);

  if (!(entry && entry.public) && !getToken()) {
    rememberReturnTo(location.hash);
    navigate('#/login', { replace: true });
    return;
  }
  if (name === 'login' && getToken()) {
    navigate(HOME, { replace: true });
    return;
  }

  // Messages belong to the page that produced them, except a pending flash message.
  const keepMessages = previousView === 'movies' && name === 'movies' && !id;
  if (!keepMessages) clearMessages();
  if (state.flash) {
    if (state.flash.kind === 'error') showError(state.flash.text);
    else showNotice(state.flash.text);
    state.flash = null;
  }

  updateChrome(entry && !id ? (entry.nav ?? name) : null);
  await (entry ? entry.view : routes.get('notfound').view)({
    id, extra, params: parsed.params, rid,
  });

  if (rid === state.renderId && state.view !== previousView && !firstRender) focusHeading();
  firstRender = false;
}

setUnauthorizedHandler(handleUnauthorized);

export function startRouter() {
  window.addEventListener('hashchange', route);
  route();
}

// Keyboard users land on the page content, not the top of the document.
export function bindSkipLink() {
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    $main.focus();
  });
}
