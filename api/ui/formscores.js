// Evaluation form scores on the dashboard: the final score per call averaged per day, by
// agent and by team (GET /forms/{id}/scores), as lines over time and an agent table.
import { get } from './api.js';
import { lineChart } from './chart.js';
import { h } from './dom.js';
import './forms-i18n.js';
import { getLang, t } from './i18n.js';

const TOP_SERIES = 8;

function series(points) {
  const days = [...new Set(points.map((p) => p.day))].sort();
  const calls = {};
  for (const p of points) calls[p.key ?? '—'] = (calls[p.key ?? '—'] || 0) + p.calls;
  const keys = Object.keys(calls).sort((a, b) => calls[b] - calls[a] || a.localeCompare(b)).slice(0, TOP_SERIES);
  return { days, lines: keys.map((key) => ({ name: key, points: days.map((day) => {
    const p = points.find((x) => x.day === day && (x.key ?? '—') === key);
    return { label: day, value: p ? p.avg_score : NaN };
  }) })) };
}

function totals(points) {
  const out = {};
  for (const p of points) {
    const row = out[p.key ?? '—'] || (out[p.key ?? '—'] = { key: p.key ?? '—', calls: 0, sum: 0, reviewed: 0 });
    row.calls += p.calls;
    row.sum += p.avg_score * p.calls;
    row.reviewed += p.reviewed;
  }
  return Object.values(out).map((r) => ({ ...r, avg: r.sum / r.calls }))
    .sort((a, b) => a.avg - b.avg || a.key.localeCompare(b.key));
}

function box(id, titleKey, content) {
  return h('figure', { class: 'panel chart-box', id },
    h('figcaption', {}, t(titleKey)), content || h('p', { class: 'muted' }, t('dash.nodata')));
}

// Reviewers' agreement across the calls two or more of them scored, least agreed first.
function calibrationSummary(cal, form) {
  const box = h('div', { id: 'form-calibration' }, h('h3', {}, t('scores.calibration')));
  if (!cal.calls.length) {
    box.append(h('p', { class: 'muted' }, t('scores.calibration.none')));
    return box;
  }
  const titles = Object.fromEntries(form.sections.flatMap((s) => s.questions)
    .map((q) => [q.id, q.text[getLang()] || q.text.en]));
  box.append(h('p', { id: 'form-calibration-agreement' }, t('scores.calibration.overall', {
    pct: `${Math.round((cal.agreement || 0) * 100)}%`, n: cal.calls.length })),
  h('table', { 'aria-label': t('scores.calibration') },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('form.calibration.question')),
      h('th', { scope: 'col', class: 'num' }, t('scores.col.calls')),
      h('th', { scope: 'col', class: 'num' }, t('scores.calibration.rate')))),
    h('tbody', {}, cal.questions.slice(0, 5).map((q) => h('tr', { 'data-q': q.question_id },
      h('th', { scope: 'row', title: q.question_id }, titles[q.question_id] || q.question_id),
      h('td', { class: 'num' }, q.calls), h('td', { class: 'num' }, `${Math.round(q.rate * 100)}%`))))));
  return box;
}

// params: the dashboard's API filters (date_from, date_to, team)
export function formScoresPanel(params) {
  const section = h('section', { class: 'panel', id: 'form-scores', 'aria-labelledby': 'form-scores-title' },
    h('h2', { id: 'form-scores-title' }, t('scores.title')), h('p', { class: 'muted' }, t('loading')));
  const filters = Object.fromEntries(['date_from', 'date_to', 'team']
    .filter((k) => params[k]).map((k) => [k, params[k]]));
  (async () => {
    try {
      const forms = await get('/forms');
      if (!forms.items.length) { section.lastChild.textContent = t('dash.nodata'); return; }
      const formId = forms.items[0].id;
      const url = `/forms/${encodeURIComponent(formId)}/scores`;
      const base = `/forms/${encodeURIComponent(formId)}`;
      const [agents, teams, cal, form] = await Promise.all([get(url, { ...filters, by: 'agent' }),
        get(url, { ...filters, by: 'team' }),
        get(`${base}/calibration`, { date_from: filters.date_from, date_to: filters.date_to }), get(base)]);
      const a = series(agents.points);
      const tm = series(teams.points);
      const rows = totals(agents.points);
      section.replaceChildren(h('h2', { id: 'form-scores-title' }, t('scores.title')),
        h('div', { class: 'dash-grid' },
          box('chart-form-agents', 'scores.agents', a.days.length
            ? lineChart({ title: t('scores.agents'), labels: a.days, series: a.lines, min: 0, max: 100 }) : null),
          box('chart-form-teams', 'scores.teams', tm.days.length
            ? lineChart({ title: t('scores.teams'), labels: tm.days, series: tm.lines, min: 0, max: 100 }) : null)),
        rows.length ? h('table', { id: 'form-score-table', 'aria-label': t('scores.table') },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, t('scores.col.who')),
            h('th', { scope: 'col', class: 'num' }, t('scores.col.calls')),
            h('th', { scope: 'col', class: 'num' }, t('scores.col.avg')),
            h('th', { scope: 'col', class: 'num' }, t('scores.col.reviewed')))),
          h('tbody', {}, rows.map((r) => h('tr', { 'data-agent': r.key },
            h('th', { scope: 'row' }, r.key), h('td', { class: 'num' }, r.calls),
            h('td', { class: 'num', 'data-score': r.avg.toFixed(1) }, r.avg.toFixed(1)),
            h('td', { class: 'num' }, r.reviewed))))) : h('p', { class: 'muted' }, t('dash.nodata')),
        calibrationSummary(cal, form));
    } catch (err) {
      section.replaceChildren(h('h2', { id: 'form-scores-title' }, t('scores.title')),
        h('p', { class: 'error', role: 'alert' }, t('error', { message: err.message })));
    }
  })();
  return section;
}
