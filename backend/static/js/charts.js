// Small inline SVG charts (no library, no inline styles: colours are classes in styles.css).

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

const finite = (x) => typeof x === 'number' && Number.isFinite(x);

/**
 * Horizontal point-and-interval chart, one row per entry {label, value, low, high, highlight}.
 * `zero` draws a reference line at 0 (for differences). `format` formats axis and values.
 */
export function intervalChart(rows, { title, format = (x) => x.toFixed(3), zero = false } = {}) {
  const width = 560;
  const rowHeight = 34;
  const left = 170;
  const right = 90;
  const top = 10;
  const height = top + rows.length * rowHeight + 28;
  const values = rows.flatMap((r) => [r.low, r.high, r.value]).filter(finite);
  if (zero) values.push(0);
  let min = values.length ? Math.min(...values) : 0;
  let max = values.length ? Math.max(...values) : 1;
  if (min === max) {
    min -= 0.5 * (Math.abs(min) || 1);
    max += 0.5 * (Math.abs(max) || 1);
  }
  const pad = (max - min) * 0.05;
  min -= pad;
  max += pad;
  const x = (v) => left + ((v - min) / (max - min)) * (width - left - right);
  const chart = svg('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title,
  }, svg('title', {}, title));
  const axisY = top + rows.length * rowHeight;
  chart.append(
    svg('line', { class: 'chart-axis', x1: left, x2: width - right, y1: axisY, y2: axisY }),
    svg('text', { class: 'chart-tick', x: left, y: axisY + 16, 'text-anchor': 'start' }, format(min)),
    svg('text', { class: 'chart-tick', x: width - right, y: axisY + 16, 'text-anchor': 'end' },
      format(max)),
  );
  if (zero) {
    chart.append(svg('line', { class: 'chart-zero', x1: x(0), x2: x(0), y1: top - 4, y2: axisY }));
  }
  rows.forEach((row, k) => {
    const y = top + k * rowHeight + rowHeight / 2;
    const kind = row.highlight ? 'chart-mark chart-mark-strong' : 'chart-mark';
    chart.append(svg('text', { class: 'chart-label', x: left - 8, y: y + 4, 'text-anchor': 'end' },
      row.label));
    if (finite(row.low) && finite(row.high)) {
      chart.append(
        svg('line', { class: `${kind} chart-interval`, x1: x(row.low), x2: x(row.high), y1: y, y2: y }),
        svg('line', { class: kind, x1: x(row.low), x2: x(row.low), y1: y - 6, y2: y + 6 }),
        svg('line', { class: kind, x1: x(row.high), x2: x(row.high), y1: y - 6, y2: y + 6 }),
      );
    }
    if (finite(row.value)) {
      chart.append(svg('circle', { class: kind, cx: x(row.value), cy: y, r: 5 }));
      chart.append(svg('text', { class: 'chart-value', x: width - right + 8, y: y + 4 },
        format(row.value)));
    }
  });
  return chart;
}
