// #/recommendations: the hybrid and the ratings-only lists side by side.
import { api } from '../api.js';
import { el, errorBlock, loadingBlock, setChildren } from '../dom.js';
import { expectationText, posterImg, voteText } from '../components.js';
import { recordClick } from '../feedback.js';
import { showError } from '../messages.js';
import { isCurrent, setView, state } from '../page.js';

const REC_LIMIT = 10;

function recItem(movie, rank) {
  const expectation = expectationText(movie);
  return el(
    'li', { class: 'rec-item', dataset: { movieId: movie.id } },
    el('span', { class: 'rec-rank', 'aria-hidden': 'true' }, String(rank)),
    el('a', { class: 'rec-poster', href: `#/movies/${movie.id}`, tabindex: -1, 'aria-hidden': 'true',
      onclick: () => recordClick(movie) },
      posterImg(movie, 'poster poster-thumb')),
    el(
      'div', { class: 'rec-body' },
      el('a', { class: 'rec-title', href: `#/movies/${movie.id}`, onclick: () => recordClick(movie) },
        movie.title),
      expectation ? el('p', { class: 'rec-expect' }, expectation) : null,
      el('p', { class: 'rec-meta' }, [movie.year, voteText(movie)].filter(Boolean).join(' · ')),
      movie.reason ? el('p', { class: 'rec-reason' }, movie.reason) : null,
    ),
  );
}

async function loadColumn(column, useEmbeddings, rid) {
  const body = column.querySelector('.rec-content');
  column.dataset.state = 'loading';
  column.setAttribute('aria-busy', 'true');
  body.replaceChildren(loadingBlock('Loading recommendations…'));
  try {
    const data = await api(
      `/movies/recommendations?limit=${REC_LIMIT}&use_embeddings=${useEmbeddings}`,
    );
    if (!isCurrent(rid)) return;
    const items = Array.isArray(data) ? data : data.items || [];
    const fallback = items.some((m) => m.fallback);
    setChildren(body,
      fallback
        ? el('p', { class: 'note', dataset: { fallback: 'true' } },
          'Not enough ratings for personal results yet — showing popular movies instead. ',
          el('a', { href: '#/welcome' }, 'Rate a few movies you know'),
          ' to improve these.')
        : null,
      items.length
        ? el('ol', { class: 'rec-list' }, items.map((m, i) => recItem(m, i + 1)))
        : el('p', { class: 'empty' }, 'No recommendations available yet.'),
    );
    column.dataset.state = 'loaded';
  } catch (err) {
    if (!isCurrent(rid)) return;
    body.replaceChildren(errorBlock(`Could not load recommendations: ${err.message}`));
    column.dataset.state = 'error';
    if (err.status !== 401) showError(err.message);
  } finally {
    column.removeAttribute('aria-busy');
  }
}

function column(id, title, description) {
  return el(
    'section', { class: 'rec-col', id, 'aria-labelledby': `${id}-title` },
    el('h2', { id: `${id}-title` }, title),
    el('p', { class: 'hint', id: `${id}-about` }, description),
    el('div', { class: 'rec-content' }),
  );
}

export function viewRecommendations({ rid }) {
  const hybrid = column('rec-hybrid', 'Hybrid (with embeddings)',
    'Your ratings matched against other people’s, blended with movies whose overviews read '
    + 'like the ones you rated highly (text embeddings).');
  const baseline = column('rec-baseline', 'Baseline (no embeddings)',
    'Ratings alone: what people whose ratings resemble yours liked, plus overall popularity.');
  const refresh = el('button', { class: 'btn btn-secondary btn-small', type: 'button' }, 'Refresh');
  refresh.addEventListener('click', () => {
    loadColumn(hybrid, true, state.renderId);
    loadColumn(baseline, false, state.renderId);
  });
  setView('recommendations', el(
    'section', { class: 'recommendations', 'aria-labelledby': 'rec-title' },
    el('div', { class: 'page-head' },
      el('h1', { id: 'rec-title' }, 'Recommendations'), refresh),
    el('p', { class: 'lead' },
      'The same ratings, two models side by side. ',
      el('a', { href: '#/my-ratings' }, 'Rate more movies'), ' to sharpen both lists.'),
    el('div', { class: 'rec-columns' }, hybrid, baseline),
  ), 'Recommendations');
  loadColumn(hybrid, true, rid);
  loadColumn(baseline, false, rid);
}
