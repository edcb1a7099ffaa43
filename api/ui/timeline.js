// The call timeline above the transcript: a waveform per speaker (GET /calls/{id}/peaks,
// computed once on the server), flags as markers, the customer's sentiment as a curve
// (one point per customer utterance), dead air and overtalk as bands (the spans the
// metrics count), and a playhead. A click anywhere, or the arrow keys, seeks. Also the
// talk-ratio bar and the key metrics as a strip. SVG only, no library.
import { get } from './api.js';
import { ruleTitle } from './catalogue.js';
import { clock, h, s } from './dom.js';
import { label, t } from './i18n.js';

const W = 1000; // viewBox width; the SVG stretches to the panel (no text inside it)
const FLAG_H = 12;
const LANE_H = 38;
const SENT_H = 46;
const ROLES = ['agent', 'customer'];

function niceStep(duration) {
  for (const step of [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800]) {
    if (duration / step <= 8) return step;
  }
  return 3600;
}

// Spans of each role from the transcript, for splitting a mono envelope by speaker.
function roleSpans(utterances) {
  const out = { agent: [], customer: [] };
  for (const u of utterances) if (out[u.role]) out[u.role].push([u.start, u.end]);
  return out;
}

function covered(spans, time) {
  return spans.some(([a, b]) => time >= a && time < b);
}

// One column per viewBox unit: the loudest bin inside it.
function columns(peaks, binS, duration, keep) {
  const cols = new Array(W).fill(0);
  peaks.forEach((p, i) => {
    const time = i * binS;
    if (time > duration || (keep && !keep(time + binS / 2))) return;
    const c = Math.min(W - 1, Math.floor((time / duration) * W));
    if (p > cols[c]) cols[c] = p;
  });
  return cols;
}

function wavePath(cols, top, height, scale) {
  const mid = top + height / 2;
  const half = height / 2 - 1;
  const up = cols.map((v, x) => `${x},${(mid - (v / scale) * half).toFixed(1)}`);
  const down = cols.map((v, x) => `${x},${(mid + (v / scale) * half).toFixed(1)}`).reverse();
  return `M0,${mid} L${up.join(' L')} L${W},${mid} L${down.join(' L')} Z`;
}

