// Search: the query model of GET /search (docs/search.md), filters, results with
// highlighted snippets, flags and risk, saved searches. The form state lives in the
// hash (#/search?q=...&review_status=...), so Back and bookmarks work.
import { api, get, query } from './api.js';
import { choices, intentBadge, loadCatalogue, ruleBadge } from './catalogue.js';
import { clock, h, highlighted } from './dom.js';
import { getLang, label, locale, t } from './i18n.js';

const FIELDS = ['q', 'role', 'date_from', 'date_to', 'agent_id', 'team', 'intent', 'sentiment',
  'rule_id', 'min_severity', 'review_status', 'sort'];
const CHOICES = {
  role: ['agent', 'customer'],
  sentiment: ['negative', 'neutral', 'positive'],
  min_severity: ['low', 'medium', 'high', 'critical'],
  review_status: ['unreviewed', 'partial', 'confirmed', 'dismissed', 'none'],
  sort: ['relevance', 'date', 'risk'],
};
// Where "Back to search" on a call page returns: the last search run.
let lastSearch = '#/search';
export function lastSearchHash() { return lastSearch; }

const LABEL_KIND = { role: 'speaker', sentiment: 'sentiment', min_severity: 'severity',
  review_status: 'review', sort: 'sort' };

// A calendar day in the browser's time zone -> the instant it starts (ISO, UTC).
function dayStart(day, plusDays = 0) {
  const [y, m, d] = day.split('-').map(Number);
  if (!y || !m || !d) return null;
  return new Date(y, m - 1, d + plusDays).toISOString();
}

export function apiParams(form) {
  const out = {};
  for (const [k, v] of Object.entries(form)) {
    if (!v) continue;
    if (k === 'date_from') out.date_from = dayStart(v);
    else if (k === 'date_to') out.date_to = dayStart(v, 1); // the whole day, inclusive
    else out[k] = v;
  }
  return out;
}

