// The evaluation form panel of a call page: every question with its automatic answer and
// the evidence behind it (play from a flag), the reviewer's override with a comment,
// manual answers, the automatic / own / final scores, and calibration when two reviewers
// scored the call. Data: GET /forms/{id}, GET and PUT /calls/{id}/evaluation[...].
import { api, get } from './api.js';
import { intentTitle, ruleTitle } from './catalogue.js';
import { clock, h } from './dom.js';
import './forms-i18n.js';
import { getLang, label, t } from './i18n.js';

const OPS = { '<=': '≤', '>=': '≥', '<': '<', '>': '>' };

function num(value) {
  if (typeof value !== 'number') return t('none');
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function valueText(value) {
  return t(`form.value.${value || 'none'}`);
}

function scoreText(score) {
  return typeof score === 'number' ? `${score % 1 ? score.toFixed(1) : score}` : t('none');
}

function evidenceLine(ev, seek) {
  if (!ev) return null;
  const box = h('div', { class: 'q-evidence', 'data-source': ev.source });
  if (ev.source === 'rule') {
    const rule = h('span', { title: ev.rule_id }, ruleTitle(ev.rule_id));
    box.append(ev.count
      ? h('span', {}, t('form.ev.rule.flagged', { n: ev.count, rule: '' }), rule)
      : h('span', {}, t('form.ev.rule.clean', { rule: '' }), rule));
    for (const flag of ev.flags || []) {
      if (flag.start === null || flag.start === undefined) continue;
      // no player on the page (no recording, or a role that may not hear it): the quote only
      box.append(seek ? h('button', { type: 'button', class: 'evidence', 'data-start': flag.start,
        'aria-label': t('call.flag.play', { time: clock(flag.start) }), onclick: () => seek(flag.start) },
      h('span', { class: 'ts' }, `▶ ${clock(flag.start)}`),
      flag.quote ? h('blockquote', {}, flag.quote) : null)
        : h('div', { class: 'evidence-text' }, h('span', { class: 'ts' }, clock(flag.start)),
          flag.quote ? h('blockquote', {}, flag.quote) : null));
    }
  } else if (ev.source === 'metric') {
    const metric = label('metric', ev.metric);
    box.append(ev.measured === null || ev.measured === undefined
      ? t('form.ev.metric.missing', { metric })
      : t('form.ev.metric', { metric, measured: num(ev.measured), op: OPS[ev.op] || ev.op, limit: num(ev.limit) }));
  } else if (ev.source === 'intent') {
    box.append(t('form.ev.intent', { intent: intentTitle(ev.primary_intent) }));
  } else if (ev.source === 'sentiment') {
    box.append(ev.label
      ? t('form.ev.sentiment.label', { label: label('sentiment', ev.label) })
      : t('form.ev.sentiment.score', { side: t(`form.side.${ev.side}`), measured: num(ev.measured), min: num(ev.min) }));
  } else if (ev.source === 'applies_if') {
    box.append(t('form.ev.applies', { intent: intentTitle(ev.primary_intent) }));
  } else {
    box.append(t('form.ev.manual'));
  }
  return box;
}

// opts: {callId, who, seek, toast}
export function evaluationPanel({ callId, who, seek, toast }) {
  const canEdit = who.role === 'qa' || who.role === 'admin';
  const section = h('section', { class: 'panel', id: 'evaluation', 'aria-labelledby': 'evaluation-title' },
    h('h2', { id: 'evaluation-title' }, t('form.title')), h('p', { class: 'muted' }, t('loading')));
  let form = null;
  let data = null;
  const path = `/calls/${encodeURIComponent(callId)}/evaluation`;

  function mine() {
    return (data.reviews || []).find((r) => r.reviewer === who.name) || null;
  }

  function scores() {
    const own = mine();
    const final = data.final;
    const finalLabel = final && final.kind === 'review'
      ? t('form.final.by', { name: final.reviewer }) : t('form.final.auto');
    const passBadge = final && final.passed !== null
      ? h('span', { class: `badge ${final.passed ? 'pass' : 'fail'}`, id: 'form-passed' },
        t(final.passed ? 'form.pass' : 'form.fail')) : null;
    return h('div', { class: 'form-scores' },
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, t('form.auto')), h('dd', { id: 'form-auto-score' }, scoreText(data.auto?.score))),
        own ? h('div', {}, h('dt', {}, t('form.mine')), h('dd', { id: 'form-my-score' }, scoreText(own.score))) : null,
        h('div', {}, h('dt', {}, finalLabel), h('dd', { id: 'form-final-score' }, scoreText(final?.score), ' ', passBadge))),
      final && final.critical_failed.length ? h('p', { class: 'error', id: 'form-critical' }, t('form.critical.failed')) : null,
      final && final.unanswered.length ? h('p', { class: 'muted' }, t('form.unanswered', { n: final.unanswered.length })) : null);
  }

  function questionItem(q, auto, own) {
    const base = auto || {};
    const shown = own && own.by_reviewer ? own : base;
    const li = h('li', { class: 'q', 'data-q': q.id, 'data-value': (own ? own.value : base.value) || '',
      'data-overridden': own && own.overridden ? '1' : '' },
    h('div', { class: 'q-head' },
      h('span', { class: `badge ans ans-${(own ? own.value : base.value) || 'none'}` }, valueText(own ? own.value : base.value)),
      h('span', { class: 'q-text' }, q.text[getLang()] || q.text.en),
      q.critical ? h('span', { class: 'badge sev-critical' }, t('form.critical')) : null,
      h('span', { class: 'muted q-weight' }, t('form.weight', { n: q.weight }))),
    q.source === 'manual' ? null : evidenceLine(base.evidence, seek));
    if (shown.by_reviewer) {
      const text = own.overridden
        ? t('form.overridden', { name: own.answered_by, comment: own.comment || '' })
        : own.comment ? t('form.answered.comment', { name: own.answered_by, comment: own.comment })
          : t('form.answered', { name: own.answered_by });
      li.append(h('p', { class: 'q-by' }, text));
    }
    if (canEdit) {
      const id = `q-${q.id}`;
      const current = own && own.by_reviewer ? own.value : '';
      const firstLabel = q.source === 'manual' ? t('form.answer.none')
        : t('form.answer.auto', { value: valueText(base.value) });
      const select = h('select', { id, class: 'q-value', 'data-q': q.id, 'data-initial': current },
        h('option', { value: '', selected: current === '' }, firstLabel),
        ['yes', 'no', 'na'].map((v) => h('option', { value: v, selected: current === v }, valueText(v))));
      const comment = h('input', { type: 'text', id: `${id}-comment`, class: 'q-comment', maxlength: 4000,
        value: (own && own.by_reviewer && own.comment) || '', 'data-initial': (own && own.by_reviewer && own.comment) || '' });
      li.append(h('div', { class: 'q-edit' },
        h('label', { class: 'field', for: id }, h('span', {}, t('form.answer')), select),
        h('label', { class: 'field grow', for: `${id}-comment` }, h('span', {}, t('form.comment')), comment)));
    }
    return li;
  }

  function calibrationBlock() {
    if ((data.reviews || []).length < 2) return null;
    const box = h('div', { id: 'calibration', class: 'calibration' }, h('h3', {}, t('form.calibration')),
      h('p', { class: 'muted' }, t('loading')));
    get(`${path}/calibration`, { form_id: data.form_id }).then((cal) => {
      const titles = Object.fromEntries(form.sections.flatMap((s) => s.questions).map((q) => [q.id, q.text[getLang()] || q.text.en]));
      box.replaceChildren(h('h3', {}, t('form.calibration')),
        h('p', { id: 'calibration-agreement' }, t('form.calibration.agreement', {
          pct: `${Math.round((cal.agreement || 0) * 100)}%`, spread: scoreText(cal.score_spread) })),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('form.calibration.question')),
          cal.reviewers.map((r) => h('th', { scope: 'col' }, r)), h('th', { scope: 'col' }, t('form.calibration.agree')))),
        h('tbody', {}, cal.questions.map((q) => h('tr', { 'data-q': q.question_id, 'data-agree': q.agree ? '1' : '0' },
          h('th', { scope: 'row' }, titles[q.question_id] || q.question_id),
          cal.reviewers.map((r) => h('td', {}, valueText(q.values[r]))),
          h('td', {}, t(q.agree ? 'form.calibration.yes' : 'form.calibration.no')))))));
    }).catch((err) => box.replaceChildren(h('p', { class: 'error' }, t('error', { message: err.message }))));
    return box;
  }

  async function save(submit) {
    const answers = [];
    for (const select of section.querySelectorAll('select.q-value')) {
      const comment = section.querySelector(`#${CSS.escape(select.id)}-comment`);
      const changed = select.value !== select.dataset.initial || comment.value.trim() !== comment.dataset.initial;
      if (!changed) continue;
      answers.push({ question_id: select.dataset.q, value: select.value || null,
        comment: comment.value.trim() || null });
    }
    const status = section.querySelector('#form-status');
    if (!answers.length && !submit) { status.textContent = t('form.nochange'); return; }
    for (const b of section.querySelectorAll('button.form-save')) b.disabled = true;
    try {
      data = await api('PUT', `${path}/answers`, { body: { form_id: data.form_id, answers, submit } });
      toast(t(submit ? 'form.submitted' : 'form.saved'));
      draw();
    } catch (err) {
      const message = err.code === 'comment_required' ? t('form.comment.needed') : err.message;
      status.textContent = t('error', { message });
      status.classList.add('error');
      for (const b of section.querySelectorAll('button.form-save')) b.disabled = false;
    }
  }

  function draw() {
    const own = mine();
    const autoBy = Object.fromEntries((data.auto?.answers || []).map((a) => [a.question_id, a]));
    const ownBy = Object.fromEntries((own?.answers || []).map((a) => [a.question_id, a]));
    const sections = form.sections.map((s) => h('fieldset', { class: 'form-section', 'data-section': s.id },
      h('legend', {}, s.title[getLang()] || s.title.en),
      h('ol', { class: 'questions' }, s.questions.map((q) => questionItem(q, autoBy[q.id], ownBy[q.id])))));
    section.replaceChildren(...[h('h2', { id: 'evaluation-title' }, t('form.title'), ' · ',
      h('span', { class: 'form-name', title: form.id }, form.title[getLang()] || form.title.en)),
    scores(), ...sections,
    canEdit ? h('div', { class: 'form-actions' },
      h('button', { type: 'button', class: 'form-save', id: 'form-save', onclick: () => save(false) }, t('form.save')),
      h('button', { type: 'button', class: 'form-save primary', id: 'form-submit', onclick: () => save(true) }, t('form.submit')),
      h('span', { id: 'form-status', class: 'muted', 'aria-live': 'polite' })) : null,
    calibrationBlock()].filter(Boolean));
  }

  (async () => {
    try {
      data = await get(path);
      form = await get(`/forms/${encodeURIComponent(data.form_id)}`);
      draw();
    } catch (err) {
      section.replaceChildren(h('h2', { id: 'evaluation-title' }, t('form.title')),
        h('p', { class: 'muted' }, err.code === 'not_analysed' ? t('form.notanalysed') : t('error', { message: err.message })));
    }
  })();
  return section;
}
