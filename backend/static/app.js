// MovieRec single-page frontend: hash routing, no build step, no dependencies.
// Routes: #/login, #/movies, #/movies/ID, #/recommendations, #/status

const TOKEN_KEY = 'movierec.token';
const USER_KEY = 'movierec.user';
const RETURN_KEY = 'movierec.returnTo';
const PAGE_SIZE = 24;
const REC_LIMIT = 10;
const SIMILAR_LIMIT = 10;

const SORTS = [
  ['popularity', 'Most popular'],
  ['vote_average', 'Highest rated'],
  ['year', 'Year'],
  ['title', 'Title (A–Z)'],
];

const $main = document.getElementById('main');
const $alert = document.getElementById('alert');
const $notice = document.getElementById('notice');
const $nav = document.getElementById('nav');
const $whoami = document.getElementById('whoami');
const $account = document.getElementById('account');

const state = {
  renderId: 0,
  view: null, // key of the view currently on screen, e.g. "movies" or "movie:12"
  genres: null,
  lastCatalogueHash: '#/movies',
  flash: null,
  firstRender: true,
};

// ---------------------------------------------------------------------------------------------
// Small helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// replaceChildren() would turn null into the text "null": skip empty slots instead.
function setChildren(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined
    && c !== false));
}

function fmtNumber(value, digits = 1) {
  const n = Number(value);
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}

function fmtPercent(value) {
  if (value === null || value === undefined || value === '') return '–';
  if (typeof value === 'string') return value;
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return `${(n <= 1 ? n * 100 : n).toFixed(1).replace(/\.0$/, '')}%`;
}

