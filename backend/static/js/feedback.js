// Feedback on recommendation lists (POST /events): a click when a recommended movie's link is
// followed, a detail view when the movie page opened from it has loaded. Each recommended
// item carries the `request_id` of the list it was shown in.
import { api } from './api.js';

const PENDING_KEY = 'movierec.pendingDetailView';

function sendEvent(requestId, movieId, kind) {
  // Feedback must never disturb the page: a refused event (e.g. a 409 duplicate) is dropped.
  return api('/events', {
    method: 'POST', json: { request_id: requestId, movie_id: movieId, kind },
  }).catch(() => {});
}

export function recordClick(movie) {
  if (!movie.request_id) return;
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ requestId: movie.request_id, movieId: movie.id }));
  sendEvent(movie.request_id, movie.id, 'click');
}

export function recordDetailView(movieId) {
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
  } catch {
    /* a damaged entry is dropped below */
  }
  sessionStorage.removeItem(PENDING_KEY);
  if (pending && pending.movieId === Number(movieId)) {
    sendEvent(pending.requestId, pending.movieId, 'detail_view');
  }
}