export function timeline({ callId, detail, seek }) {
  const panel = h('section', { class: 'panel timeline', id: 'timeline', 'aria-labelledby': 'timeline-title' },
    h('h2', { id: 'timeline-title' }, t('timeline.title')),
    h('p', { class: 'muted' }, t('loading')));
  let svg = null;
  let playhead = null;
  let duration = 0;

  function draw(peaks) {
    const utts = detail.transcript?.utterances || [];
    duration = peaks?.duration || detail.transcript?.duration || detail.call.duration || 0;
    if (!(duration > 0)) { panel.lastChild.textContent = t('none'); return; }
    const x = (time) => Math.max(0, Math.min(W, (time / duration) * W));
    const lanesTop = FLAG_H + 2;
    const sentTop = lanesTop + ROLES.length * LANE_H + 4;
    const height = sentTop + SENT_H;
    svg = s('svg', { class: 'timeline-chart', viewBox: `0 0 ${W} ${height}`, preserveAspectRatio: 'none',
      width: '100%', height, 'aria-hidden': 'true', id: 'timeline-svg', 'data-duration': duration });

    // bands under everything: dead air, hold stretches (announced silences) and overtalk
    const bands = [['silence', peaks?.silence || []], ['hold', peaks?.hold || []], ['overtalk', peaks?.overtalk || []]];
    for (const [kind, spans] of bands) {
      for (const [a, b] of spans) {
        svg.append(s('rect', { class: `band ${kind}`, x: x(a), width: Math.max(1, x(b) - x(a)),
          y: lanesTop, height: ROLES.length * LANE_H, 'data-start': a, 'data-end': b },
        s('title', {}, `${t(`timeline.${kind}`)} ${clock(a)}–${clock(b)}`)));
      }
    }
    // a waveform per speaker: the stereo channel of that role, or the mono envelope
    // where that role's utterances are
    const scale = Math.max(1, ...(peaks?.channels || []).flatMap((c) => c.peaks));
    const spans = roleSpans(utts);
    ROLES.forEach((role, n) => {
      const top = lanesTop + n * LANE_H;
      svg.append(s('line', { class: 'lane-axis', x1: 0, x2: W, y1: top + LANE_H / 2, y2: top + LANE_H / 2 }));
      if (!peaks) return;
      const channel = peaks.split === 'channel' ? peaks.channels.find((c) => c.role === role) : peaks.channels[0];
      if (!channel) return;
      const keep = peaks.split === 'channel' ? null : (time) => covered(spans[role], time);
      svg.append(s('path', { class: `wave role-${role}`, 'data-role': role,
        d: wavePath(columns(channel.peaks, peaks.bin_s, duration, keep), top + 2, LANE_H - 4, scale) }));
    });
    // customer sentiment, -1..1, one point per customer utterance
    const scores = detail.analysis?.utterance_sentiment || [];
    const mid = sentTop + SENT_H / 2;
    const yOf = (v) => mid - v * (SENT_H / 2 - 3);
    svg.append(s('line', { class: 'sent-zero', x1: 0, x2: W, y1: mid, y2: mid }));
    const points = utts.map((u, i) => (u.role === 'customer' && Number.isFinite(scores[i])
      ? [x((u.start + u.end) / 2), yOf(scores[i]), scores[i]] : null)).filter(Boolean);
    if (points.length === 1) points.push([points[0][0] + 4, points[0][1], points[0][2]]);
    if (points.length) {
      svg.append(s('polyline', { class: 'sentiment-curve', fill: 'none', 'data-points': points.length,
        points: points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ') }));
    }
    // flags: a marker at each piece of evidence in an utterance (whole-call flags have none)
    const full = detail.analysis?.flags || [];
    (detail.flags || []).forEach((flag, i) => {
      const evidence = full[i] && full[i].rule_id === flag.rule_id ? full[i].evidence
        : [{ utterance: flag.start === null ? null : 0, start: flag.start }];
      for (const ev of evidence) {
        if (ev.utterance === null || ev.utterance === undefined || !Number.isFinite(ev.start)) continue;
        svg.append(s('rect', { class: `flag-mark sev-${flag.severity}`, x: x(ev.start) - 1.5, width: 3,
          y: 0, height, 'data-start': ev.start, 'data-rule': flag.rule_id, 'data-key': flag.key },
        s('title', {}, `${ruleTitle(flag.rule_id)} ${clock(ev.start)}`)));
        svg.append(s('rect', { class: `flag-head sev-${flag.severity}`, x: x(ev.start) - 5, width: 10,
          y: 0, height: FLAG_H }));
      }
    });
    playhead = s('line', { class: 'playhead', x1: 0, x2: 0, y1: 0, y2: height });
    svg.append(playhead);

    // the surface a click or a key seeks on: time from the pointer's place in the box
    const surface = h('div', { class: 'timeline-surface', tabindex: '0', role: 'slider', id: 'timeline-surface',
      'aria-label': t('timeline.seek'), 'aria-valuemin': 0, 'aria-valuemax': Math.round(duration),
      'aria-valuenow': 0, 'aria-valuetext': clock(0),
      onclick: (event) => {
        const box = svg.getBoundingClientRect();
        const time = ((event.clientX - box.left) / box.width) * duration;
        seek(Math.max(0, Math.min(duration, time)));
      },
      onkeydown: (event) => {
        const now = Number(surface.getAttribute('aria-valuenow')) || 0;
        const step = { ArrowLeft: -5, ArrowRight: 5, PageDown: -30, PageUp: 30 }[event.key];
        if (step === undefined) return;
        event.preventDefault();
        event.stopPropagation();
        seek(Math.max(0, Math.min(duration, now + step)));
      } }, svg);
    const laneLabels = ROLES.map((role, n) => {
      const el = h('span', { class: 'lane-label' }, label('speaker', role));
      el.style.top = `${lanesTop + n * LANE_H + 1}px`;
      return el;
    });
    const sentLabel = h('span', { class: 'lane-label' }, t('timeline.sentiment'));
    sentLabel.style.top = `${sentTop + 1}px`;
    const ticks = h('div', { class: 'timeline-ticks', 'aria-hidden': 'true' });
    const step = niceStep(duration);
    for (let at = 0; at <= duration; at += step) {
      const tick = h('span', {}, clock(at));
      tick.style.left = `${(at / duration) * 100}%`;
      ticks.append(tick);
    }
    const legend = h('ul', { class: 'timeline-legend' },
      ROLES.map((role) => h('li', {}, h('i', { class: `sw role-${role}` }), label('speaker', role))),
      h('li', {}, h('i', { class: 'sw sentiment' }), t('timeline.sentiment')),
      h('li', {}, h('i', { class: 'sw silence' }), t('timeline.silence')),
      peaks?.hold?.length ? h('li', {}, h('i', { class: 'sw hold' }), t('timeline.hold')) : null,
      h('li', {}, h('i', { class: 'sw overtalk' }), t('timeline.overtalk')),
      h('li', {}, h('i', { class: 'sw flag' }), t('timeline.flag')),
      peaks?.redacted ? h('li', { class: 'muted' }, t('timeline.toned')) : null,
      peaks ? null : h('li', { class: 'muted' }, t('timeline.nowave')));
    panel.replaceChildren(panel.firstChild,
      h('div', { class: 'timeline-box' }, surface, laneLabels, sentLabel), ticks, legend);
  }

  const redacted = detail.redacted ? '?redacted=true' : '';
  if (detail.audio_url) {
    get(`/calls/${encodeURIComponent(callId)}/peaks${redacted}`).then(draw, () => draw(null));
  } else {
    draw(null);
  }

  return {
    el: panel,
    update(time) {
      if (!playhead || !(duration > 0)) return;
      const px = Math.max(0, Math.min(W, (time / duration) * W));
      playhead.setAttribute('x1', px);
      playhead.setAttribute('x2', px);
      const surface = panel.querySelector('.timeline-surface');
      surface.setAttribute('aria-valuenow', Math.round(time * 10) / 10);
      surface.setAttribute('aria-valuetext', clock(time));
    },
  };
}

function pct(part, whole) { return whole > 0 ? Math.round((part / whole) * 100) : 0; }

function num(value, digits = 1) {
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

// The key metrics as one strip, the talk ratio as a bar; every metric in a disclosure.
export function metricsPanel(detail) {
  const m = detail.analysis?.metrics;
  if (!m) return null;
  const agent = m.agent_talk_s || 0;
  const customer = m.customer_talk_s || 0;
  const total = Math.max(m.duration_s || 0, agent + customer);
  const quiet = Math.max(0, total - agent - customer);
  const segment = (cls, seconds, text) => {
    const el = h('span', { class: `seg ${cls}`, title: `${text}: ${num(seconds)} s` });
    el.style.width = `${total ? (seconds / total) * 100 : 0}%`;
    return el;
  };
  const talk = agent + customer;
  const bar = h('div', { class: 'talk-bar', id: 'talk-bar', role: 'img', 'data-agent': pct(agent, talk),
    'aria-label': t('metrics.talk', { agent: pct(agent, talk), customer: pct(customer, talk) }) },
  segment('role-agent', agent, label('speaker', 'agent')),
  segment('role-customer', customer, label('speaker', 'customer')),
  segment('quiet', quiet, t('metrics.quiet')));
  const sentiment = (v) => (Number.isFinite(v) ? (v > 0 ? `+${v.toFixed(2)}` : v.toFixed(2)) : t('none'));
  const chips = [
    ['call.duration', clock(m.duration_s)],
    ['metric.agent_talk_share', `${Math.round((m.agent_talk_share || 0) * 100)}%`],
    ['metric.dead_air_total_s', `${num(m.dead_air_total_s || 0)} (${m.dead_air_count || 0}×)`],
    ['metric.dead_air_longest_s', num(m.dead_air_longest_s || 0)],
    ['metric.overtalk_s', num(m.overtalk_s || 0)],
    ['metric.agent_interruptions', String(m.agent_interruptions || 0)],
    ['metric.agent_response_latency_s', num(m.agent_response_latency_s || 0)],
    ['metrics.rates', `${num(m.agent_speech_rate_per_min || 0, 0)} / ${num(m.customer_speech_rate_per_min || 0, 0)}`],
    ['metrics.sentiment', `${sentiment(m.customer_sentiment_start)} → ${sentiment(m.customer_sentiment_end)}`],
    ['metric.customer_escalated', m.customer_escalated ? t('metrics.yes') : t('metrics.no')],
  ];
  const all = Object.keys(m).sort().map((name) => h('tr', {},
    h('th', { scope: 'row' }, label('metric', name)),
    h('td', { class: 'num' }, typeof m[name] === 'number' ? num(m[name], 2) : String(m[name]))));
  return h('section', { class: 'panel', 'aria-labelledby': 'metrics-title', id: 'metrics' },
    h('h2', { id: 'metrics-title' }, t('call.metrics')),
    h('div', { class: 'talk-ratio' },
      h('span', { class: 'talk-text' }, t('metrics.talk', { agent: pct(agent, talk), customer: pct(customer, talk) })),
      bar),
    h('dl', { class: 'metric-strip', id: 'metric-strip' },
      chips.map(([key, value]) => h('div', {}, h('dt', {}, t(key)), h('dd', {}, value)))),
    h('details', { class: 'all-metrics' }, h('summary', {}, t('metrics.all')),
      h('table', {}, h('tbody', {}, all))));
}
