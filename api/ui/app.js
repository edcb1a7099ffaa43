// The shell: session, hash routing (#/search, #/calls/ID, #/dashboard), language switch,
// global keyboard shortcuts. Pages are modules exporting render(main, ctx) -> page,
// where page may have onKey(event) and destroy().
import { api, ApiError } from './api.js';
import { h, isTyping } from './dom.js';
import { applyI18n, getLang, label, setLang, t } from './i18n.js';
import * as callPage from './call.js';
import * as dashboardPage from './dashboard.js';
import * as queuePage from './queue.js';
import * as searchPage from './search.js';
import * as signinPage from './signin.js';

const main = document.getElementById('main');
const state = { who: null, page: null, checked: false };

export function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove('show'), 3500);
}

const can = {
  search: (who) => ['qa', 'manager', 'admin'].includes(who.role),
  dashboard: (who) => ['manager', 'admin'].includes(who.role),
  queue: (who) => ['qa', 'admin'].includes(who.role),
};

function homeFor(who) {
  return who.role === 'manager' ? '#/dashboard' : '#/search';
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(qs) };
}

function updateShell() {
  const who = state.who;
  document.getElementById('nav').hidden = !who;
  document.getElementById('signout').hidden = !who;
  document.getElementById('nav-search').hidden = !(who && can.search(who));
  document.getElementById('nav-dashboard').hidden = !(who && can.dashboard(who));
  document.getElementById('nav-queue').hidden = !(who && can.queue(who));
  document.getElementById('who').textContent = who
    ? t('signed.as', { name: who.name, role: label('role', who.role) }) : '';
  const current = parseHash().parts[0] || '';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === current || (current === 'calls' && a.dataset.page === 'search')) {
      a.setAttribute('aria-current', 'page');
    } else {
      a.removeAttribute('aria-current');
    }
  }
  document.getElementById('lang').value = getLang();
  applyI18n(document);
}

const ctx = {
  get who() { return state.who; },
  toast,
  go(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  async signedIn(who) {
    state.who = who;
    const target = parseHash().parts[0];
    if (!target || target === 'signin') location.hash = homeFor(who);
    else route();
  },
};

async function whoami() {
  try {
    state.who = await api('GET', '/session');
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
    state.who = null;
  }
  state.checked = true;
}

async function route() {
  if (state.page && state.page.destroy) state.page.destroy();
  state.page = null;
  if (!state.checked) {
    try { await whoami(); } catch (err) {
      main.replaceChildren(h('p', { class: 'error', role: 'alert' }, t('error', { message: err.message })));
      return;
    }
  }
  updateShell();
  const { parts, params } = parseHash();
  const who = state.who;
  if (!who) {
    state.page = signinPage.render(main, ctx);
    return;
  }
  const [name, id] = parts;
  if (!name || name === 'signin') {
    location.replace(homeFor(who));
    return;
  }
  if (!can.search(who) && !can.dashboard(who)) {
    main.replaceChildren(h('p', { class: 'error', role: 'alert' },
      t('signin.norole', { role: label('role', who.role) })));
    return;
  }
  if (name === 'search' && can.search(who)) {
    state.page = searchPage.render(main, ctx, params);
  } else if (name === 'calls' && id && can.search(who)) {
    state.page = callPage.render(main, ctx, id, params);
  } else if (name === 'queue' && can.queue(who)) {
    state.page = queuePage.render(main, ctx, params);
  } else if (name === 'dashboard' && can.dashboard(who)) {
    state.page = dashboardPage.render(main, ctx, params);
  } else {
    location.replace(homeFor(who));
    return;
  }
  document.title = `callqa · ${t(`nav.${name === 'calls' ? 'search' : name}`)}`;
}

// Keyboard: page shortcuts first, then the global ones. Nothing fires while typing.
let pendingG = false;
document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const dialog = document.getElementById('shortcuts');
  if (dialog.open) return; // the dialog handles Esc itself
  if (isTyping(event.target)) {
    if (event.key === 'Escape') event.target.blur();
    return;
  }
  if (event.key === '?') {
    event.preventDefault();
    dialog.showModal();
    return;
  }
  if (pendingG) {
    pendingG = false;
    if (event.key === 's') { event.preventDefault(); ctx.go('#/search'); return; }
    if (event.key === 'd') { event.preventDefault(); ctx.go('#/dashboard'); return; }
    if (event.key === 'q') { event.preventDefault(); ctx.go('#/queue'); return; }
  }
  if (state.page && state.page.onKey && state.page.onKey(event)) {
    event.preventDefault();
    return;
  }
  if (event.key === 'g') { pendingG = true; setTimeout(() => { pendingG = false; }, 1200); }
});

document.getElementById('help').addEventListener('click', () => {
  document.getElementById('shortcuts').showModal();
});
document.getElementById('lang').addEventListener('change', (event) => {
  setLang(event.target.value);
  route();
});
document.getElementById('signout').addEventListener('click', async () => {
  try { await api('DELETE', '/session'); } catch { /* signed out anyway */ }
  state.who = null;
  location.hash = '#/signin';
  route();
});
window.addEventListener('callqa:signedout', () => {
  if (!state.who) return;
  state.who = null;
  route();
});
window.addEventListener('hashchange', route);

setLang(getLang());
route();
