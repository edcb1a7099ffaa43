// Manager dashboard: intents over time, violations by rule, team and agent, customer
// sentiment trend, agent scorecards. Data from GET /trends and GET /agents; charts are
// drawn locally (chart.js).
import { get } from './api.js';
import { barChart, lineChart } from './chart.js';
import { intentTitle, loadCatalogue, ruleTitle } from './catalogue.js';
import { h } from './dom.js';
import { formScoresPanel } from './formscores.js';
import { t } from './i18n.js';
import { apiParams } from './search.js';

const TOP_SERIES = 6;

function chartBox(id, titleKey, content) {
  return h('figure', { class: 'panel chart-box', id },
    h('figcaption', {}, t(titleKey)),
    content || h('p', { class: 'muted' }, t('dash.nodata')));
}

function sumBy(rows, key) {
  const out = {};
  for (const r of rows) {
    if (r[key] === null || r[key] === undefined || r.value === null) continue;
    out[r[key]] = (out[r[key]] || 0) + r.count;
  }
  return Object.entries(out).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([labelText, value]) => ({ label: labelText, value }));
}

export function render(main, ctx, params) {
  const filters = { date_from: params.get('date_from') || '', date_to: params.get('date_to') || '',
    team: params.get('team') || '', interval: params.get('interval') || 'week' };
  const from = h('input', { type: 'date', id: 'd-from', value: filters.date_from });
  const to = h('input', { type: 'date', id: 'd-to', value: filters.date_to });
  const team = h('input', { type: 'text', id: 'd-team', value: filters.team, autocomplete: 'off' });
  const interval = h('select', { id: 'd-interval' },
    ['day', 'week', 'month'].map((v) => h('option', { value: v, selected: v === filters.interval },
      t(`dash.interval.${v}`))));
  const body = h('div', { id: 'dashboard-body' }, h('p', { class: 'muted' }, t('loading')));
  let destroyed = false;

  const form = h('form', { class: 'panel search', 'aria-label': t('dash.filters'), onsubmit: (event) => {
    event.preventDefault();
    const values = { date_from: from.value, date_to: to.value, team: team.value.trim(),
      interval: interval.value };
    const qs = new URLSearchParams(Object.entries(values).filter(([, v]) => v)).toString();
    history.replaceState(null, '', `#/dashboard?${qs}`);
    load(values);
  } },
  h('div', { class: 'row' },
    h('label', { class: 'field', for: 'd-from' }, h('span', {}, t('search.date_from')), from),
    h('label', { class: 'field', for: 'd-to' }, h('span', {}, t('search.date_to')), to),
    h('label', { class: 'field', for: 'd-team' }, h('span', {}, t('search.team')), team),
    h('label', { class: 'field', for: 'd-interval' }, h('span', {}, t('dash.interval')), interval),
    h('button', { type: 'submit', class: 'primary', id: 'd-apply' }, t('dash.apply'))));

  async function load(values) {
    const base = apiParams({ date_from: values.date_from, date_to: values.date_to, team: values.team });
    const iv = values.interval;
    body.replaceChildren(h('p', { class: 'muted' }, t('loading')));
    let intents; let violations; let byTeam; let agents;
    try {
      [intents, violations, byTeam, agents] = await Promise.all([
        get('/trends', { ...base, metric: 'intent', interval: iv }),
        get('/trends', { ...base, metric: 'violation', interval: iv }),
        get('/trends', { ...base, metric: 'violation', interval: iv, by: 'team' }),
        get('/agents', base),
        loadCatalogue(),
      ]);
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, t('error', { message: err.message })));
      return;
    }
    if (destroyed) return;
    const periods = intents.periods.map((p) => p.period);
    const labels = [...new Set(periods)].sort();
    const topIntents = Object.keys(intents.totals).slice(0, TOP_SERIES);
    const intentSeries = topIntents.map((name) => ({ name: intentTitle(name), points: labels.map((period) => ({
      label: period,
      value: intents.buckets.filter((b) => b.period === period && b.value === name)
        .reduce((n, b) => n + b.count, 0) })) }));
    const callsSeries = [{ name: t('dash.col.calls'), points: intents.periods.map((p) => ({ label: p.period, value: p.calls })) }];
    const sentimentSeries = [{ name: t('dash.sentiment'), points: intents.periods
      .filter((p) => p.avg_sentiment !== null).map((p) => ({ label: p.period, value: p.avg_sentiment })) }];
    // bars carry the id (data-label) and show the title
    const rules = Object.entries(violations.totals).map(([id, value]) => ({ label: id, title: ruleTitle(id), value }));
    const teams = sumBy(byTeam.buckets, 'team');
    const agentBars = agents.items.filter((a) => a.violations > 0)
      .map((a) => ({ label: a.agent_id, value: a.violations }));
    const has = labels.length > 0;

    const table = agents.items.length ? h('table', { id: 'scorecards' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, t('dash.col.agent')), h('th', { scope: 'col' }, t('dash.col.teams')),
        h('th', { scope: 'col', class: 'num' }, t('dash.col.calls')),
        h('th', { scope: 'col', class: 'num' }, t('dash.col.per100')),
        h('th', { scope: 'col', class: 'num' }, t('dash.col.critical')),
        h('th', { scope: 'col', class: 'num' }, t('dash.col.sentiment')),
        h('th', { scope: 'col', class: 'num' }, t('dash.col.negative')),
        h('th', { scope: 'col', class: 'num' }, t('dash.col.deadair')),
        h('th', { scope: 'col' }, t('dash.col.rules')))),
      h('tbody', {}, agents.items.map((a) => h('tr', { 'data-agent': a.agent_id },
        h('th', { scope: 'row' }, a.agent_id), h('td', {}, (a.teams || []).join(', ')),
        h('td', { class: 'num' }, a.calls), h('td', { class: 'num' }, a.violations_per_100),
        h('td', { class: 'num' }, a.critical_violations),
        h('td', { class: 'num' }, a.avg_customer_sentiment?.toFixed(2)),
        h('td', { class: 'num' }, `${Math.round((a.negative_share || 0) * 100)}%`),
        h('td', { class: 'num' }, a.dead_air_per_call_s),
        h('td', {}, (a.top_rules || []).map((r, n) => [n ? ', ' : '',
          h('span', { title: r.rule_id }, `${ruleTitle(r.rule_id)} (${r.calls})`)])))))) : null;

    body.replaceChildren(h('div', { class: 'dash-grid' },
      chartBox('chart-intents', 'dash.intents', has && intentSeries.length
        ? lineChart({ title: t('dash.intents'), labels, series: intentSeries }) : null),
      chartBox('chart-sentiment', 'dash.sentiment', has && sentimentSeries[0].points.length
        ? lineChart({ title: t('dash.sentiment'), labels, series: sentimentSeries, min: -1, max: 1 }) : null),
      chartBox('chart-rules', 'dash.rules', rules.length ? barChart({ title: t('dash.rules'), items: rules }) : null),
      chartBox('chart-teams', 'dash.teams', teams.length ? barChart({ title: t('dash.teams'), items: teams }) : null),
      chartBox('chart-agents', 'dash.agents', agentBars.length
        ? barChart({ title: t('dash.agents'), items: agentBars }) : null),
      chartBox('chart-calls', 'dash.calls', has ? lineChart({ title: t('dash.calls'), labels, series: callsSeries }) : null)),
    h('section', { class: 'panel', 'aria-labelledby': 'scorecards-title' },
      h('h2', { id: 'scorecards-title' }, t('dash.scorecards')),
      table || h('p', { class: 'muted' }, t('dash.nodata'))),
    formScoresPanel(base));
  }

  main.replaceChildren(h('h1', {}, t('dash.title')), form, body);
  load(filters);
  return { destroy() { destroyed = true; } };
}