function fmtDate(value) {
  if (!value) return 'Not built yet';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString();
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function starsLabel(value) {
  return `${value} ${Number(value) === 1 ? 'star' : 'stars'}`;
}

// ---------------------------------------------------------------------------------------------
// Messages (aria-live regions that are always in the document)

function clearMessages() {
  $alert.replaceChildren();
  $notice.replaceChildren();
}

function showError(text) {
  $notice.replaceChildren();
  $alert.replaceChildren(el('p', {}, text));
}

function showNotice(text) {
  $alert.replaceChildren();
  $notice.replaceChildren(el('p', {}, text));
}

// ---------------------------------------------------------------------------------------------
// Session

const getToken = () => sessionStorage.getItem(TOKEN_KEY);

function setSession(token, user) {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (user) sessionStorage.setItem(USER_KEY, JSON.stringify(user));
}

function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

function currentUser() {
  try {
    return JSON.parse(sessionStorage.getItem(USER_KEY) || 'null');
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// API client

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
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
    sessionStorage.setItem(RETURN_KEY, location.hash);
    location.hash = '#/login';
  } else {
    route();
  }
}

async function api(path, { method = 'GET', json, form } = {}) {
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
  let data = null;
  if (response.status !== 204) {
    const type = response.headers.get('content-type') || '';
    try {
      if (type.includes('json')) data = await response.json();
      else if (!response.ok && type.startsWith('text/plain')) {
        const text = (await response.text()).trim();
        if (text) data = { detail: text.slice(0, 300) };
      }
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message = describeError(data, response.status);
    if (response.status === 401 && path !== '/auth/login') {
      handleUnauthorized(message);
      throw new ApiError(401, message, data);
    }
    throw new ApiError(response.status, message, data);
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// Shared components

function posterImg(movie, className = 'poster') {
  return el('img', {
    class: className,
    src: movie.poster_url,
    loading: 'lazy',
    decoding: 'async',
    alt: `Poster for ${movie.title}`,
    width: 185,
    height: 278,
  });
}

function voteText(movie) {
  if (!movie.vote_count) return 'No votes yet';
  return `★ ${fmtNumber(movie.vote_average)}/10`;
}

function movieCard(movie, extra = null) {
  const meta = [movie.year || 'Year unknown', voteText(movie)].join(' · ');
  return el(
    'li',
    { class: 'card', dataset: { movieId: movie.id } },
    el(
      'a',
      { class: 'card-link', href: `#/movies/${movie.id}` },
      posterImg(movie),
      el(
        'span',
        { class: 'card-body' },
        el('span', { class: 'card-title' }, movie.title),
        el('span', { class: 'card-meta' }, meta),
        extra,
      ),
    ),
  );
}

function loadingBlock(text = 'Loading…') {
  return el('p', { class: 'loading', role: 'status' }, text);
}

function errorBlock(text) {
  return el('p', { class: 'inline-error' }, text);
}

function focusHeading() {
  const heading = $main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

function setView(key, node, title) {
  state.view = key;
  $main.replaceChildren(node);
  document.title = title ? `${title} · MovieRec` : 'MovieRec';
  window.scrollTo(0, 0);
}

// ---------------------------------------------------------------------------------------------
// Login / register

function field(id, label, attrs, hint = null) {
  const hintId = hint ? `${id}-hint` : null;
  return el(
    'div',
    { class: 'field' },
    el('label', { for: id }, label),
    el('input', { id, name: attrs.name || id, 'aria-describedby': hintId, ...attrs }),
    hint ? el('p', { class: 'hint', id: hintId }, hint) : null,
  );
}

function viewLogin() {
  const loginForm = el(
    'form',
    { id: 'login-form', class: 'panel form', novalidate: false },
    el('h2', {}, 'Sign in'),
    field('login-username', 'Username', {
      name: 'username', type: 'text', autocomplete: 'username', required: true,
    }),
    field('login-password', 'Password', {
      name: 'password', type: 'password', autocomplete: 'current-password', required: true,
    }),
    el('button', { class: 'btn btn-primary', type: 'submit' }, 'Sign in'),
  );

  const registerForm = el(
    'form',
    { id: 'register-form', class: 'panel form' },
    el('h2', {}, 'Create an account'),
    field('register-username', 'Username', {
      name: 'username', type: 'text', autocomplete: 'username', required: true,
      minlength: 3, maxlength: 64, pattern: '[A-Za-z0-9_.\\-]+',
    }, 'Letters, digits, dot, dash or underscore.'),
    field('register-email', 'Email', {
      name: 'email', type: 'email', autocomplete: 'email', required: true,
    }),
    field('register-password', 'Password', {
      name: 'password', type: 'password', autocomplete: 'new-password', required: true,
      minlength: 8,
    }, 'At least 8 characters.'),
    el('button', { class: 'btn btn-secondary', type: 'submit' }, 'Create account'),
  );

  loginForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = loginForm.querySelector('button[type=submit]');
    const username = loginForm.username.value.trim();
    const password = loginForm.password.value;
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      const token = await api('/auth/login', { method: 'POST', form: { username, password } });
      setSession(token.access_token, { username });
      try {
        const me = await api('/auth/me');
        setSession(token.access_token, me);
      } catch {
        /* the username we typed is good enough for the header */
      }
      clearMessages();
      updateChrome();
      const target = sessionStorage.getItem(RETURN_KEY);
      sessionStorage.removeItem(RETURN_KEY);
      location.hash = target && !target.startsWith('#/login') ? target : '#/movies';
    } catch (err) {
      showError(err.message);
      loginForm.password.select();
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });

  registerForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = registerForm.querySelector('button[type=submit]');
    const payload = {
      username: registerForm.username.value.trim(),
      email: registerForm.email.value.trim(),
      password: registerForm.password.value,
    };
    button.disabled = true;
    button.textContent = 'Creating…';
    try {
      const user = await api('/auth/register', { method: 'POST', json: payload });
      registerForm.reset();
      loginForm.username.value = user.username;
      loginForm.password.value = '';
      showNotice(`Account “${user.username}” created. You can sign in now.`);
      loginForm.password.focus();
    } catch (err) {
      showError(err.message);
    } finally {
      button.disabled = false;
      button.textContent = 'Create account';
    }
  });

  const page = el(
    'section',
    { class: 'auth', 'aria-labelledby': 'auth-title' },
    el('h1', { id: 'auth-title' }, 'Welcome to MovieRec'),
    el('p', { class: 'lead' },
      'Rate a few movies and get recommendations from a hybrid model that combines ',
      'collaborative filtering with text and poster embeddings.'),
    el('div', { class: 'auth-grid' }, loginForm, registerForm),
  );
  setView('login', page, 'Sign in');
}

// ---------------------------------------------------------------------------------------------
// Catalogue

function catalogueHash({ q = '', genre = '', sort = 'popularity', page = 1 }) {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  if (genre) params.set('genre', genre);
  if (sort && sort !== 'popularity') params.set('sort', sort);
  if (page > 1) params.set('page', String(page));
  const query = params.toString();
  return `#/movies${query ? `?${query}` : ''}`;
}

async function loadGenres() {
  if (state.genres) return state.genres;
  const genres = await api('/movies/genres');
  state.genres = Array.isArray(genres) ? genres : [];
  return state.genres;
}

function buildCatalogueShell() {
  const search = el('input', {
    id: 'search', name: 'q', type: 'search', placeholder: 'Search by title',
    autocomplete: 'off', enterkeyhint: 'search',
  });
  const genre = el('select', { id: 'genre', name: 'genre' }, el('option', { value: '' }, 'All'));
  const sort = el(
    'select',
    { id: 'sort', name: 'sort' },
    SORTS.map(([value, label]) => el('option', { value }, label)),
  );
  const form = el(
    'form',
    { id: 'catalogue-filters', class: 'filters', role: 'search' },
    el('div', { class: 'field field-grow' }, el('label', { for: 'search' }, 'Title'), search),
    el('div', { class: 'field' }, el('label', { for: 'genre' }, 'Genre'), genre),
    el('div', { class: 'field' }, el('label', { for: 'sort' }, 'Sort by'), sort),
    el('div', { class: 'field field-action' },
      el('button', { class: 'btn btn-primary', type: 'submit' }, 'Search')),
  );

  let timer = null;
  const current = () => ({ q: search.value.trim(), genre: genre.value, sort: sort.value });
  const go = (replace) => {
    clearTimeout(timer);
    const hash = catalogueHash({ ...current(), page: 1 });
    if (hash === location.hash) return;
    if (replace) location.replace(hash);
    else location.hash = hash;
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    go(false);
  });
  genre.addEventListener('change', () => go(false));
  sort.addEventListener('change', () => go(false));
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => go(true), 400);
  });

  const root = el(
    'section',
    { class: 'catalogue', 'aria-labelledby': 'catalogue-title', dataset: { view: 'movies' } },
    el('h1', { id: 'catalogue-title' }, 'Catalogue'),
    form,
    el('div', { id: 'catalogue-results', class: 'results', 'aria-live': 'polite' }),
  );
  return root;
}

