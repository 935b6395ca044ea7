// What is on screen: the <main> element, the current render and view, and shared page state.

export const $main = document.getElementById('main');

export const state = {
  renderId: 0, // bumped on every navigation; async work for an older render is dropped
  view: null, // key of the view currently on screen, e.g. "movies" or "movie:12"
  lastCatalogueHash: '#/movies',
  flash: null, // a message to show on the next page, e.g. after signing out
};

export const isCurrent = (rid) => rid === state.renderId;

export function setView(key, node, title) {
  state.view = key;
  $main.replaceChildren(node);
  document.title = title ? `${title} · MovieRec` : 'MovieRec';
  window.scrollTo(0, 0);
}

export function focusHeading() {
  const heading = $main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}
