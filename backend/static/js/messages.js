// The page-level alert and notice (aria-live regions that are always in the document).
import { el } from './dom.js';

const $alert = document.getElementById('alert');
const $notice = document.getElementById('notice');

export function clearMessages() {
  clearTimeout(noticeTimer);
  $alert.replaceChildren();
  $notice.replaceChildren();
}

const NOTICE_SECONDS = 8;
let noticeTimer = null;

export function showError(text) {
  clearTimeout(noticeTimer);
  $notice.replaceChildren();
  $alert.replaceChildren(el('p', {}, text));
}

export function showNotice(text) {
  $alert.replaceChildren();
  $notice.replaceChildren(el('p', {}, text));
  // The bar stays in view while scrolling (sticky), so a confirmation fades after a while.
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => $notice.replaceChildren(), NOTICE_SECONDS * 1000);
}