function fillGenres(select, genres, selected) {
  if (select.options.length <= 1) {
    for (const name of genres) select.append(el('option', { value: name }, name));
  }
  if (selected && !genres.includes(selected)) {
    select.append(el('option', { value: selected }, selected));
  }
  select.value = selected || '';
}

async function viewCatalogue(params, rid) {
  const q = params.get('q') || '';
  const genre = params.get('genre') || '';
  const sort = params.get('sort') || 'popularity';
  const page = Math.max(1, Number.parseInt(params.get('page') || '1', 10) || 1);
  state.lastCatalogueHash = location.hash || '#/movies';

  let root = state.view === 'movies' ? $main.querySelector('[data-view="movies"]') : null;
  if (!root) {
    root = buildCatalogueShell();
    setView('movies', root, 'Catalogue');
  }
  const search = root.querySelector('#search');
  const genreSelect = root.querySelector('#genre');
  const sortSelect = root.querySelector('#sort');
  if (document.activeElement !== search) search.value = q;
  sortSelect.value = sort;
  if (state.genres) fillGenres(genreSelect, state.genres, genre);
  else {
    loadGenres()
      .then((genres) => fillGenres(genreSelect, genres, genre))
      .catch((err) => showError(`Could not load genres: ${err.message}`));
  }

  const results = root.querySelector('#catalogue-results');
  results.setAttribute('aria-busy', 'true');
  if (!results.firstChild) results.append(loadingBlock('Loading movies…'));

  const query = new URLSearchParams({
    skip: String((page - 1) * PAGE_SIZE),
    limit: String(PAGE_SIZE),
    sort,
  });
  if (q) query.set('q', q);
  if (genre) query.set('genre', genre);

  let data;
  try {
    data = await api(`/movies?${query}`);
  } catch (err) {
    if (rid !== state.renderId) return;
    results.removeAttribute('aria-busy');
    results.replaceChildren(errorBlock(`Could not load movies: ${err.message}`));
    if (err.status !== 401) showError(err.message);
    return;
  }
  if (rid !== state.renderId) return;

  const total = Number(data.total) || 0;
  const items = data.items || [];
  const totalPages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (page > totalPages && total > 0) {
    location.replace(catalogueHash({ q, genre, sort, page: totalPages }));
    return;
  }

  const first = total ? (page - 1) * PAGE_SIZE + 1 : 0;
  const last = Math.min(total, (page - 1) * PAGE_SIZE + items.length);
  const summary = total
    ? `Showing ${first}–${last} of ${plural(total, 'movie')}`
    : 'No movies match your search.';

  const pager = el(
    'nav',
    { class: 'pager', 'aria-label': 'Pagination' },
    el('button', {
      class: 'btn btn-secondary', type: 'button', id: 'page-prev', disabled: page <= 1,
      onclick: () => { location.hash = catalogueHash({ q, genre, sort, page: page - 1 }); },
    }, '← Previous'),
    el('span', { id: 'page-status', class: 'pager-status' }, `Page ${page} of ${totalPages}`),
    el('button', {
      class: 'btn btn-secondary', type: 'button', id: 'page-next', disabled: page >= totalPages,
      onclick: () => { location.hash = catalogueHash({ q, genre, sort, page: page + 1 }); },
    }, 'Next →'),
  );

  setChildren(results,
    el('p', { class: 'summary', id: 'result-summary' }, summary),
    items.length ? el('ul', { class: 'grid', id: 'movie-grid' }, items.map((m) => movieCard(m)))
      : null,
    total > PAGE_SIZE || page > 1 ? pager : null,
  );
  results.removeAttribute('aria-busy');
}

