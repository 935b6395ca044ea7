// Any hash the router does not know.
import { el } from '../dom.js';
import { setView } from '../page.js';

export function viewNotFound() {
  setView('notfound', el(
    'section', {},
    el('h1', {}, 'Page not found'),
    el('p', {}, el('a', { href: '#/movies' }, 'Go to the catalogue')),
  ), 'Not found');
}
