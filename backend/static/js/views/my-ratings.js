// #/my-ratings?sort=: everything you have rated, with posters; change or remove in place.
import { api, deleteRating, saveRating } from '../api.js';
import { el, errorBlock, fmtDate, loadingBlock, plural, setChildren, starsLabel } from '../dom.js';
import { posterImg } from '../components.js';
import { showError, showNotice } from '../messages.js';
import { isCurrent, setView } from '../page.js';
import { navigate } from '../router.js';
import { starInput } from '../stars.js';

const PAGE_SIZE = 100;
const SORTS = [
  ['date_desc', 'Newest first'],
  ['date_asc', 'Oldest first'],
  ['rating_desc', 'Highest rated'],
  ['rating_asc', 'Lowest rated'],
  ['title', 'Title (A–Z)'],
];

function ratingRow(entry, onRemoved) {
  const { movie } = entry;
  let current = entry.rating;
  const when = el('p', { class: 'myrating-when' }, `Rated ${fmtDate(entry.timestamp, '')}`);
  const remove = el('button', { class: 'btn btn-small btn-ghost myrating-remove', type: 'button' },
    'Remove');
  const stars = starInput({
    value: current,
    label: `Your rating for ${movie.title}`,
    onPick: async (value) => {
      stars.setBusy(true);
      try {
        const saved = await saveRating(movie.id, value);
        current = Number(saved.rating);
        when.textContent = `Rated ${fmtDate(saved.timestamp, '')}`;
        showNotice(`Saved: you rated “${movie.title}” ${starsLabel(current)}.`);
      } catch (err) {
        if (err.status !== 401) showError(`Could not save your rating: ${err.message}`);
      } finally {
        stars.set(current);
        stars.setBusy(false);
      }
    },
  });
  stars.node.classList.add('stars-compact');
  const row = el('li', { class: 'myrating', dataset: { movieId: movie.id } },
    el('a', { class: 'rec-poster', href: `#/movies/${movie.id}`, tabindex: -1,
      'aria-hidden': 'true' }, posterImg(movie, 'poster poster-thumb')),
    el('div', { class: 'myrating-body' },
      el('a', { class: 'rec-title', href: `#/movies/${movie.id}` }, movie.title),
      el('p', { class: 'rec-meta' }, [movie.year, (movie.genres || []).join(', ')]
        .filter(Boolean).join(' · ')),
      stars.node,
      el('div', { class: 'myrating-row' }, when, remove)));
  remove.addEventListener('click', async () => {
    remove.disabled = true;
    try {
      await deleteRating(movie.id);
      row.remove();
      showNotice(`Removed your rating for “${movie.title}”.`);
      onRemoved();
    } catch (err) {
      remove.disabled = false;
      if (err.status !== 401) showError(`Could not remove your rating: ${err.message}`);
    }
  });
  return row;
}

export async function viewMyRatings({ params, rid }) {
  const sort = SORTS.some(([value]) => value === params.get('sort'))
    ? params.get('sort') : 'date_desc';
  const select = el('select', { id: 'my-ratings-sort', name: 'sort' },
    SORTS.map(([value, label]) => el('option', { value }, label)));
  select.value = sort;
  select.addEventListener('change', () => navigate(
    select.value === 'date_desc' ? '#/my-ratings' : `#/my-ratings?sort=${select.value}`));

  const summary = el('p', { id: 'my-ratings-summary', class: 'summary', 'aria-live': 'polite' });
  const list = el('ol', { id: 'my-ratings-list', class: 'myratings' });
  const footer = el('div', { class: 'onboard-more' }, loadingBlock('Loading your ratings…'));
  const more = el('button', { class: 'btn btn-secondary', type: 'button', id: 'my-ratings-more' },
    'Show more');
  let count = 0;

  const updateSummary = () => {
    setChildren(summary, count
      ? `${plural(count, 'rating')}${footer.contains(more) ? ' so far' : ''}.`
      : ['You have not rated any movies yet. ',
        el('a', { href: '#/welcome' }, 'Rate a few well-known movies'), ' to get started.']);
  };

  async function loadPage() {
    more.disabled = true;
    try {
      const rows = await api(
        `/users/me/ratings?sort=${sort}&skip=${count}&limit=${PAGE_SIZE}`,
      );
      if (!isCurrent(rid)) return;
      list.append(...rows.map((entry) => ratingRow(entry, () => {
        count -= 1;
        updateSummary();
      })));
      count += rows.length;
      footer.replaceChildren(...(rows.length === PAGE_SIZE ? [more] : []));
      updateSummary();
    } catch (err) {
      if (!isCurrent(rid)) return;
      footer.replaceChildren(errorBlock(`Could not load your ratings: ${err.message}`));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', loadPage);

  setView('my-ratings', el(
    'section', { class: 'my-ratings', 'aria-labelledby': 'my-ratings-title' },
    el('div', { class: 'page-head' },
      el('h1', { id: 'my-ratings-title' }, 'My ratings'),
      el('a', { class: 'btn btn-secondary btn-small', href: '#/welcome' }, 'Rate more movies')),
    el('div', { class: 'filters' },
      el('div', { class: 'field' }, el('label', { for: 'my-ratings-sort' }, 'Sort by'), select)),
    summary,
    list,
    footer,
  ), 'My ratings');
  await loadPage();
}