// ---------------------------------------------------------------------------------------------
// Movie detail and rating

function ratingControl(movie) {
  let current = movie.my_rating ?? null;
  const values = Array.from({ length: 10 }, (_, i) => (i + 1) / 2);

  const text = el('p', { id: 'rating-text', class: 'rating-text', 'aria-live': 'polite' });
  const remove = el('button', {
    id: 'rating-remove', class: 'btn btn-small btn-ghost', type: 'button',
  }, 'Remove rating');
  const group = el('div', {
    class: 'stars', role: 'group', id: 'rating-stars',
    'aria-labelledby': 'rating-heading', 'aria-describedby': 'rating-help',
  });
  const buttons = values.map((value) => el('button', {
    type: 'button',
    class: `star ${value % 1 ? 'star-left' : 'star-right'}`,
    'aria-label': starsLabel(value),
    title: starsLabel(value),
    dataset: { ratingValue: String(value) },
  }, el('span', { 'aria-hidden': 'true' }, '★')));
  group.append(...buttons);

  function paint(preview = null) {
    const shown = preview ?? current;
    for (const button of buttons) {
      const value = Number(button.dataset.ratingValue);
      button.classList.toggle('is-on', shown !== null && value <= shown);
      button.classList.toggle('is-preview', preview !== null);
      button.setAttribute('aria-pressed', String(current !== null && value === current));
    }
  }

  function sync() {
    paint();
    text.textContent = current === null
      ? 'You have not rated this movie yet.'
      : `Your rating: ${current} out of 5`;
    remove.hidden = current === null;
    // Roving tab stop: the selected value (or the first) is the one reachable with Tab.
    const focusValue = current ?? 0.5;
    for (const button of buttons) {
      button.tabIndex = Number(button.dataset.ratingValue) === focusValue ? 0 : -1;
    }
  }

  function setBusy(busy) {
    group.setAttribute('aria-busy', String(busy));
    for (const button of buttons) button.disabled = busy;
    remove.disabled = busy;
  }

  async function save(value) {
    setBusy(true);
    try {
      const result = await api(`/movies/${movie.id}/rating`, {
        method: 'PUT', json: { rating: value },
      });
      current = Number(result.rating);
      sync();
      showNotice(`Saved: you rated “${movie.title}” ${starsLabel(current)}.`);
    } catch (err) {
      if (err.status !== 401) showError(`Could not save your rating: ${err.message}`);
    } finally {
      setBusy(false);
      const focused = buttons.find((b) => Number(b.dataset.ratingValue) === (current ?? value));
      if (focused && group.contains(document.activeElement) === false) focused.focus();
    }
  }

  group.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-rating-value]');
    if (button) save(Number(button.dataset.ratingValue));
  });
  group.addEventListener('mouseover', (event) => {
    const button = event.target.closest('button[data-rating-value]');
    if (button) paint(Number(button.dataset.ratingValue));
  });
  group.addEventListener('mouseleave', () => paint());
  group.addEventListener('keydown', (event) => {
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    let next = null;
    if (event.key === 'ArrowRight' || event.key === 'ArrowUp') next = Math.min(9, index + 1);
    else if (event.key === 'ArrowLeft' || event.key === 'ArrowDown') next = Math.max(0, index - 1);
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = 9;
    if (next === null) return;
    event.preventDefault();
    for (const button of buttons) button.tabIndex = -1;
    buttons[next].tabIndex = 0;
    buttons[next].focus();
    paint(Number(buttons[next].dataset.ratingValue));
  });
  group.addEventListener('focusout', (event) => {
    if (!group.contains(event.relatedTarget)) sync();
  });

  remove.addEventListener('click', async () => {
    setBusy(true);
    try {
      await api(`/movies/${movie.id}/rating`, { method: 'DELETE' });
      current = null;
      sync();
      showNotice(`Removed your rating for “${movie.title}”.`);
      buttons[0].focus();
    } catch (err) {
      if (err.status !== 401) showError(`Could not remove your rating: ${err.message}`);
    } finally {
      setBusy(false);
    }
  });

  sync();
  return el(
    'section',
    { class: 'rating-box', 'aria-labelledby': 'rating-heading' },
    el('h2', { id: 'rating-heading' }, 'Your rating'),
    el('p', { id: 'rating-help', class: 'hint' },
      'Choose from half a star to five stars. Use the arrow keys to move, Enter to rate.'),
    group,
    el('div', { class: 'rating-row' }, text, remove),
  );
}

