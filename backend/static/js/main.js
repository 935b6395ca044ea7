// MovieRec single-page frontend: ES modules, hash routing, no build step, no dependencies.
// To add a page: write js/views/NAME.js exporting a view, register it below, and (optionally)
// add a nav link with data-route="NAME" in index.html.
import { api } from './api.js';
import { state } from './page.js';
import { bindSkipLink, registerRoute, startRouter, updateChrome } from './router.js';
import { clearSession, currentUser, getToken, setSession } from './session.js';
import { viewCatalogue } from './views/catalogue.js';
import { viewExperiments } from './views/experiments.js';
import { viewLogin } from './views/login.js';
import { viewMovie } from './views/movie.js';
import { viewMyRatings } from './views/my-ratings.js';
import { viewNotFound } from './views/notfound.js';
import { viewOnboarding } from './views/onboarding.js';
import { viewRecommendations } from './views/recommendations.js';
import { viewStatus } from './views/status.js';

registerRoute('login', viewLogin, { public: true });
registerRoute('movies', viewMovieOrCatalogue, { withId: true });
registerRoute('recommendations', viewRecommendations);
registerRoute('my-ratings', viewMyRatings);
registerRoute('welcome', viewOnboarding, { nav: 'my-ratings' });
registerRoute('status', viewStatus);
registerRoute('experiments', viewExperiments);
registerRoute('notfound', viewNotFound, { public: true });

function viewMovieOrCatalogue(ctx) {
  return ctx.id === undefined ? viewCatalogue(ctx) : viewMovie(ctx);
}

document.getElementById('logout').addEventListener('click', () => {
  clearSession();
  state.flash = { kind: 'notice', text: 'You have signed out.' };
  updateChrome();
  location.hash = '#/login';
});
bindSkipLink();

// Refresh the signed-in user's name (and validate a token left from earlier in this tab).
if (getToken() && !currentUser()) {
  try {
    setSession(getToken(), await api('/auth/me'));
  } catch {
    /* a 401 is handled by the router; anything else is shown by the page itself */
  }
}
startRouter();
