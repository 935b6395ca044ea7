// #/experiments (admins): experiments with start/stop, a form for a new one, and
// #/experiments?name=NAME: the report with 95% intervals drawn as inline SVG charts.
import { api, query } from '../api.js';
import { intervalChart } from '../charts.js';
import { el, errorBlock, fmtDate, fmtPercent, loadingBlock, setChildren } from '../dom.js';
import { showError, showNotice } from '../messages.js';
import { isCurrent, setView } from '../page.js';

const METHODS = ['hybrid', 'hybrid_no_embeddings', 'svd', 'content', 'popularity'];
const METRICS = [
  { key: 'ctr', label: 'Click-through (lists with a click)', percent: true },
  { key: 'conversion', label: 'Conversion (lists followed by a rating of 4+)', percent: true },
  { key: 'coverage', label: 'Catalogue coverage', percent: true },
  { key: 'novelty', label: 'Mean list novelty (bits)', percent: false },
];

const fmtMetric = (percent) => (v) => (percent ? fmtPercent(v) : Number(v).toFixed(2));
const fmtP = (p) => {
  if (p === null || p === undefined) return 'p: –';
  return p < 0.001 ? 'p < 0.001' : `p = ${p.toFixed(3)}`;
};

function interval(estimate, percent) {
  const f = fmtMetric(percent);
  if (!estimate || estimate.value === null) return '–';
  if (estimate.low === null) return f(estimate.value);
  return `${f(estimate.value)} [${f(estimate.low)}, ${f(estimate.high)}]`;
}

async function act(name, action, rid) {
  try {
    await api(`/admin/experiments/${encodeURIComponent(name)}/${action}`, { method: 'POST' });
    showNotice(`Experiment ${name} ${action === 'start' ? 'started' : 'stopped'}.`);
  } catch (err) {
    showError(err.message);
  }
  if (isCurrent(rid)) viewExperiments({ rid, params: new URLSearchParams() });
}

function experimentRow(exp, rid) {
  const buttons = [];
  if (exp.status === 'draft') {
    buttons.push(el('button', { class: 'btn btn-small', type: 'button', onclick: () => act(exp.name, 'start', rid) }, 'Start'));
  }
  if (exp.status === 'running') {
    buttons.push(el('button', { class: 'btn btn-small btn-secondary', type: 'button', onclick: () => act(exp.name, 'stop', rid) }, 'Stop'));
  }
  return el('tr', { dataset: { experiment: exp.name } },
    el('td', {}, el('a', { href: `#/experiments${query({ name: exp.name })}` }, exp.name)),
    el('td', {}, exp.status),
    el('td', {}, exp.variants.map((v) => `${v.name} (${v.method}, share ${v.share})`).join('; ')),
    el('td', {}, fmtDate(exp.started_at, '–')),
    el('td', {}, buttons));
}

function variantFields(k, method) {
  return el('fieldset', { class: 'variant-fields' },
    el('legend', {}, `Variant ${k + 1}${k === 0 ? ' (control)' : ''}`),
    el('label', {}, 'Name ', el('input', { name: `name${k}`, required: true, pattern: '[a-z0-9][a-z0-9_\\-]{0,63}', value: k === 0 ? 'hybrid' : 'baseline' })),
    el('label', {}, 'Recommender ', el('select', { name: `method${k}` },
      METHODS.map((m) => el('option', { value: m, selected: m === method }, m)))),
    el('label', {}, 'Share ', el('input', { name: `share${k}`, type: 'number', min: '0.01', step: '0.01', value: '1', required: true })));
}

function createForm(rid) {
  const form = el('form', { class: 'experiment-form', id: 'experiment-form' },
    el('h2', {}, 'New experiment'),
    el('label', {}, 'Name ', el('input', { name: 'name', required: true, pattern: '[a-z0-9][a-z0-9_\\-]{0,63}', placeholder: 'hybrid-vs-baseline' })),
    el('label', {}, 'Description ', el('input', { name: 'description', maxlength: 2000 })),
    variantFields(0, 'hybrid'), variantFields(1, 'popularity'),
    el('button', { class: 'btn', type: 'submit' }, 'Create (as a draft)'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const variants = [0, 1].map((k) => ({
      name: data.get(`name${k}`), method: data.get(`method${k}`), share: Number(data.get(`share${k}`)),
    }));
    try {
      await api('/admin/experiments', {
        method: 'POST', json: { name: data.get('name'), description: data.get('description'), variants },
      });
      showNotice(`Experiment ${data.get('name')} created: start it when ready.`);
      if (isCurrent(rid)) viewExperiments({ rid, params: new URLSearchParams() });
    } catch (err) {
      showError(err.message);
    }
  });
  return form;
}

