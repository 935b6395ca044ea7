// #/movies/ID: details, your rating, and "More like this".
import { api, deleteRating, saveRating } from '../api.js';
import { el, errorBlock, fmtNumber, loadingBlock, plural, setChildren, starsLabel } from '../dom.js';
import { movieCard, posterImg } from '../components.js';
import { recordDetailView } from '../feedback.js';
import { showError, showNotice } from '../messages.js';
import { $main, isCurrent, setView, state } from '../page.js';
import { starInput } from '../stars.js';

const SIMILAR_LIMIT = 10;

function ratingControl(movie) {
  let current = movie.my_rating ?? null;
  const text = el('p', { id: 'rating-text', class: 'rating-text', 'aria-live': 'polite' });
  const remove = el('button', {
    id: 'rating-remove', class: 'btn btn-small btn-ghost', type: 'button',
  }, 'Remove rating');

  const stars = starInput({
    value: current, id: 'rating-stars', labelledBy: 'rating-heading', describedBy: 'rating-help',
    onPick: (value) => save(value),
  });

  function sync() {
    stars.set(current);
    text.textContent = current === null
      ? 'You have not rated this movie yet.'
      : `Your rating: ${current} out of 5`;
    remove.hidden = current === null;
  }

  function setBusy(busy) {
    stars.setBusy(busy);
    remove.disabled = busy;
  }

  async function save(value) {
    setBusy(true);
    try {
      const result = await saveRating(movie.id, value);
      current = Number(result.rating);
      sync();
      showNotice(`Saved: you rated “${movie.title}” ${starsLabel(current)}.`);
    } catch (err) {
      if (err.status !== 401) showError(`Could not save your rating: ${err.message}`);
    } finally {
      setBusy(false);
      stars.focus();
    }
  }

  remove.addEventListener('click', async () => {
    setBusy(true);
    try {
      await deleteRating(movie.id);
      current = null;
      sync();
      showNotice(`Removed your rating for “${movie.title}”.`);
    } catch (err) {
      if (err.status !== 401) showError(`Could not remove your rating: ${err.message}`);
    } finally {
      setBusy(false);
      stars.focus();
    }
  });

  sync();
  return el(
    'section',
    { class: 'rating-box', 'aria-labelledby': 'rating-heading' },
    el('h2', { id: 'rating-heading' }, 'Your rating'),
    el('p', { id: 'rating-help', class: 'hint' },
      'Choose from half a star to five stars. Use the arrow keys to move, Enter to rate.'),
    stars.node,
    el('div', { class: 'rating-row' }, text, remove),
  );
}

async function loadSimilar(movie, container, rid) {
  container.setAttribute('aria-busy', 'true');
  try {
    const items = await api(`/movies/${movie.id}/similar?limit=${SIMILAR_LIMIT}`);
    if (!isCurrent(rid)) return;
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
    if (!isCurrent(rid)) return;
    container.replaceChildren(errorBlock(`Could not load similar movies: ${err.message}`));
  } finally {
    container.removeAttribute('aria-busy');
  }
}

function facts(movie) {
  return el(
    'dl', { class: 'facts' },
    el('dt', {}, 'Year'), el('dd', {}, movie.year || 'Unknown'),
    el('dt', {}, 'Average'),
    el('dd', {}, movie.vote_count
      ? `${fmtNumber(movie.vote_average)}/10 from ${plural(movie.vote_count, 'vote')}`
      : 'No votes yet'),
    movie.release_date ? [el('dt', {}, 'Released'), el('dd', {}, movie.release_date)] : null,
  );
}

export async function viewMovie({ id, rid }) {
  setView(`movie:${id}`, el('section', { class: 'detail' }, loadingBlock('Loading movie…')),
    'Movie');
  let movie;
  try {
    movie = await api(`/movies/${encodeURIComponent(id)}`);
  } catch (err) {
    if (!isCurrent(rid) || err.status === 401) return;
    // The page itself explains the problem; no second copy in the alert bar.
    $main.replaceChildren(el(
      'section', { class: 'detail', id: 'movie-error', role: 'alert' },
      el('h1', {}, err.status === 404 ? 'Movie not found' : 'Could not load this movie'),
      el('p', {}, err.message),
      el('p', {}, el('a', { href: state.lastCatalogueHash }, 'Back to the catalogue')),
    ));
    return;
  }
  if (!isCurrent(rid)) return;

  const genres = movie.genres || [];
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
        facts(movie),
        el('p', { class: 'overview' }, movie.overview || 'No overview available.'),
        ratingControl(movie),
      ),
    ),
    el(
      'section', { class: 'similar', 'aria-labelledby': 'similar-title' },
      el('h2', { id: 'similar-title' }, 'More like this'),
      el('p', { class: 'hint' },
        'Movies whose descriptions read most like this one (text embeddings; posters count too '
        + 'only when pretrained image weights are configured, see Index status).'),
      similar,
    ),
  );
  setView(`movie:${id}`, page, movie.title);
  recordDetailView(movie.id);
  loadSimilar(movie, similar, rid);
}
