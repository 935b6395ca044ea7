// DOM building and formatting helpers shared by every view.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// replaceChildren() would turn null into the text "null": skip empty slots instead.
export function setChildren(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined
    && c !== false));
}

export function fmtNumber(value, digits = 1) {
  const n = Number(value);
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}

export function fmtPercent(value) {
  if (value === null || value === undefined || value === '') return '–';
  if (typeof value === 'string') return value;
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return `${(n <= 1 ? n * 100 : n).toFixed(1).replace(/\.0$/, '')}%`;
}

export function fmtDate(value, empty = 'Not built yet') {
  if (!value) return empty;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString();
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function starsLabel(value) {
  return `${value} ${Number(value) === 1 ? 'star' : 'stars'}`;
}

export function loadingBlock(text = 'Loading…') {
  return el('p', { class: 'loading', role: 'status' }, text);
}

export function errorBlock(text) {
  return el('p', { class: 'inline-error' }, text);
}