async function loadSimilar(movie, container, rid) {
  container.setAttribute('aria-busy', 'true');
  try {
    const items = await api(`/movies/${movie.id}/similar?limit=${SIMILAR_LIMIT}`);
    if (rid !== state.renderId) return;
    const list = Array.isArray(items) ? items : items.items || [];
    setChildren(container,
      list.length
        ? el('ul', { class: 'grid grid-small', id: 'similar-list' }, list.map((m) => movieCard(
          m,
          m.reason ? el('span', { class: 'card-reason' }, m.reason) : null,
        )))
        : el('p', { class: 'empty', id: 'similar-empty' }, 'No similar movies found yet.'),
    );
  } catch (err) {
    if (rid !== state.renderId) return;
    container.replaceChildren(errorBlock(`Could not load similar movies: ${err.message}`));
  } finally {
    container.removeAttribute('aria-busy');
  }
}

async function viewMovie(id, rid) {
  setView(`movie:${id}`, el('section', { class: 'detail' }, loadingBlock('Loading movie…')),
    'Movie');
  let movie;
  try {
    movie = await api(`/movies/${encodeURIComponent(id)}`);
  } catch (err) {
    if (rid !== state.renderId) return;
    if (err.status === 401) return;
    $main.replaceChildren(el(
      'section', { class: 'detail' },
      el('h1', {}, err.status === 404 ? 'Movie not found' : 'Could not load this movie'),
      el('p', {}, err.message),
      el('p', {}, el('a', { href: state.lastCatalogueHash }, 'Back to the catalogue')),
    ));
    showError(err.message);
    return;
  }
  if (rid !== state.renderId) return;

  const genres = movie.genres || [];
  const facts = el(
    'dl', { class: 'facts' },
    el('dt', {}, 'Year'), el('dd', {}, movie.year || 'Unknown'),
    el('dt', {}, 'Average'),
    el('dd', {}, movie.vote_count
      ? `${fmtNumber(movie.vote_average)}/10 from ${plural(movie.vote_count, 'vote')}`
      : 'No votes yet'),
    movie.release_date ? [el('dt', {}, 'Released'), el('dd', {}, movie.release_date)] : null,
  );

  const similar = el('div', { id: 'similar', class: 'similar-body' }, loadingBlock());
  const page = el(
    'div', { class: 'detail-page', dataset: { movieId: movie.id } },
    el('p', { class: 'back' }, el('a', { href: state.lastCatalogueHash }, '← Back to catalogue')),
    el(
      'article', { class: 'detail', 'aria-labelledby': 'movie-title' },
      el('div', { class: 'detail-poster' }, posterImg(movie, 'poster poster-large')),
      el(
        'div', { class: 'detail-info' },
        el('h1', { id: 'movie-title' }, movie.title),
        genres.length
          ? el('ul', { class: 'chips', 'aria-label': 'Genres' },
            genres.map((g) => el('li', { class: 'chip' }, g)))
          : null,
        facts,
        el('p', { class: 'overview' }, movie.overview || 'No overview available.'),
        ratingControl(movie),
      ),
    ),
    el(
      'section', { class: 'similar', 'aria-labelledby': 'similar-title' },
      el('h2', { id: 'similar-title' }, 'More like this'),
      similar,
    ),
  );
  setView(`movie:${id}`, page, movie.title);
  loadSimilar(movie, similar, rid);
}

