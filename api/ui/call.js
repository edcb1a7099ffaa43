// A call: transcript with roles and timestamps, the recording (streamed with the session
// cookie, range requests) with the word being said highlighted, flags with evidence and
// rule, confirm/dismiss with a comment, metrics, summary, role correction.
import { api, get } from './api.js';
import { intentBadge, loadCatalogue, ruleTitle } from './catalogue.js';
import { clock, h } from './dom.js';
import { evaluationPanel } from './evaluation.js';
import { label, locale, t } from './i18n.js';
import { labelsPanel } from './labels.js';
import { lastSearchHash, reviewBadge, riskBadge } from './search.js';
import { metricsPanel, timeline } from './timeline.js';

// The call-level evidence texts of analysis/rules.py, in the chosen language.
const EVIDENCE = [
  [/^not said by the (agent|customer) in the first (\d+) s$/, 'evidence.first'],
  [/^not said in the (agent|customer)'s last (\d+) turns$/, 'evidence.last'],
  [/^never said by the (agent|customer)$/, 'evidence.never'],
];

export function evidenceText(quote) {
  for (const [re, key] of EVIDENCE) {
    const m = re.exec(quote || '');
    if (m) return t(key, { who: label('speaker', m[1]), n: m[2] });
  }
  return quote;
}

function fmtDate(iso) {
  if (!iso) return t('none');
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(locale());
}

// Whisper-style words carry their own leading spaces; others are joined by a space
// (none for Chinese).
function joiner(words, language) {
  if (words.some((w) => /^\s/.test(w.text))) return '';
  return language && language.startsWith('zh') ? '' : ' ';
}

export function render(main, ctx, callId, params) {
  const role = ctx.who.role;
  const canReview = role === 'qa' || role === 'admin';
  let detail = null;
  let audio = null;
  let raf = 0;
  let destroyed = false;
  let activeFlag = -1;
  let utts = [];   // [{start, end, el}]
  let words = [];  // [{start, end, el}]
  let currentUtt = null;
  let currentWord = null;
  let track = null; // the timeline (timeline.js)
  const flagsBox = h('section', { class: 'panel', id: 'flags', 'aria-labelledby': 'flags-title' });
  const badges = h('div', { class: 'badges', id: 'call-badges' });

  main.replaceChildren(h('p', { class: 'muted' }, t('loading')));

  function seek(time, play = true) {
    if (time === null || time === undefined) return;
    highlightAt(time, true);
    if (!audio) return;
    const go = () => {
      audio.currentTime = time;
      if (play) audio.play().catch(() => { /* autoplay refused: the position is set */ });
    };
    if (audio.readyState >= 1) go();
    else audio.addEventListener('loadedmetadata', go, { once: true });
  }

  function find(list, time) {
    // the last item starting at or before `time` (lists are sorted by start)
    let lo = 0;
    let hi = list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].start <= time + 1e-3) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  }

  function highlightAt(time, scroll = false) {
    if (track) track.update(time);
    const u = find(utts, time);
    const uEl = u >= 0 && time < utts[u].end + 0.5 ? utts[u].el : null;
    if (uEl !== currentUtt) {
      if (currentUtt) currentUtt.classList.remove('current');
      if (uEl) uEl.classList.add('current');
      currentUtt = uEl;
      if (uEl && (scroll || (audio && !audio.paused))) uEl.scrollIntoView({ block: 'nearest' });
    }
    const w = find(words, time);
    const wEl = w >= 0 && time < words[w].end + 0.3 ? words[w].el : null;
    if (wEl !== currentWord) {
      if (currentWord) currentWord.classList.remove('now');
      if (wEl) wEl.classList.add('now');
      currentWord = wEl;
    }
  }

  function tick() {
    if (destroyed || !audio) return;
    highlightAt(audio.currentTime);
    if (!audio.paused) raf = requestAnimationFrame(tick);
  }

  function transcriptSection() {
    const transcript = detail.transcript;
    const section = h('section', { class: 'panel', 'aria-labelledby': 'transcript-title' },
      h('h2', { id: 'transcript-title' }, t('call.transcript')));
    if (detail.redacted) section.append(h('p', { class: 'muted', id: 'redacted-note' }, t('call.redacted')));
    if (!transcript || !transcript.utterances.length) {
      section.append(h('p', { class: 'muted' }, t('call.notranscript')));
      return section;
    }
    const flagged = new Set();
    for (const flag of detail.analysis?.flags || []) {
      for (const ev of flag.evidence) if (ev.utterance !== null) flagged.add(ev.utterance);
    }
    const list = h('ol', { class: `transcript${audio ? ' seekable' : ''}`, id: 'transcript' });
    utts = [];
    words = [];
    transcript.utterances.forEach((u, i) => {
      const text = h('p', { class: 'text' });
      if (u.words && u.words.length) {
        const sep = joiner(u.words, transcript.language);
        u.words.forEach((w, n) => {
          const span = h('span', { class: 'w', 'data-s': w.start, 'data-e': w.end }, w.text);
          text.append(span);
          if (sep && n < u.words.length - 1) text.append(sep);
          words.push({ start: w.start, end: w.end, el: span });
        });
      } else {
        text.textContent = u.text;
      }
      const stamp = audio
        ? h('button', { type: 'button', class: 'ts', 'aria-label': t('call.seek', { time: clock(u.start) }),
          onclick: () => seek(u.start) }, clock(u.start))
        : h('span', { class: 'ts-static' }, clock(u.start));
      // A click on a word plays from that word, anywhere else in the line from its start
      // (not while selecting text to copy).
      const onclick = audio ? (event) => {
        if (event.target.closest('button') || String(window.getSelection() || '')) return;
        const word = event.target.closest('.w');
        seek(word ? Number(word.dataset.s) : u.start);
      } : null;
      const li = h('li', { class: `utt role-${u.role}${flagged.has(i) ? ' flagged' : ''}`,
        'data-i': i, 'data-start': u.start, 'data-end': u.end, 'data-role': u.role, onclick },
      stamp,
      h('span', { class: 'speaker' }, h('b', {}, label('speaker', u.role)),
        u.speaker !== u.role ? ` ${u.speaker}` : null),
      text);
      list.append(li);
      utts.push({ start: u.start, end: u.end, el: li });
    });
    words.sort((a, b) => a.start - b.start);
    section.append(list);
    return section;
  }

  function reviewText(flag) {
    if (!flag.review) return t('call.flag.unreviewed');
    const text = t('call.flag.reviewed', { decision: label('review', flag.review), reviewer: flag.reviewer || '' });
    return flag.review_comment ? `${text}: “${flag.review_comment}”` : text;
  }

  async function review(index, decision) {
    const flag = detail.flags[index];
    const li = flagsBox.querySelectorAll('ol.flags > li')[index];
    const comment = li.querySelector('textarea')?.value.trim() || null;
    for (const b of li.querySelectorAll('button.decide')) b.disabled = true;
    try {
      await api('POST', `/calls/${encodeURIComponent(callId)}/reviews`,
        { body: { flag_key: flag.key, decision, comment } });
      ctx.toast(t('call.flag.saved', { decision: label('review', decision) }));
      const fresh = await get(`/calls/${encodeURIComponent(callId)}`);
      if (destroyed) return;
      detail.flags = fresh.flags;
      detail.review_status = fresh.review_status;
      renderBadges();
      renderFlags();
      setActive(index, false);
    } catch (err) {
      ctx.toast(t('error', { message: err.message }));
      for (const b of li.querySelectorAll('button.decide')) b.disabled = false;
    }
  }

  function setActive(index, play) {
    const items = [...flagsBox.querySelectorAll('ol.flags > li')];
    if (!items.length) return;
    activeFlag = (index + items.length) % items.length;
    items.forEach((li, n) => li.classList.toggle('active', n === activeFlag));
    items[activeFlag].focus();
    if (play) seek(detail.flags[activeFlag].start);
  }

  function renderFlags() {
    const evidenceOf = detail.analysis?.flags || [];
    const items = detail.flags.map((flag, i) => {
      const full = evidenceOf[i] && evidenceOf[i].rule_id === flag.rule_id ? evidenceOf[i].evidence : [];
      const evidence = full.length ? full : (flag.start !== null ? [{ start: flag.start, quote: flag.quote }] : []);
      const li = h('li', { class: `flag sev-${flag.severity}`, tabindex: '-1', 'data-key': flag.key,
        'data-review': flag.review || '', onfocusin: () => {
          activeFlag = i;
          flagsBox.querySelectorAll('ol.flags > li').forEach((x, n) => x.classList.toggle('active', n === i));
        } },
      h('div', { class: 'flag-head' },
        h('span', { class: `badge sev-${flag.severity}` }, label('severity', flag.severity)),
        // the rule's title in the chosen language, its id on hover
        h('strong', { class: 'rule-title', title: flag.rule_id, 'data-id': flag.rule_id },
          ruleTitle(flag.rule_id) === flag.rule_id ? flag.title : ruleTitle(flag.rule_id))),
      evidence.length ? evidence.map((ev) => (ev.utterance === null ? h('div', { class: 'evidence call-level' },
        h('span', { class: 'muted' }, t('call.flag.wholecall')), ev.quote ? h('blockquote', {}, evidenceText(ev.quote)) : null)
        // a play button only where this role may play the recording
        : audio ? h('button', { type: 'button', class: 'evidence',
          'data-start': ev.start, 'aria-label': t('call.flag.play', { time: clock(ev.start) }),
          onclick: () => { activeFlag = i; seek(ev.start); } },
        h('span', { class: 'ts' }, `▶ ${clock(ev.start)}`),
        ev.quote ? h('blockquote', {}, ev.quote) : null)
          : h('div', { class: 'evidence no-play', 'data-start': ev.start },
            h('span', { class: 'ts-static' }, clock(ev.start)),
            ev.quote ? h('blockquote', {}, ev.quote) : null)))
        : h('p', { class: 'muted' }, t('call.flag.wholecall')),
      h('p', { class: 'review-state', 'data-review': flag.review || '' }, reviewText(flag)));
      if (canReview) {
        const area = h('textarea', { id: `comment-${i}`, rows: 1, maxlength: 4000 });
        li.append(h('div', { class: 'flag-actions' },
          h('label', { class: 'field comment', for: `comment-${i}` },
            h('span', {}, t('call.flag.comment')), area),
          h('button', { type: 'button', class: 'decide confirm', 'aria-keyshortcuts': 'c',
            onclick: () => review(i, 'confirmed') }, t('call.flag.confirm')),
          h('button', { type: 'button', class: 'decide dismiss', 'aria-keyshortcuts': 'd',
            onclick: () => review(i, 'dismissed') }, t('call.flag.dismiss'))));
      }
      return li;
    });
    flagsBox.replaceChildren(h('h2', { id: 'flags-title' }, t('call.flags')),
      items.length ? h('ol', { class: 'flags' }, items) : h('p', { class: 'muted' }, t('call.noflags')));
  }

  function renderBadges() {
    badges.replaceChildren(
      riskBadge(detail.insight?.risk),
      reviewBadge(detail.review_status),
      h('span', { class: 'badge', 'data-status': detail.call.status }, label('status', detail.call.status)));
  }

  function summarySection() {
    const ins = detail.insight || {};
    return h('section', { class: 'panel', 'aria-labelledby': 'summary-title', id: 'summary' },
      h('h2', { id: 'summary-title' }, t('call.summary')),
      h('p', {}, ins.summary || t('none')),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, t('call.intent')), h('dd', {}, intentBadge(ins.primary_intent) || t('none'))),
        h('div', {}, h('dt', {}, t('call.sentiment')), h('dd', {}, label('sentiment', ins.customer_sentiment))),
        h('div', {}, h('dt', {}, t('call.outcome')), h('dd', {}, label('outcome', ins.outcome)))));
  }

  function metricsSection() {
    return metricsPanel(detail); // talk ratio and key metrics (timeline.js)
  }

  function rolesSection() {
    if (!canReview || !detail.transcript) return null;
    const speakers = {};
    for (const u of detail.transcript.utterances) if (!(u.speaker in speakers)) speakers[u.speaker] = u.role;
    const selects = Object.entries(speakers).map(([speaker, r]) => {
      const sel = h('select', { id: `role-${speaker}`, 'data-speaker': speaker },
        ['agent', 'customer'].map((v) => h('option', { value: v, selected: v === r }, label('speaker', v))));
      return h('label', { class: 'field', for: sel.id },
        h('span', {}, t('call.roles.speaker', { speaker })), sel);
    });
    const status = h('p', { class: 'muted', 'aria-live': 'polite', id: 'roles-status' });
    async function patch(body) {
      try {
        await api('PATCH', `/calls/${encodeURIComponent(callId)}/roles`, { body });
        status.textContent = t('call.roles.done');
        for (let n = 0; n < 120 && !destroyed; n += 1) {
          await new Promise((r) => { setTimeout(r, 1000); });
          const fresh = await get(`/calls/${encodeURIComponent(callId)}`);
          if (['indexed', 'failed'].includes(fresh.call.status)) {
            ctx.toast(t('call.roles.ready'));
            if (!destroyed) load();
            return;
          }
        }
      } catch (err) {
        status.textContent = t('error', { message: err.message });
      }
    }
    return h('section', { class: 'panel', 'aria-labelledby': 'roles-title', id: 'roles' },
      h('h2', { id: 'roles-title' }, t('call.roles')),
      h('p', { class: 'muted' }, t('call.roles.intro')),
      h('div', { class: 'roles-form' }, selects,
        h('button', { type: 'button', id: 'roles-apply', onclick: () => patch({ speakers: Object.fromEntries(
          [...document.querySelectorAll('#roles select')].map((s) => [s.dataset.speaker, s.value])) }) },
        t('call.roles.apply')),
        h('button', { type: 'button', id: 'roles-swap', onclick: () => patch({ swap: true }) },
          t('call.roles.swap'))),
      status);
  }

  async function load() {
    try {
      [detail] = await Promise.all([get(`/calls/${encodeURIComponent(callId)}`), loadCatalogue()]);
    } catch (err) {
      main.replaceChildren(h('p', { class: 'error', role: 'alert' }, t('error', { message: err.message })));
      return;
    }
    if (destroyed) return;
    const c = detail.call;
    audio = null;
    let player;
    if (detail.audio_url) {
      audio = h('audio', { id: 'player', controls: true, preload: 'auto', src: detail.audio_url,
        'aria-label': t('call.player') });
      audio.addEventListener('play', () => { cancelAnimationFrame(raf); raf = requestAnimationFrame(tick); });
      audio.addEventListener('timeupdate', () => highlightAt(audio.currentTime));
      audio.addEventListener('seeked', () => highlightAt(audio.currentTime, true));
      player = h('section', { class: 'panel player', 'aria-label': t('call.player') }, audio);
    } else {
      player = h('p', { class: 'panel muted', id: 'no-audio' },
        t(c.has_audio === false ? 'call.norecording' : 'call.noaudio'));
    }
    renderBadges();
    renderFlags();
    track = timeline({ callId, detail, seek });
    const facts = [
      ['call.started', fmtDate(c.started_at)], ['call.duration', clock(c.duration)],
      ['call.agent', c.agent_id], ['call.team', c.team], ['call.customer', c.customer_id],
      ['call.language', c.language || detail.transcript?.language],
    ];
    main.replaceChildren(
      h('p', {}, h('a', { href: lastSearchHash(), id: 'back' }, `← ${t('call.back')}`)),
      h('h1', {}, t('call.title', { id: c.call_id })),
      h('section', { class: 'panel', 'aria-label': t('call.meta') },
        badges,
        h('dl', { class: 'facts' }, facts.map(([k, v]) => h('div', {}, h('dt', {}, t(k)), h('dd', {}, v || t('none')))),
          h('div', {}, h('dt', {}, t('call.stages')), h('dd', { id: 'stages' }, detail.stages.map(
            (s) => `${label('stage', s.stage)}: ${label('stagestatus', s.status)}`).join(' · '))))),
      h('div', { class: 'call-grid' },
        h('div', {}, player, track.el, transcriptSection()),
        h('div', {}, flagsBox, evaluationPanel({ callId, who: ctx.who, seek: audio ? seek : null, toast: ctx.toast }),
          summarySection(), canReview ? labelsPanel({ callId, toast: ctx.toast }) : null,
          metricsSection(), rolesSection())));
    const start = Number(params.get('t'));
    if (params.has('t') && Number.isFinite(start)) seek(start, false);
  }

  load();

  return {
    onKey(event) {
      if (!detail) return false;
      if (event.key === ' ' && audio) {
        if (event.target instanceof HTMLButtonElement || event.target === audio) return false;
        if (audio.paused) audio.play().catch(() => {}); else audio.pause();
        return true;
      }
      if (event.key === ']') { setActive(activeFlag + 1, true); return true; }
      if (event.key === '[') { setActive(activeFlag < 0 ? -1 : activeFlag - 1, true); return true; }
      if ((event.key === 'c' || event.key === 'd') && canReview && activeFlag >= 0) {
        review(activeFlag, event.key === 'c' ? 'confirmed' : 'dismissed');
        return true;
      }
      return false;
    },
    destroy() {
      destroyed = true;
      cancelAnimationFrame(raf);
      if (audio) { audio.pause(); audio.removeAttribute('src'); audio.load(); }
    },
  };
}
