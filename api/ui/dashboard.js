// Manager dashboard: intents over time, violations by rule, team and agent (per 100
// calls), agents compared over time, customer sentiment trend, agent scorecards. Every
// bar, point and scorecard row links to the matching search (#/search?...). Data from
// GET /trends and GET /agents; charts are drawn locally (chart.js).
import { get } from './api.js';
import { barChart, lineChart, periodLabel } from './chart.js';
import { intentTitle, loadCatalogue, ruleTitle } from './catalogue.js';
import { h } from './dom.js';
import { formScoresPanel } from './formscores.js';
import { t } from './i18n.js';
import { apiParams } from './search.js';

const TOP_SERIES = 6;

function chartBox(id, titleKey, content, noteKey = null) {
  return h('figure', { class: 'panel chart-box', id },
    h('figcaption', {}, t(titleKey)),
    content || h('p', { class: 'muted' }, t('dash.nodata')),
    noteKey && content ? h('p', { class: 'muted chart-note' }, t(noteKey)) : null);
}

const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

// The calendar days a period covers (day, week from its Monday, month), as YYYY-MM-DD.
export function periodRange(period, interval) {
  const [y, m, d] = String(period).split('-').map(Number);
  if (interval === 'month' || !d) return [iso(new Date(y, m - 1, 1)), iso(new Date(y, m, 0))];
  const first = new Date(y, m - 1, d);
  const last = interval === 'week' ? new Date(y, m - 1, d + 6) : first;
  return [iso(first), iso(last)];
}

// The search page with these filters (it reads them from the hash), inside the
// dashboard's own dates and team.
export function searchHref(base, extra = {}) {
  const merged = { ...base, ...extra };
  if (base.date_from && merged.date_from < base.date_from) merged.date_from = base.date_from;
  if (base.date_to && merged.date_to > base.date_to) merged.date_to = base.date_to;
  const qs = new URLSearchParams(Object.entries(merged).filter(([k, v]) => v && k !== 'interval'));
  return `#/search?${qs.toString()}`;
}

// Violations (flags) per 100 calls per group, from the periods of a by= trend.
function per100(periods, key) {
  const sums = {};
  for (const p of periods) {
    if (p[key] === null || p[key] === undefined) continue;
    const row = sums[p[key]] || (sums[p[key]] = { calls: 0, flags: 0 });
    row.calls += p.calls;
    row.flags += Math.round((p.violations_per_100 * p.calls) / 100);
  }
  return Object.entries(sums).map(([name, r]) => ({ label: name, calls: r.calls,
    value: Math.round((1000 * r.flags) / r.calls) / 10 }));
}

