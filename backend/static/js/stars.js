// A half-star rating input (0.5–5): click, hover preview, arrow keys with a roving tab stop.
import { el, starsLabel } from './dom.js';

const VALUES = Array.from({ length: 10 }, (_, i) => (i + 1) / 2);

/**
 * Returns { node, set(value), setBusy(busy), focus() }. `onPick(value)` is called when the user
 * chooses a value; the caller saves it and calls set() with what was stored.
 */
export function starInput({ value = null, onPick, id = null, labelledBy = null,
  describedBy = null, label = null }) {
  let current = value;
  const group = el('div', {
    class: 'stars', role: 'group', id,
    'aria-labelledby': labelledBy, 'aria-describedby': describedBy, 'aria-label': label,
  });
  const buttons = VALUES.map((v) => el('button', {
    type: 'button',
    class: `star ${v % 1 ? 'star-left' : 'star-right'}`,
    'aria-label': starsLabel(v),
    title: starsLabel(v),
    dataset: { ratingValue: String(v) },
  }, el('span', { 'aria-hidden': 'true' }, '★')));
  group.append(...buttons);

  function paint(preview = null) {
    const shown = preview ?? current;
    for (const button of buttons) {
      const v = Number(button.dataset.ratingValue);
      button.classList.toggle('is-on', shown !== null && v <= shown);
      button.classList.toggle('is-preview', preview !== null);
      button.setAttribute('aria-pressed', String(current !== null && v === current));
    }
  }

  function sync() {
    paint();
    // Roving tab stop: the selected value (or the first) is the one reachable with Tab.
    const focusValue = current ?? 0.5;
    for (const button of buttons) {
      button.tabIndex = Number(button.dataset.ratingValue) === focusValue ? 0 : -1;
    }
  }

  group.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-rating-value]');
    if (button) onPick(Number(button.dataset.ratingValue));
  });
  group.addEventListener('mouseover', (event) => {
    const button = event.target.closest('button[data-rating-value]');
    if (button) paint(Number(button.dataset.ratingValue));
  });
  group.addEventListener('mouseleave', () => paint());
  group.addEventListener('keydown', (event) => {
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    let next = null;
    if (event.key === 'ArrowRight' || event.key === 'ArrowUp') next = Math.min(9, index + 1);
    else if (event.key === 'ArrowLeft' || event.key === 'ArrowDown') next = Math.max(0, index - 1);
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = 9;
    if (next === null) return;
    event.preventDefault();
    for (const button of buttons) button.tabIndex = -1;
    buttons[next].tabIndex = 0;
    buttons[next].focus();
    paint(Number(buttons[next].dataset.ratingValue));
  });
  group.addEventListener('focusout', (event) => {
    if (!group.contains(event.relatedTarget)) sync();
  });

  sync();
  return {
    node: group,
    set(newValue) {
      current = newValue;
      sync();
    },
    setBusy(busy) {
      group.setAttribute('aria-busy', String(busy));
      for (const button of buttons) button.disabled = busy;
    },
    // Put focus back on the chosen star (or the first) unless it is already inside the group.
    focus() {
      if (group.contains(document.activeElement)) return;
      const target = buttons.find((b) => Number(b.dataset.ratingValue) === (current ?? 0.5));
      (target || buttons[0]).focus();
    },
  };
}
