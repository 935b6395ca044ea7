// #/movies?q=&genre=&sort=&page=: search, filter and page through the catalogue.
import { api } from '../api.js';
import { el, errorBlock, loadingBlock, plural, setChildren } from '../dom.js';
import { movieCard } from '../components.js';
import { showError } from '../messages.js';
import { $main, isCurrent, setView, state } from '../page.js';
import { navigate } from '../router.js';

const SORTS = [
  ['popularity', 'Most popular'],
  ['vote_average', 'Highest rated'],
  ['year', 'Year'],
  ['title', 'Title (A–Z)'],
];

const PAGE_SIZE = 24;
let genresCache = null;

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
  if (genresCache) return genresCache;
  const genres = await api('/movies/genres');
  genresCache = Array.isArray(genres) ? genres : [];
  return genresCache;
}

function buildShell() {
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
    if (hash !== location.hash) navigate(hash, { replace });
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

  return el(
    'section',
    { class: 'catalogue', 'aria-labelledby': 'catalogue-title', dataset: { view: 'movies' } },
    el('h1', { id: 'catalogue-title' }, 'Catalogue'),
    form,
    el('div', { id: 'catalogue-results', class: 'results', 'aria-live': 'polite' }),
  );
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

function pager(filters, page, totalPages) {
  const to = (n) => () => navigate(catalogueHash({ ...filters, page: n }));
  return el(
    'nav',
    { class: 'pager', 'aria-label': 'Pagination' },
    el('button', {
      class: 'btn btn-secondary', type: 'button', id: 'page-prev', disabled: page <= 1,
      onclick: to(page - 1),
    }, '← Previous'),
    el('span', { id: 'page-status', class: 'pager-status' }, `Page ${page} of ${totalPages}`),
    el('button', {
      class: 'btn btn-secondary', type: 'button', id: 'page-next', disabled: page >= totalPages,
      onclick: to(page + 1),
    }, 'Next →'),
  );
}

export async function viewCatalogue({ params, rid }) {
  const filters = {
    q: params.get('q') || '',
    genre: params.get('genre') || '',
    sort: params.get('sort') || 'popularity',
  };
  const page = Math.max(1, Number.parseInt(params.get('page') || '1', 10) || 1);
  state.lastCatalogueHash = location.hash || '#/movies';

  let root = state.view === 'movies' ? $main.querySelector('[data-view="movies"]') : null;
  if (!root) {
    root = buildShell();
    setView('movies', root, 'Catalogue');
  }
  const search = root.querySelector('#search');
  const genreSelect = root.querySelector('#genre');
  if (document.activeElement !== search) search.value = filters.q;
  root.querySelector('#sort').value = filters.sort;
  loadGenres()
    .then((genres) => fillGenres(genreSelect, genres, filters.genre))
    .catch((err) => showError(`Could not load genres: ${err.message}`));

  const results = root.querySelector('#catalogue-results');
  results.setAttribute('aria-busy', 'true');
  if (!results.firstChild) results.append(loadingBlock('Loading movies…'));

  const query = new URLSearchParams({
    skip: String((page - 1) * PAGE_SIZE),
    limit: String(PAGE_SIZE),
    sort: filters.sort,
  });
  if (filters.q) query.set('q', filters.q);
  if (filters.genre) query.set('genre', filters.genre);

  let data;
  try {
    data = await api(`/movies?${query}`);
  } catch (err) {
    if (!isCurrent(rid)) return;
    results.removeAttribute('aria-busy');
    results.replaceChildren(errorBlock(`Could not load movies: ${err.message}`));
    if (err.status !== 401) showError(err.message);
    return;
  }
  if (!isCurrent(rid)) return;

  const total = Number(data.total) || 0;
  const items = data.items || [];
  const totalPages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (page > totalPages && total > 0) {
    navigate(catalogueHash({ ...filters, page: totalPages }), { replace: true });
    return;
  }

  const first = total ? (page - 1) * PAGE_SIZE + 1 : 0;
  const last = Math.min(total, (page - 1) * PAGE_SIZE + items.length);
  const summary = total
    ? `Showing ${first}–${last} of ${plural(total, 'movie')}`
    : 'No movies match your search.';

  setChildren(results,
    el('p', { class: 'summary', id: 'result-summary' }, summary),
    items.length ? el('ul', { class: 'grid', id: 'movie-grid' }, items.map((m) => movieCard(m)))
      : null,
    total > PAGE_SIZE || page > 1 ? pager(filters, page, totalPages) : null,
  );
  results.removeAttribute('aria-busy');
}