// ---------------------------------------------------------------------------------------------
// Recommendations

function recItem(movie, rank) {
  return el(
    'li', { class: 'rec-item', dataset: { movieId: movie.id } },
    el('span', { class: 'rec-rank', 'aria-hidden': 'true' }, String(rank)),
    el('a', { class: 'rec-poster', href: `#/movies/${movie.id}`, tabindex: -1, 'aria-hidden': 'true' },
      posterImg(movie, 'poster poster-thumb')),
    el(
      'div', { class: 'rec-body' },
      el('a', { class: 'rec-title', href: `#/movies/${movie.id}` }, movie.title),
      el('p', { class: 'rec-meta' },
        [movie.year, voteText(movie), `score ${fmtNumber(movie.score, 3)}`]
          .filter(Boolean).join(' · ')),
      movie.reason ? el('p', { class: 'rec-reason' }, movie.reason) : null,
    ),
  );
}

async function loadRecColumn(column, useEmbeddings, rid) {
  const body = column.querySelector('.rec-content');
  column.dataset.state = 'loading';
  column.setAttribute('aria-busy', 'true');
  body.replaceChildren(loadingBlock('Loading recommendations…'));
  try {
    const data = await api(
      `/movies/recommendations?limit=${REC_LIMIT}&use_embeddings=${useEmbeddings}`,
    );
    if (rid !== state.renderId) return;
    const items = Array.isArray(data) ? data : data.items || [];
    const fallback = items.some((m) => m.fallback);
    setChildren(body,
      fallback
        ? el('p', { class: 'note', dataset: { fallback: 'true' } },
          'Not enough ratings for personal results yet — showing popular movies instead. ',
          'Rate a few movies to improve these.')
        : null,
      items.length
        ? el('ol', { class: 'rec-list' }, items.map((m, i) => recItem(m, i + 1)))
        : el('p', { class: 'empty' }, 'No recommendations available yet.'),
    );
    column.dataset.state = 'loaded';
  } catch (err) {
    if (rid !== state.renderId) return;
    body.replaceChildren(errorBlock(`Could not load recommendations: ${err.message}`));
    column.dataset.state = 'error';
    if (err.status !== 401) showError(err.message);
  } finally {
    column.removeAttribute('aria-busy');
  }
}

