// The review queue (GET /queue): flagged calls not yet fully reviewed, riskiest first;
// presets for the period (today, this week, last 30 days, any time) in the browser's
// time zone, dates in the chosen language's format. qa sees "my queue" (and unassigned
// calls); admin assigns reviewers. Each row's status: to review, in review, done.
import { api, get } from './api.js';
import { intentBadge, loadCatalogue, ruleBadge } from './catalogue.js';
import { h } from './dom.js';
import { label, t } from './i18n.js';
import { fmtDate, riskBadge } from './search.js';

export const PRESETS = ['today', 'week', '30d', 'any'];
const STATUSES = ['to_review', 'in_review', 'done'];

// The instant a preset's period starts, in the browser's time zone (weeks start Monday).
export function presetStart(preset, now = new Date()) {
  const day = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  if (preset === 'today') return day;
  if (preset === 'week') { day.setDate(day.getDate() - ((day.getDay() + 6) % 7)); return day; }
  if (preset === '30d') { day.setDate(day.getDate() - 29); return day; }
  return null;
}

export function render(main, ctx, params) {
  const admin = ctx.who.role === 'admin';
  const state = { preset: params.get('preset') || '30d', status: params.get('status') || 'open',
    who: params.get('who') || (admin ? 'all' : 'mine') };
  let reviewers = [];
  let destroyed = false;
  const preset = h('select', { id: 'q-preset' },
    PRESETS.map((p) => h('option', { value: p, selected: p === state.preset }, t(`queue.preset.${p}`))));
  const status = h('select', { id: 'q-status' },
    ['open', ...STATUSES, 'all'].map((s) => h('option', { value: s, selected: s === state.status },
      t(`queue.status.${s}`))));
  const whose = h('select', { id: 'q-who' },
    ['mine', 'unassigned', 'all'].map((w) => h('option', { value: w, selected: w === state.who },
      t(`queue.who.${w}`))));
  const count = h('p', { class: 'summary-line', id: 'queue-count', 'aria-live': 'polite' });
  const table = h('table', { id: 'queue', class: 'queue' });

  function statusControl(item) {
    const sel = h('select', { class: 'q-item-status', 'data-call': item.call_id,
      'aria-label': t('queue.col.status') },
    STATUSES.map((s) => h('option', { value: s, selected: s === item.status }, t(`queue.status.${s}`))));
    sel.addEventListener('change', async () => {
      try {
        await api('PUT', `/queue/${encodeURIComponent(item.call_id)}/status`, { body: { status: sel.value } });
        ctx.toast(t('queue.saved'));
        load();
      } catch (err) { ctx.toast(t('error', { message: err.message })); sel.value = item.status; }
    });
    return sel;
  }

  function assignControl(item) {
    if (!admin) return item.assignee || t('queue.nobody');
    const sel = h('select', { class: 'q-assign', 'data-call': item.call_id, 'aria-label': t('queue.col.assignee') },
      h('option', { value: '' }, t('queue.nobody')),
      reviewers.map((r) => h('option', { value: r, selected: r === item.assignee }, r)));
    sel.addEventListener('change', async () => {
      try {
        await api('PUT', `/queue/${encodeURIComponent(item.call_id)}/assignee`,
          { body: { assignee: sel.value || null } });
        ctx.toast(t('queue.assigned', { name: sel.value || t('queue.nobody') }));
      } catch (err) { ctx.toast(t('error', { message: err.message })); }
    });
    return sel;
  }

  async function load() {
    const values = { preset: preset.value, status: status.value, who: whose.value };
    history.replaceState(null, '', `#/queue?${new URLSearchParams(values)}`);
    const start = presetStart(values.preset);
    count.textContent = t('loading');
    let data;
    try {
      [data] = await Promise.all([get('/queue', {
        status: values.status, mine: values.who === 'mine' ? 'true' : null,
        unassigned: values.who === 'unassigned' ? 'true' : null,
        date_from: start ? start.toISOString() : null }), loadCatalogue(),
      admin && !reviewers.length ? get('/queue/reviewers').then((r) => { reviewers = r.items; }) : null]);
    } catch (err) {
      count.textContent = t('error', { message: err.message });
      return;
    }
    if (destroyed) return;
    count.textContent = data.total ? t('queue.total', { n: data.total }) : t('queue.empty');
    table.replaceChildren(
      h('thead', {}, h('tr', {}, ['call', 'started', 'agent', 'risk', 'flags', 'intent', 'assignee', 'status']
        .map((c) => h('th', { scope: 'col' }, t(`queue.col.${c}`))))),
      h('tbody', {}, data.items.map((item) => h('tr', { 'data-call': item.call_id, 'data-status': item.status },
        h('th', { scope: 'row' }, h('a', { href: `#/calls/${encodeURIComponent(item.call_id)}`, class: 'open' },
          item.call_id)),
        h('td', {}, fmtDate(item.started_at)),
        h('td', {}, [item.agent_id, item.team].filter(Boolean).join(' · ')),
        h('td', {}, riskBadge(item.risk)),
        h('td', {}, h('div', { class: 'badges' }, item.max_severity ? h('span', {
          class: `badge sev-${item.max_severity}` }, label('severity', item.max_severity)) : null,
        item.rule_ids.map((r) => ruleBadge(r)))),
        h('td', {}, intentBadge(item.primary_intent)),
        h('td', {}, assignControl(item)),
        h('td', {}, statusControl(item))))));
  }

  for (const el of [preset, status, whose]) el.addEventListener('change', load);
  const field = (id, key, el) => h('label', { class: 'field', for: id }, h('span', {}, t(key)), el);
  main.replaceChildren(h('h1', {}, t('queue.title')),
    h('form', { class: 'panel search', 'aria-label': t('search.filters'),
      onsubmit: (event) => { event.preventDefault(); load(); } },
    h('div', { class: 'row' },
      field('q-preset', 'queue.period', preset), field('q-status', 'queue.col.status', status),
      field('q-who', 'queue.whose', whose))),
    count, h('div', { class: 'table-wrap' }, table));
  load();
  return { destroy() { destroyed = true; } };
}