export function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(locale(), {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
}

// The CSV of a search, with titles in the chosen language.
function exportHref(values) {
  return `/search/export${query({ ...apiParams(values), lang: getLang() })}`;
}

export function riskBadge(risk) {
  const value = Math.round((risk || 0) * 10) / 10;
  return h('span', { class: `badge risk${value >= 10 ? ' hot' : ''}`, 'data-risk': value },
    t('search.risk', { risk: value }));
}

export function reviewBadge(status) {
  if (!status) return null;
  return h('span', { class: `badge review review-${status}`, 'data-review': status },
    label('review', status));
}

function field(name, labelKey, control) {
  control.id = `f-${name}`;
  control.name = name;
  return h('label', { class: 'field', for: control.id }, h('span', {}, t(labelKey)), control);
}

function select(name, anyKey = 'search.any') {
  const el = h('select', {}, h('option', { value: '' }, t(anyKey)));
  for (const v of CHOICES[name]) el.append(h('option', { value: v }, label(LABEL_KIND[name], v)));
  return el;
}

// What the API says of a query it refused (search/query.py), in the chosen language.
const QUERY_ERRORS = [
  [/^unbalanced quotes/, 'search.qerror.quotes'],
  [/^OR needs a term on each side/, 'search.qerror.or'],
  [/^OR cannot join a NOT term/, 'search.qerror.ornot'],
  [/^a query needs at least one term/, 'search.qerror.negated'],
];

function queryErrorText(message) {
  const found = QUERY_ERRORS.find(([re]) => re.test(message || ''));
  return found ? t(found[1]) : t('search.qerror', { message });
}

export function render(main, ctx, params) {
  const form = Object.fromEntries(FIELDS.map((f) => [f, params.get(f) || '']));
  const controls = {};
  const q = h('input', { type: 'search', placeholder: t('search.q.placeholder'), autocomplete: 'off',
    'aria-describedby': 'q-error syntax-help', value: form.q });
  // A refused query is said right under the box (and the box marked), not elsewhere.
  const qError = h('p', { class: 'q-error', id: 'q-error', role: 'alert', hidden: true });
  function showQueryError(text) {
    qError.textContent = text || '';
    qError.hidden = !text;
    if (text) q.setAttribute('aria-invalid', 'true'); else q.removeAttribute('aria-invalid');
  }
  controls.q = q;
  controls.role = select('role', 'search.role.any');
  controls.date_from = h('input', { type: 'date' });
  controls.date_to = h('input', { type: 'date' });
  // Agents and teams offer the values seen in results; intents and rules are choosers
  // over the catalogue's titles (no id typing).
  controls.agent_id = h('input', { type: 'text', autocomplete: 'off', list: 'agent-list' });
  controls.team = h('input', { type: 'text', autocomplete: 'off', list: 'team-list' });
  controls.intent = h('select', {}, h('option', { value: '' }, t('search.any')));
  controls.sentiment = select('sentiment');
  controls.rule_id = h('select', {}, h('option', { value: '' }, t('search.any')));
  controls.min_severity = select('min_severity');
  controls.review_status = select('review_status');
  controls.sort = select('sort');
  controls.sort.firstChild.remove(); // a sort is always chosen
  const agentList = h('datalist', { id: 'agent-list' });
  const teamList = h('datalist', { id: 'team-list' });
  function remember(listEl, value) {
    if (value && ![...listEl.options].some((o) => o.value === value)) listEl.append(h('option', { value }));
  }
  function fillChoosers() {
    for (const [name, kind] of [['intent', 'intents'], ['rule_id', 'rules']]) {
      const el = controls[name];
      el.replaceChildren(h('option', { value: '' }, t('search.any')),
        ...choices(kind).map((c) => h('option', { value: c.id, title: c.id }, c.title)));
    }
  }

  function fill(values) {
    for (const f of FIELDS) controls[f].value = values[f] || (f === 'sort' ? 'relevance' : '');
  }
  // The phone's Filters button says how many are set (they apply while folded away).
  const FILTERS = ['date_from', 'date_to', 'agent_id', 'team', 'intent', 'sentiment', 'rule_id',
    'min_severity', 'review_status'];
  function countFilters(values) {
    const n = FILTERS.filter((f) => values[f]).length;
    filtersToggle.textContent = n ? t('search.filters.n', { n }) : t('search.filters');
  }
  function read() {
    const out = {};
    for (const f of FIELDS) out[f] = controls[f].value.trim();
    if (out.sort === 'relevance') out.sort = '';
    return out;
  }

  const total = h('p', { class: 'summary-line', id: 'result-count', 'aria-live': 'polite' });
  const list = h('ol', { class: 'results', id: 'results', 'aria-label': t('search.results') });
  const more = h('button', { type: 'button', id: 'more', hidden: true }, t('search.more'));
  let cursor = null;
  let selected = -1;
  let running = 0;

  function hitItem(hit) {
    const href = `#/calls/${encodeURIComponent(hit.call_id)}`;
    const li = h('li', { class: 'hit', tabindex: '-1', 'data-call': hit.call_id,
      'data-review': hit.review_status || '' });
    const snippets = h('ul', { class: 'snippets' });
    for (const u of hit.utterances || []) {
      snippets.append(h('li', {},
        h('a', { href: `${href}?t=${u.start}`, class: 'who-said',
          'aria-label': t('call.seek', { time: clock(u.start) }) },
        `${label('speaker', u.role)} ${clock(u.start)}`),
        h('span', { class: 'snippet' }, highlighted(u.highlight))));
    }
    li.append(
      h('div', { class: 'hit-head' },
        h('a', { href, class: 'open', 'aria-label': t('search.open', { id: hit.call_id }) }, hit.call_id),
        h('span', { class: 'meta' }, [fmtDate(hit.started_at), hit.agent_id, hit.team, hit.language,
          hit.duration ? clock(hit.duration) : ''].filter(Boolean).join(' · '))),
      h('div', { class: 'badges' },
        riskBadge(hit.risk),
        hit.max_severity ? h('span', { class: `badge sev-${hit.max_severity}` },
          label('severity', hit.max_severity)) : null,
        reviewBadge(hit.review_status),
        hit.sentiment ? h('span', { class: 'badge' }, label('sentiment', hit.sentiment)) : null,
        intentBadge(hit.primary_intent),
        (hit.rule_ids || []).map((r) => ruleBadge(r))),
      snippets);
    remember(agentList, hit.agent_id);
    remember(teamList, hit.team);
    return li;
  }

  async function run(append = false) {
    const mine = ++running;
    const values = read();
    if (!append) {
      cursor = null;
      selected = -1;
      list.replaceChildren();
      total.textContent = t('loading');
    }
    try {
      const data = await get('/search', { ...apiParams(values), size: 20, cursor: append ? cursor : null });
      if (mine !== running) return;
      showQueryError(null);
      total.removeAttribute('role');
      total.textContent = data.total === 1 ? t('search.total.one') : t('search.total', { n: data.total });
      if (!data.total) total.textContent = t('search.empty');
      for (const hit of data.hits) list.append(hitItem(hit));
      cursor = data.next_cursor;
      more.hidden = !cursor || !data.hits.length;
    } catch (err) {
      if (mine !== running) return;
      if (err.status === 422) {
        showQueryError(queryErrorText(err.message));
        total.textContent = '';
        more.hidden = true;
        return;
      }
      total.textContent = t('error', { message: err.message });
      total.setAttribute('role', 'alert');
    }
  }

  function submit(event) {
    if (event) event.preventDefault();
    const values = read();
    const qs = new URLSearchParams(Object.entries(values).filter(([, v]) => v)).toString();
    history.replaceState(null, '', `#/search${qs ? `?${qs}` : ''}`);
    lastSearch = location.hash;
    exportLink.href = exportHref(values);
    countFilters(values);
    run();
  }

  more.addEventListener('click', () => run(true));
  // Any search as CSV (GET /search/export, the session cookie): a plain download link.
  const exportLink = h('a', { id: 'export', class: 'button', href: '/search/export', download: 'calls.csv' },
    t('search.export'));

  // Saved searches (GET/POST/DELETE /saved-searches)
  const savedSelect = h('select', { id: 'saved-select' });
  const savedName = h('input', { id: 'saved-name', type: 'text', maxlength: 128, autocomplete: 'off' });
  let saved = [];
  async function loadSaved(selectId = null) {
    try {
      saved = (await get('/saved-searches')).items;
    } catch {
      saved = [];
    }
    savedSelect.replaceChildren(h('option', { value: '' }, t('search.saved.none')),
      ...saved.map((s) => h('option', { value: String(s.id) }, s.name)));
    if (selectId) savedSelect.value = String(selectId);
  }
  savedSelect.addEventListener('change', () => {
    const s = saved.find((x) => String(x.id) === savedSelect.value);
    if (!s) return;
    const values = { ...s.query };
    for (const k of ['date_from', 'date_to']) {
      if (values[k]) {
        const d = new Date(values[k]);
        if (k === 'date_to') d.setDate(d.getDate() - 1);
        values[k] = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
      }
    }
    fill(values);
    savedName.value = s.name;
    submit();
  });
  const saveButton = h('button', { type: 'button', id: 'saved-save', onclick: async () => {
    const name = savedName.value.trim();
    if (!name) { ctx.toast(t('search.saved.needname')); savedName.focus(); return; }
    try {
      const made = await api('POST', '/saved-searches', { body: { name, query: apiParams(read()) } });
      ctx.toast(t('search.saved.done', { name }));
      await loadSaved(made.id);
    } catch (err) { ctx.toast(t('error', { message: err.message })); }
  } }, t('search.saved.save'));
  const deleteButton = h('button', { type: 'button', id: 'saved-delete', onclick: async () => {
    const s = saved.find((x) => String(x.id) === savedSelect.value);
    if (!s) return;
    try {
      await api('DELETE', `/saved-searches/${s.id}`);
      ctx.toast(t('search.saved.deleted', { name: s.name }));
      await loadSaved();
    } catch (err) { ctx.toast(t('error', { message: err.message })); }
  } }, t('search.saved.delete'));

  // On a phone the filters fold away behind one button, so the results are in reach.
  const filtersToggle = h('button', { type: 'button', class: 'filters-toggle', id: 'filters-toggle',
    'aria-expanded': 'false', 'aria-controls': 'filters', onclick: () => {
      const box = document.getElementById('filters');
      const open = box.classList.toggle('collapsed') === false;
      filtersToggle.setAttribute('aria-expanded', String(open));
    } }, t('search.filters'));
  const formEl = h('form', { class: 'search panel', role: 'search', onsubmit: submit },
    h('div', { class: 'row' },
      h('label', { class: 'field q', for: 'f-q' }, h('span', {}, t('search.q')), q),
      field('role', 'search.role', controls.role),
      field('sort', 'search.sort', controls.sort),
      h('button', { type: 'submit', class: 'primary', id: 'search-submit' }, t('search.submit')),
      h('button', { type: 'button', id: 'search-clear', onclick: () => { fill({}); submit(); } },
        t('search.clear'))),
    qError,
    h('p', { class: 'syntax', id: 'syntax-help' }, t('search.syntax')),
    filtersToggle,
    h('fieldset', { class: 'filters collapsed', id: 'filters' }, h('legend', {}, t('search.filters')),
      h('div', { class: 'row' },
        field('date_from', 'search.date_from', controls.date_from),
        field('date_to', 'search.date_to', controls.date_to),
        field('agent_id', 'search.agent', controls.agent_id),
        field('team', 'search.team', controls.team),
        field('intent', 'search.intent', controls.intent),
        field('sentiment', 'search.sentiment', controls.sentiment),
        field('rule_id', 'search.rule', controls.rule_id),
        field('min_severity', 'search.severity', controls.min_severity),
        field('review_status', 'search.review', controls.review_status))),
    agentList, teamList);
  q.id = 'f-q';
  q.name = 'q';
  // Enter in any filter submits the form (selects too).
  for (const el of Object.values(controls)) {
    if (el.tagName === 'SELECT') el.addEventListener('change', () => submit());
  }

  const savedBox = h('section', { class: 'panel saved', 'aria-labelledby': 'saved-title' },
    h('h2', { id: 'saved-title', class: 'sr-only' }, t('search.saved')),
    h('label', { class: 'field', for: 'saved-select' }, h('span', {}, t('search.saved.pick')), savedSelect),
    h('label', { class: 'field', for: 'saved-name' }, h('span', {}, t('search.saved.name')), savedName),
    saveButton, deleteButton);

  main.replaceChildren(h('h1', {}, t('search.title')), formEl, savedBox,
    h('div', { class: 'result-bar' }, total, exportLink), list, more);
  lastSearch = location.hash || '#/search';
  exportLink.href = exportHref(form);
  fill(form);
  countFilters(form);
  loadSaved();
  // The choosers need the catalogue; the first search waits for it (titles on badges).
  loadCatalogue().then(() => {
    fillChoosers();
    controls.intent.value = form.intent;
    controls.rule_id.value = form.rule_id;
    run();
  });
  if (!params.toString()) q.focus();

  function items() { return [...list.querySelectorAll(':scope > li')]; }
  function choose(i) {
    const all = items();
    if (!all.length) return;
    selected = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((li, n) => li.classList.toggle('selected', n === selected));
    all[selected].focus();
    all[selected].scrollIntoView({ block: 'nearest' });
  }
  return {
    onKey(event) {
      if (event.key === '/') { q.focus(); q.select(); return true; }
      if (event.key === 'j') { choose(selected + 1); return true; }
      if (event.key === 'k') { choose(selected - 1); return true; }
      if (event.key === 'Enter' && selected >= 0 && event.target.tagName !== 'A'
          && event.target.tagName !== 'BUTTON') {
        const link = items()[selected]?.querySelector('a.open');
        if (link) { location.hash = link.getAttribute('href'); return true; }
      }
      return false;
    },
  };
}
