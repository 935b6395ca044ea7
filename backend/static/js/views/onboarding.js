// #/welcome: the first-run page. Well-known, varied movies to rate quickly (stars or "haven't
// seen"), then straight to recommendations. Skippable, and reachable again from "My ratings".
import { api, saveRating } from '../api.js';
import { el, errorBlock, loadingBlock, plural, starsLabel } from '../dom.js';
import { posterImg } from '../components.js';
import { showError } from '../messages.js';
import { isCurrent, setView } from '../page.js';
import { starInput } from '../stars.js';

const BATCH = 30;
const ENOUGH = 5; // ratings after which the recommendations become personal
const UNSEEN_KEY = 'movierec.unseen';

// "Haven't seen" choices live for the browser tab, so a revisit offers other movies.
function unseenIds() {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(UNSEEN_KEY) || '[]'));
  } catch {
    return new Set();
  }
}

function rememberUnseen(ids) {
  sessionStorage.setItem(UNSEEN_KEY, JSON.stringify([...ids]));
}

function onboardingCard(movie, { onRated, onUnseen }) {
  const status = el('p', { class: 'onboard-status', 'aria-live': 'polite' });
  const card = el('li', { class: 'onboard-card', dataset: { movieId: movie.id } });
  const stars = starInput({
    label: `Your rating for ${movie.title}`,
    onPick: async (value) => {
      stars.setBusy(true);
      try {
        const saved = await saveRating(movie.id, value);
        stars.set(Number(saved.rating));
        status.textContent = `Rated ${starsLabel(Number(saved.rating))}`;
        card.dataset.state = 'rated';
        unseen.hidden = true;
        onRated(movie.id);
      } catch (err) {
        if (err.status !== 401) showError(`Could not save your rating: ${err.message}`);
      } finally {
        stars.setBusy(false);
      }
    },
  });
  const unseen = el('button', { class: 'btn btn-small btn-ghost onboard-unseen', type: 'button' },
    'Haven’t seen');
  unseen.addEventListener('click', () => {
    card.dataset.state = 'unseen';
    status.textContent = 'Skipped: not seen';
    unseen.hidden = true;
    onUnseen(movie.id);
  });
  const genres = (movie.genres || []).slice(0, 2).join(', ');
  card.append(
    posterImg(movie, 'poster onboard-poster'),
    el('div', { class: 'onboard-body' },
      el('a', { class: 'onboard-title', href: `#/movies/${movie.id}` }, movie.title),
      el('p', { class: 'onboard-meta' }, [movie.year, genres].filter(Boolean).join(' · ')),
      stars.node,
      el('div', { class: 'onboard-row' }, status, unseen)),
  );
  stars.node.classList.add('stars-compact');
  return card;
}

export async function viewOnboarding({ rid }) {
  const unseen = unseenIds();
  const shown = new Set();
  let rated = 0;

  const progress = el('p', { id: 'onboarding-progress', class: 'onboard-progress',
    'aria-live': 'polite' });
  const done = el('a', { id: 'onboarding-done', class: 'btn btn-primary',
    href: '#/recommendations' }, 'See my recommendations');
  const grid = el('ul', { id: 'onboarding-grid', class: 'onboard-grid' });
  const more = el('button', { id: 'onboarding-more', class: 'btn btn-secondary', type: 'button' },
    'Show more movies');
  const footer = el('div', { class: 'onboard-more' }, loadingBlock('Choosing movies…'));

  function updateProgress() {
    progress.textContent = rated >= ENOUGH
      ? `${plural(rated, 'movie')} rated — enough for personal recommendations.`
      : `${plural(rated, 'movie')} rated. Rate at least ${ENOUGH} for personal recommendations.`;
  }

  const handlers = {
    onRated: () => {
      rated += 1;
      updateProgress();
    },
    onUnseen: (id) => {
      unseen.add(id);
      rememberUnseen(unseen);
    },
  };

  async function loadBatch() {
    more.disabled = true;
    const exclude = [...new Set([...shown, ...unseen])].slice(-500);
    const query = new URLSearchParams({ limit: String(BATCH) });
    for (const id of exclude) query.append('exclude', String(id));
    try {
      const movies = await api(`/movies/onboarding?${query}`);
      if (!isCurrent(rid)) return;
      for (const movie of movies) shown.add(movie.id);
      grid.append(...movies.map((m) => onboardingCard(m, handlers)));
      footer.replaceChildren(movies.length === BATCH ? more
        : el('p', { class: 'hint' }, 'That is every movie we have to suggest here; ',
          el('a', { href: '#/movies' }, 'search the catalogue'), ' for more.'));
    } catch (err) {
      if (!isCurrent(rid)) return;
      footer.replaceChildren(errorBlock(`Could not load movies to rate: ${err.message}`));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', loadBatch);

  updateProgress();
  setView('welcome', el(
    'section', { class: 'onboarding', 'aria-labelledby': 'onboarding-title' },
    el('h1', { id: 'onboarding-title' }, 'Rate movies you know'),
    el('p', { class: 'lead' },
      'Well-known movies from many genres and decades. Rate the ones you have seen; a few ',
      'ratings are enough to make your recommendations personal. Skip the rest.'),
    el('div', { class: 'onboard-bar' }, progress,
      el('div', { class: 'onboard-actions' }, done,
        el('a', { id: 'onboarding-skip', class: 'btn btn-ghost', href: '#/movies' },
          'Skip for now'))),
    grid,
    footer,
  ), 'Rate movies you know');
  await loadBatch();
}