async function listPage(rid) {
  const body = el('div', {}, loadingBlock('Loading experiments…'));
  setView('experiments', el('section', { class: 'experiments', 'aria-labelledby': 'exp-title' },
    el('h1', { id: 'exp-title' }, 'Experiments'),
    el('p', { class: 'lead' }, 'Users are split between variants by a hash of the experiment and '
      + 'their id; each list they see, their clicks and later ratings are recorded per variant.'),
    body), 'Experiments');
  try {
    const experiments = await api('/admin/experiments');
    if (!isCurrent(rid)) return;
    setChildren(body,
      experiments.length
        ? el('table', { class: 'table', id: 'experiments-table' },
          el('thead', {}, el('tr', {}, ['Name', 'Status', 'Variants', 'Started', ''].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, experiments.map((exp) => experimentRow(exp, rid))))
        : el('p', { class: 'empty' }, 'No experiments yet.'),
      createForm(rid));
  } catch (err) {
    if (isCurrent(rid)) body.replaceChildren(errorBlock(`Could not load experiments: ${err.message}`));
  }
}

function verdict(report) {
  const winner = report.winners[report.primary_metric];
  const comparison = report.comparisons[0];
  const result = comparison && comparison.metrics[report.primary_metric];
  if (winner) {
    return el('p', { class: 'verdict verdict-win', id: 'experiment-verdict' },
      `Winner on click-through: ${winner} (${fmtP(result && result.p_value)}).`);
  }
  return el('p', { class: 'verdict', id: 'experiment-verdict' },
    'No significant difference in click-through (yet).');
}

function reportBody(report) {
  const table = el('table', { class: 'table', id: 'report-table' },
    el('thead', {}, el('tr', {}, ['Variant', 'Recommender', 'Users', 'Lists', 'Clicks', 'Conversions',
      ...METRICS.map((m) => m.label)].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, report.variants.map((v) => el('tr', { dataset: { variant: v.name } },
      el('th', { scope: 'row' }, v.name), el('td', {}, v.method), el('td', {}, v.users),
      el('td', {}, v.impressions), el('td', {}, v.clicks), el('td', {}, v.conversions),
      METRICS.map((m) => el('td', {}, interval(v.metrics[m.key], m.percent)))))));
  const charts = METRICS.map((m) => {
    const rows = report.variants.map((v) => ({ label: v.name, ...v.metrics[m.key] }));
    const diffs = report.comparisons.map((c) => ({
      label: `${c.variant} − ${c.control}`,
      value: c.metrics[m.key].difference, low: c.metrics[m.key].low, high: c.metrics[m.key].high,
      highlight: c.metrics[m.key].significant,
    }));
    const pValues = report.comparisons.map((c) => `${c.variant}: ${fmtP(c.metrics[m.key].p_value)}`);
    return el('figure', { class: 'chart-figure', dataset: { metric: m.key } },
      el('figcaption', {}, `${m.label}, 95% intervals`),
      intervalChart(rows, { title: `${m.label} by variant`, format: fmtMetric(m.percent) }),
      intervalChart(diffs, { title: `${m.label}: difference from the control`, format: fmtMetric(m.percent), zero: true }),
      el('p', { class: 'hint' }, `Two-sided test of no difference — ${pValues.join('; ')}`));
  });
  const srm = report.sample_ratio_p_value;
  return [
    verdict(report),
    srm !== null && srm < 0.001
      ? el('p', { class: 'inline-error' }, `Users did not split as configured (${fmtP(srm)}): check assignment and logging before trusting these figures.`)
      : null,
    table,
    el('div', { class: 'charts' }, charts),
    el('p', { class: 'hint' }, `Conversion counts ratings of ${report.conversion_rating}+ within ${report.attribution_window_hours} h `
      + 'of the list. Intervals treat the user as the unit (delta method; bootstrap for coverage).'),
  ];
}

async function reportPage(name, rid) {
  const body = el('div', { id: 'report' }, loadingBlock('Computing the report…'));
  setView(`experiment:${name}`, el('section', { class: 'experiment-report', 'aria-labelledby': 'report-title' },
    el('p', {}, el('a', { href: '#/experiments' }, '← All experiments')),
    el('h1', { id: 'report-title' }, `Experiment ${name}`), body), `Experiment ${name}`);
  try {
    const report = await api(`/admin/experiments/${encodeURIComponent(name)}/report`);
    if (!isCurrent(rid)) return;
    setChildren(body, el('p', { class: 'hint' }, `Status: ${report.status}; control: ${report.control}`),
      reportBody(report));
  } catch (err) {
    if (isCurrent(rid)) body.replaceChildren(errorBlock(`Could not load the report: ${err.message}`));
  }
}

export function viewExperiments({ rid, params }) {
  const name = params.get('name');
  return name ? reportPage(name, rid) : listPage(rid);
}