function viewRecommendations(rid) {
  const column = (id, title, description) => el(
    'section', { class: 'rec-col', id, 'aria-labelledby': `${id}-title` },
    el('h2', { id: `${id}-title` }, title),
    el('p', { class: 'hint' }, description),
    el('div', { class: 'rec-content' }),
  );
  const hybrid = column('rec-hybrid', 'Hybrid (with embeddings)',
    'Collaborative filtering blended with the text (and, when pretrained, poster) index.');
  const baseline = column('rec-baseline', 'Baseline (no embeddings)',
    'SVD, co-watching and popularity from ratings alone.');
  const refresh = el('button', { class: 'btn btn-secondary btn-small', type: 'button' }, 'Refresh');
  refresh.addEventListener('click', () => {
    loadRecColumn(hybrid, true, state.renderId);
    loadRecColumn(baseline, false, state.renderId);
  });
  setView('recommendations', el(
    'section', { class: 'recommendations', 'aria-labelledby': 'rec-title' },
    el('div', { class: 'page-head' },
      el('h1', { id: 'rec-title' }, 'Recommendations'), refresh),
    el('p', { class: 'lead' },
      'The same ratings, two models side by side. Rate more movies to sharpen both lists.'),
    el('div', { class: 'rec-columns' }, hybrid, baseline),
  ), 'Recommendations');
  loadRecColumn(hybrid, true, rid);
  loadRecColumn(baseline, false, rid);
}

// ---------------------------------------------------------------------------------------------
// Embedding index status

