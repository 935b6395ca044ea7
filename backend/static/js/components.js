// Pieces shared by several views: posters, movie cards, the recommender's number.
import { el, fmtNumber } from './dom.js';

export function posterImg(movie, className = 'poster') {
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

export function voteText(movie) {
  if (!movie.vote_count) return 'No votes yet';
  return `★ ${fmtNumber(movie.vote_average)}/10`;
}

/**
 * What the recommender expects for this user, in user terms: predicted stars or a match %.
 * The raw blend score means nothing to a person and is never shown.
 */
export function expectationText(movie) {
  const stars = Number(movie.predicted_rating);
  if (movie.predicted_rating !== null && movie.predicted_rating !== undefined
    && Number.isFinite(stars)) {
    return `You'd rate it about ${stars.toFixed(1)}★`;
  }
  const match = Number(movie.match);
  if (movie.match !== null && movie.match !== undefined && Number.isFinite(match)) {
    return `${Math.round(match <= 1 ? match * 100 : match)}% match`;
  }
  return null;
}

export function movieCard(movie, extra = null) {
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
