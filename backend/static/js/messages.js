// The page-level alert and notice (aria-live regions that are always in the document).
import { el } from './dom.js';

const $alert = document.getElementById('alert');
const $notice = document.getElementById('notice');

export function clearMessages() {
  $alert.replaceChildren();
  $notice.replaceChildren();
}

// Messages sit above the page: bring them into view so a phone user sees them too.
function reveal(node) {
  node.scrollIntoView({ block: 'nearest' });
}

export function showError(text) {
  $notice.replaceChildren();
  $alert.replaceChildren(el('p', {}, text));
  reveal($alert);
}

export function showNotice(text) {
  $alert.replaceChildren();
  $notice.replaceChildren(el('p', {}, text));
  reveal($notice);
}
