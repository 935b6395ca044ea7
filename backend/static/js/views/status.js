// #/status: what the content index holds and which signals the recommendations actually use.
import { api } from '../api.js';
import { el, errorBlock, fmtDate, fmtPercent, loadingBlock, setChildren } from '../dom.js';
import { showError } from '../messages.js';
import { isCurrent, setView, state } from '../page.js';

const row = (label, value, id = null) => [el('dt', {}, label), el('dd', { id }, value)];
const dims = (model, dim) => (model ? `${model}${dim ? ` (${dim} dimensions)` : ''}` : '–');

// Posters count only with pretrained ResNet50 weights: random weights would add noise.
function posterUse(s) {
  if (s.image_used_for_scoring) {
    return `Used: ${s.posters_embedded ?? 0} posters embedded with pretrained weights`;
  }
  const why = s.image_status || 'no pretrained ResNet50 weights are configured';
  return `Not used — ${why}`;
}

function statusBody(s) {
  const activity = [s.building && 'building the index', s.training && 'training the model']
    .filter(Boolean).join(' and ');
  const usesPosters = Boolean(s.image_used_for_scoring);
  return [
    el('p', { class: 'note', id: 'status-summary' },
      usesPosters
        ? 'Recommendations use ratings, text embeddings of each movie’s overview and poster '
          + 'embeddings.'
        : 'Recommendations use ratings and text embeddings of each movie’s overview. Posters are '
          + 'shown but not used for scoring, because no pretrained image weights are configured.'),
    el('dl', { class: 'status-grid', id: 'status-list' },
      row('Text embeddings', `Used: ${dims(s.text_model, s.text_dim)}`, 'status-text'),
      row('Coverage', fmtPercent(s.coverage)),
      row('Movies in index', `${s.movies_in_index ?? 0}${
        s.total_movies !== undefined ? ` of ${s.total_movies}` : ''}`),
      row('Poster embeddings', posterUse(s), 'status-posters'),
      row('Image model', dims(s.image_model, s.image_dim)),
      row('Poster coverage', `${fmtPercent(s.poster_coverage)}${
        usesPosters ? '' : ' embedded, not used for scoring'}`),
      row('Device', s.device || '–'),
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
  ];
}

export async function viewStatus({ rid }) {
  const body = el('div', { id: 'status-body', 'aria-live': 'polite' }, loadingBlock());
  const refresh = el('button', { class: 'btn btn-secondary btn-small', type: 'button' }, 'Refresh');
  const load = async (token) => {
    body.setAttribute('aria-busy', 'true');
    try {
      const s = await api('/embeddings/status');
      if (!isCurrent(token)) return;
      setChildren(body, statusBody(s));
    } catch (err) {
      if (!isCurrent(token)) return;
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
    el('p', { class: 'lead' },
      'The content index behind “More like this” and the hybrid recommendations.'),
    body,
  ), 'Index status');
  await load(rid);
}