const byValue = (a, b) => b.value - a.value || String(a.title || a.label).localeCompare(String(b.title || b.label));

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
    const link = (extra) => searchHref({ date_from: values.date_from, date_to: values.date_to,
      team: values.team }, extra);
    body.replaceChildren(h('p', { class: 'muted' }, t('loading')));
    let intents; let violations; let byTeam; let byAgent; let agents;
    try {
      [intents, violations, byTeam, byAgent, agents] = await Promise.all([
        get('/trends', { ...base, metric: 'intent', interval: iv }),
        get('/trends', { ...base, metric: 'violation', interval: iv }),
        get('/trends', { ...base, metric: 'violation', interval: iv, by: 'team' }),
        get('/trends', { ...base, metric: 'calls', interval: iv, by: 'agent_id' }),
        get('/agents', base),
        loadCatalogue(),
      ]);
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, t('error', { message: err.message })));
      return;
    }
    if (destroyed) return;
    const fmtPeriod = (p) => periodLabel(p, iv);
    const inPeriod = (period) => { const [from, to] = periodRange(period, iv); return { date_from: from, date_to: to }; };
    const labels = [...new Set(intents.periods.map((p) => p.period))].sort();
    const topIntents = Object.keys(intents.totals).slice(0, TOP_SERIES);
    const intentSeries = topIntents.map((name) => ({ name: intentTitle(name), points: labels.map((period) => ({
      label: period, href: link({ intent: name, ...inPeriod(period) }),
      value: intents.buckets.filter((b) => b.period === period && b.value === name)
        .reduce((n, b) => n + b.count, 0) })) }));
    const callsSeries = [{ name: t('dash.col.calls'), points: intents.periods.map((p) => ({
      label: p.period, value: p.calls, href: link(inPeriod(p.period)) })) }];
    const sentimentSeries = [{ name: t('dash.sentiment'), points: intents.periods
      .filter((p) => p.avg_sentiment !== null).map((p) => ({ label: p.period, value: p.avg_sentiment,
        href: link(inPeriod(p.period)) })) }];
    // bars carry the id (data-label), show the title and link to the calls behind them
    const rules = Object.entries(violations.totals).map(([id, value]) => ({ label: id, title: ruleTitle(id), value,
      href: link({ rule_id: id }) })).sort(byValue);
    const teams = per100(byTeam.periods, 'team').map((r) => ({ ...r,
      href: link({ team: r.label, min_severity: 'low' }) })).sort(byValue);
    const agentBars = agents.items.map((a) => ({ label: a.agent_id, value: a.violations_per_100,
      href: link({ agent_id: a.agent_id, min_severity: 'low' }) })).sort(byValue);
    // agents compared over time: violations per 100 calls per period, the busiest agents
    const busiest = [...agents.items].sort((a, b) => b.calls - a.calls || a.agent_id.localeCompare(b.agent_id))
      .slice(0, TOP_SERIES).map((a) => a.agent_id).sort();
    const agentLabels = [...new Set(byAgent.periods.map((p) => p.period))].sort();
    const agentSeries = busiest.map((agent) => ({ name: agent, points: byAgent.periods
      .filter((p) => p.agent_id === agent).map((p) => ({ label: p.period, value: p.violations_per_100,
        href: link({ agent_id: agent, min_severity: 'low', ...inPeriod(p.period) }) })) }));
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
      h('tbody', {}, agents.items.map((a) => h('tr', { 'data-agent': a.agent_id, class: 'row-link',
        onclick: (event) => { if (!event.target.closest('a')) ctx.go(link({ agent_id: a.agent_id })); } },
      h('th', { scope: 'row' }, h('a', { href: link({ agent_id: a.agent_id }), class: 'agent-link' }, a.agent_id)),
      h('td', {}, (a.teams || []).join(', ')),
        h('td', { class: 'num' }, a.calls), h('td', { class: 'num' }, a.violations_per_100),
        h('td', { class: 'num' }, a.critical_violations),
        h('td', { class: 'num' }, a.avg_customer_sentiment?.toFixed(2)),
        h('td', { class: 'num' }, `${Math.round((a.negative_share || 0) * 100)}%`),
        h('td', { class: 'num' }, a.dead_air_per_call_s),
        h('td', {}, (a.top_rules || []).map((r, n) => [n ? ', ' : '',
          h('a', { title: r.rule_id, href: link({ agent_id: a.agent_id, rule_id: r.rule_id }) },
            `${ruleTitle(r.rule_id)} (${r.calls})`)])))))) : null;

    body.replaceChildren(h('p', { class: 'muted', id: 'dash-hint' }, t('dash.hint')), h('div', { class: 'dash-grid' },
      chartBox('chart-rules', 'dash.rules', rules.length ? barChart({ title: t('dash.rules'), items: rules,
        xTitle: t('dash.axis.flagged') }) : null),
      chartBox('chart-teams', 'dash.teams', teams.length ? barChart({ title: t('dash.teams'), items: teams,
        integer: false, xTitle: t('dash.axis.per100') }) : null),
      chartBox('chart-agents', 'dash.agents', agentBars.length
        ? barChart({ title: t('dash.agents'), items: agentBars, integer: false, xTitle: t('dash.axis.per100') }) : null),
      chartBox('chart-agent-trend', 'dash.agenttrend', agentLabels.length && agentSeries.length
        ? lineChart({ title: t('dash.agenttrend'), labels: agentLabels, series: agentSeries,
          yTitle: t('dash.axis.per100'), format: fmtPeriod }) : null, 'dash.agenttrend.note'),
      chartBox('chart-intents', 'dash.intents', has && intentSeries.length
        ? lineChart({ title: t('dash.intents'), labels, series: intentSeries, integer: true,
          yTitle: t('dash.axis.calls'), format: fmtPeriod }) : null),
      chartBox('chart-sentiment', 'dash.sentiment', has && sentimentSeries[0].points.length
        ? lineChart({ title: t('dash.sentiment'), labels, series: sentimentSeries, min: -1, max: 1,
          yTitle: t('dash.axis.sentiment'), format: fmtPeriod }) : null),
      chartBox('chart-calls', 'dash.calls', has ? lineChart({ title: t('dash.calls'), labels, series: callsSeries,
        integer: true, yTitle: t('dash.axis.calls'), format: fmtPeriod }) : null)),
    h('section', { class: 'panel', 'aria-labelledby': 'scorecards-title' },
      h('h2', { id: 'scorecards-title' }, t('dash.scorecards')),
      table ? h('div', { class: 'table-wrap' }, table) : h('p', { class: 'muted' }, t('dash.nodata'))),
    formScoresPanel(base));
  }

  main.replaceChildren(h('h1', {}, t('dash.title')), form, body);
  load(filters);
  return { destroy() { destroyed = true; } };
}