async function viewStatus(rid) {
  const body = el('div', { id: 'status-body', 'aria-live': 'polite' }, loadingBlock());
  const refresh = el('button', { class: 'btn btn-secondary btn-small', type: 'button' }, 'Refresh');
  const load = async (token) => {
    body.setAttribute('aria-busy', 'true');
    try {
      const s = await api('/embeddings/status');
      if (token !== state.renderId) return;
      const row = (label, value) => [el('dt', {}, label), el('dd', {}, value)];
      const pretrained = s.image_pretrained === undefined || s.image_pretrained === null
        ? 'Unknown'
        : s.image_pretrained ? 'Yes — pretrained weights' : 'No — random weights';
      const dims = (model, dim) => (model ? `${model}${dim ? ` (${dim} dimensions)` : ''}` : '–');
      const activity = [s.building && 'building the index', s.training && 'training the model']
        .filter(Boolean).join(' and ');
      setChildren(body,
        el('dl', { class: 'status-grid', id: 'status-list' },
          row('Coverage', fmtPercent(s.coverage)),
          row('Movies in index', `${s.movies_in_index ?? 0}${
            s.total_movies !== undefined ? ` of ${s.total_movies}` : ''}`),
          row('Poster coverage', fmtPercent(s.poster_coverage)),
          row('Device', s.device || '–'),
          row('Text model', dims(s.text_model, s.text_dim)),
          row('Image model', dims(s.image_model, s.image_dim)),
          row('Image weights pretrained', pretrained),
          s.image_status ? row('Image embeddings', s.image_status) : null,
          row('Built at', fmtDate(s.built_at)),
          s.model_trained_at ? row('Model trained at', fmtDate(s.model_trained_at)) : null,
          s.building !== undefined || s.training !== undefined
            ? row('Background work', activity ? `Now ${activity}` : 'Idle') : null,
          s.last_error ? row('Last error', String(s.last_error)) : null,
        ),
        !s.movies_in_index
          ? el('p', { class: 'note' }, 'The index is empty or still being built.') : null,
        el('details', { class: 'raw' },
          el('summary', {}, 'All status fields'),
          el('pre', {}, JSON.stringify(s, null, 2))),
      );
    } catch (err) {
      if (token !== state.renderId) return;
      body.replaceChildren(errorBlock(`Could not load the index status: ${err.message}`));
      if (err.status !== 401) showError(err.message);
    } finally {
      body.removeAttribute('aria-busy');
    }
  };
  refresh.addEventListener('click', () => load(state.renderId));
  setView('status', el(
    'section', { class: 'status', 'aria-labelledby': 'status-title' },
    el('div', { class: 'page-head' }, el('h1', { id: 'status-title' }, 'Index status'), refresh),
    el('p', { class: 'lead' }, 'The embedding index behind “More like this” and the hybrid model.'),
    body,
  ), 'Index status');
  await load(rid);
}

function viewNotFound() {
  setView('notfound', el(
    'section', {},
    el('h1', {}, 'Page not found'),
    el('p', {}, el('a', { href: '#/movies' }, 'Go to the catalogue')),
  ), 'Not found');
}

// ---------------------------------------------------------------------------------------------
// Router and chrome

function updateChrome(routeName = null) {
  const token = getToken();
  $nav.hidden = !token;
  $account.hidden = !token;
  const user = currentUser();
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

function parseHash() {
  const raw = location.hash || '';
  if (!raw.startsWith('#/')) return null;
  const [path, query = ''] = raw.slice(2).split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

async function route() {
  const parsed = parseHash();
  if (!parsed) {
    location.replace(getToken() ? '#/movies' : '#/login');
    return;
  }
  const rid = ++state.renderId;
  const [name = 'movies', id, extra] = parsed.parts;
  const previousView = state.view;

  if (name !== 'login' && !getToken()) {
    sessionStorage.setItem(RETURN_KEY, location.hash);
    location.replace('#/login');
    return;
  }
  if (name === 'login' && getToken()) {
    location.replace('#/movies');
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

  updateChrome(name === 'movies' && id ? null : name);
  if (name === 'login') viewLogin();
  else if (name === 'movies' && !id) await viewCatalogue(parsed.params, rid);
  else if (name === 'movies' && /^\d+$/.test(id) && !extra) await viewMovie(id, rid);
  else if (name === 'recommendations' && !id) viewRecommendations(rid);
  else if (name === 'status' && !id) await viewStatus(rid);
  else viewNotFound();

  if (rid === state.renderId && state.view !== previousView && !state.firstRender) focusHeading();
  state.firstRender = false;
}

document.getElementById('logout').addEventListener('click', () => {
  clearSession();
  state.flash = { kind: 'notice', text: 'You have signed out.' };
  updateChrome();
  location.hash = '#/login';
});

document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  $main.focus();
});

window.addEventListener('hashchange', route);

async function start() {
  // Refresh the signed-in user's name (and validate a token left from earlier in this tab).
  if (getToken() && !currentUser()) {
    try {
      const me = await api('/auth/me');
      setSession(getToken(), me);
    } catch {
      /* a 401 is handled inside api(); anything else is shown by the page itself */
    }
  }
  route();
}

start();
