// Supervisor and QA pages: call history with search, a call's timeline, the transfer replay
// drawn as a picture, the review form, the review queue and the stats dashboard.

import { get, post, query } from './api.js';
import { h, field, replace, attempt, showProblem, highlighted, formatTime, formatDuration } from './dom.js';
import { replayPicture, replayTables, barChart, lineChart } from './charts.js';

const STATUSES = ['waiting', 'active', 'transferring', 'ended'];
const STATES = ['initiated', 'briefing', 'connecting', 'completed', 'cancelled', 'declined', 'expired', 'failed', 'abandoned'];

export function render(main, context, parts, params) {
  const [view, id] = parts;
  const run = (draw) => {
    draw().catch((e) => showProblem(e));
    return { leave() {} };
  };
  switch (view) {
    case undefined:
    case '':
      return run(() => history(main, params));
    case 'call':
      return run(() => callPage(main, id));
    case 'transfer':
      return run(() => transferPage(main, id, context));
    case 'queue':
      return run(() => queuePage(main, params));
    case 'stats':
      return run(() => statsPage(main, params));
    default:
      replace(main, h('h1', {}, 'No such page'));
      return { leave() {} };
  }
}

function select(name, options, value) {
  return h('select', { name },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

/** A form whose fields become the page's query string (so a search can be linked to). */
function filterForm(route, controls, params, label) {
  const form = h('form', { class: 'card filters', role: 'search', 'aria-label': label }, controls,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search'), h('a', { href: route }, 'Clear')));
  for (const control of form.querySelectorAll('input, select')) {
    if (params.has(control.name)) control.value = params.get(control.name);
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    for (const control of form.querySelectorAll('input, select')) {
      if (control.value) q.set(control.name, control.value);
    }
    const hash = `${route}${q.toString() ? `?${q}` : ''}`;
    if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = hash;
  });
  return form;
}

/** `2026-11-25` (a date input) as the start of that day in UTC. */
function dayStart(value) {
  return value ? `${value}T00:00:00Z` : undefined;
}

// --- History -----------------------------------------------------------------------------------

async function history(main, params) {
  const filtered = ['status', 'agent', 'has_transfer', 'transfer_state', 'sentiment', 'from', 'until', 'sort'].some((k) => params.get(k));
  const form = filterForm('#/supervisor', [
    field('Search transcripts and summaries', h('input', { name: 'q', type: 'search' }), 'Words, "a phrase", -word, or'),
    h('details', { open: filtered }, h('summary', {}, 'Filters'), h('div', { class: 'row' },
      field('Status', select('status', [['', 'Any'], ...STATUSES.map((s) => [s, s])])),
      field('Agent', h('input', { name: 'agent', autocomplete: 'off' })),
      field('Transferred', select('has_transfer', [['', 'Any'], ['true', 'Yes'], ['false', 'No']])),
      field('Transfer state', select('transfer_state', [['', 'Any'], ...STATES.map((s) => [s, s])])),
      field('Sentiment', select('sentiment', [['', 'Any'], ['positive', 'positive'], ['neutral', 'neutral'], ['negative', 'negative'], ['frustrated', 'frustrated']])),
      field('From', h('input', { name: 'from', type: 'date' })),
      field('Until', h('input', { name: 'until', type: 'date' })),
      field('Order', select('sort', [['', 'Newest first'], ['relevance', 'Best match first']])))),
  ], params, 'Search calls');
  const results = h('div', { id: 'history-results', 'aria-live': 'polite' }, h('p', {}, 'Loading…'));
  replace(main, h('h1', {}, 'Call history'), form, results);

  const filters = {
    q: params.get('q'),
    status: params.get('status'),
    agent: params.get('agent'),
    has_transfer: params.get('has_transfer'),
    transfer_state: params.get('transfer_state'),
    sentiment: params.get('sentiment'),
    created_after: dayStart(params.get('from')),
    created_before: params.get('until') ? new Date(Date.parse(dayStart(params.get('until'))) + 86400000).toISOString() : undefined,
    sort: params.get('q') ? params.get('sort') : undefined,
    limit: 50,
  };
  const rows = h('tbody', {});
  const columns = ['Caller', 'Status', 'Agent', 'Started', filters.q ? 'Where it matched' : 'Issue'];
  const table = h('table', { class: 'calls stacked' },
    h('caption', {}, filters.q ? `Calls matching “${filters.q}”` : 'Calls, newest first'),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    rows);
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More calls');
  let cursor = null;
  async function load() {
    const page = await get(`/v1/calls${query({ ...filters, cursor })}`);
    for (const c of page.items) {
      // Each cell's content in one span: on a phone the cell is a grid of heading and content.
      const cell = (i, attrs, ...content) => h('td', { ...attrs, 'data-label': columns[i] }, h('span', {}, content));
      rows.append(h('tr', {},
        cell(0, {}, h('a', { href: `#/supervisor/call/${c.id}` }, c.caller_name)),
        cell(1, {}, h('span', { class: `badge status-${c.status}` }, c.status)),
        cell(2, {}, c.current_agent || '–'),
        cell(3, {}, formatTime(c.created_at)),
        cell(4, { class: 'snippet' }, filters.q ? highlighted(c.snippet) : c.issue || '')));
    }
    cursor = page.next_cursor || null;
    more.hidden = !cursor;
    return page.items.length;
  }
  const found = await load();
  replace(results, found ? h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Table (scrolls sideways)' }, table) : h('p', {}, 'No call matches.'), more);
  more.addEventListener('click', () => attempt(load));
}

// --- One call ------------------------------------------------------------------------------------

async function callPage(main, id) {
  const [call, transfers, timeline] = await Promise.all([
    get(`/v1/calls/${id}`),
    get(`/v1/transfers${query({ call_id: id, limit: 50 })}`),
    get(`/v1/calls/${id}/timeline?limit=200`),
  ]);
  const start = Date.parse(call.created_at);
  replace(main,
    h('p', {}, h('a', { href: '#/supervisor' }, '← Call history')),
    h('h1', {}, `Call with ${call.caller_name}`),
    h('section', { class: 'card' },
      h('dl', { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', {}, call.status),
        h('dt', {}, 'Phone'), h('dd', {}, call.caller_phone || '–'),
        h('dt', {}, 'Issue'), h('dd', {}, call.issue || '–'),
        h('dt', {}, 'Agents'), h('dd', {}, call.agents.join(', ') || '–'),
        h('dt', {}, 'Started'), h('dd', {}, formatTime(call.created_at)),
        h('dt', {}, 'Ended'), h('dd', {}, formatTime(call.ended_at)))),
    h('section', { class: 'card', 'aria-labelledby': 'call-transfers' },
      h('h2', { id: 'call-transfers' }, 'Transfers'),
      transfers.items.length
        ? h('ul', { class: 'list' }, transfers.items.map((t) => h('li', {},
          h('a', { href: `#/supervisor/transfer/${t.id}` }, `Replay: ${t.from_agent} → ${t.to_agent}`), ' ',
          h('span', { class: `badge state-${t.state}` }, t.state))))
        : h('p', { class: 'hint' }, 'This call was never transferred.')),
    h('section', { class: 'card', 'aria-labelledby': 'call-timeline' },
      h('h2', { id: 'call-timeline' }, 'Timeline'),
      h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Table (scrolls sideways)' },
        h('table', { id: 'timeline' },
          h('thead', {}, h('tr', {}, ['After', 'What', 'Details'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, timeline.items.map((e) => h('tr', {},
            h('td', {}, formatDuration(Date.parse(e.created_at) - start)),
            h('td', {}, e.kind),
            h('td', { class: 'details' }, describe(e)))))))));
}

/** A line about an event's data, without its ids and the time the row already shows. */
function describe(event) {
  const data = event.data || {};
  const parts = Object.entries(data)
    .filter(([k, v]) => v !== null && typeof v !== 'object' && !/(^|_)s?id$/.test(k) && k !== 'at')
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`);
  return parts.join(' · ');
}

// --- One transfer: replay and review -------------------------------------------------------------

async function transferPage(main, id, context) {
  const replay = await get(`/v1/transfers/${id}/replay`);
  const t = replay.transfer;
  const briefing = replay.summaries.find((s) => s.id === replay.briefing_summary_id) || replay.summaries[replay.summaries.length - 1];
  const transcript = h('ol', { class: 'transcript', 'aria-label': 'Transcript up to the hand-off' },
    replay.transcript.map((s) => h('li', { class: `speaker-${s.role}` },
      h('span', { class: 'hint' }, `${formatDuration(s.start_ms)} `), h('b', {}, `${s.speaker}: `), s.text)));
  const reviews = h('div', { id: 'reviews' });
  replace(main,
    h('p', {}, h('a', { href: `#/supervisor/call/${t.call_id}` }, `← Call with ${replay.call.caller_name}`)),
    h('h1', {}, `Transfer ${t.from_agent} → ${t.to_agent}`),
    h('p', {}, h('span', { class: `badge state-${t.state}` }, t.state), t.outcome ? ` (${t.outcome.replace(/_/g, ' ')})` : '', t.reason ? ` · ${t.reason}` : ''),
    h('div', { class: 'replay' },
      h('section', { class: 'card replay-main', 'aria-labelledby': 'replay-heading' },
        h('h2', { id: 'replay-heading' }, 'Replay'),
        h('div', { class: 'picture-scroll', tabindex: 0, role: 'region', 'aria-label': 'Replay picture (scrolls sideways)' }, replayPicture(replay)),
        h('details', {}, h('summary', {}, 'The replay as tables'), replayTables(replay))),
      h('section', { class: 'card replay-side', 'aria-labelledby': 'replay-transcript' },
        h('h2', { id: 'replay-transcript' }, 'Transcript'),
        replay.transcript.length ? transcript : h('p', { class: 'hint' }, 'Nothing was said before the hand-off.'),
        briefing ? h('div', { class: 'briefing' },
          h('h3', {}, 'What the receiving agent was given'),
          h('p', { class: 'summary-text' }, briefing.summary_text),
          h('blockquote', { class: 'script' }, briefing.briefing_script)) : null)),
    h('section', { class: 'card', 'aria-labelledby': 'review-heading' },
      h('h2', { id: 'review-heading' }, 'Reviews'), reviews));
  await drawReviews(reviews, t, context);
}

async function drawReviews(container, transfer, context) {
  const [existing, cards] = await Promise.all([
    get(`/v1/transfers/${transfer.id}/reviews`),
    get('/v1/scorecards?limit=200'),
  ]);
  const list = existing.items.length
    ? h('ul', { class: 'list', id: 'review-list' }, existing.items.map((r) => h('li', {},
      h('strong', {}, `${r.total.toFixed(1)} / 100`), ` by ${r.reviewer} on ${r.scorecard} v${r.scorecard_version}`,
      r.notes ? h('p', {}, r.notes) : null)))
    : h('p', { class: 'hint', id: 'review-list' }, 'Not reviewed yet.');
  if (!cards.items.length) {
    replace(container, list, h('p', { class: 'hint' }, 'No scorecard exists yet: create one with POST /v1/scorecards.'));
    return;
  }
  const chooser = select('scorecard', cards.items.map((c) => [c.name, `${c.name} (v${c.version})`]));
  const criteria = h('fieldset', { class: 'criteria' });
  const notes = h('textarea', { name: 'notes', rows: 3, maxlength: 10000 });
  const needsName = context.access.open || context.access.role === 'admin';
  const reviewer = needsName ? h('input', { name: 'reviewer', required: context.access.open, autocomplete: 'name' }) : null;
  const form = h('form', { id: 'review-form', 'aria-label': 'Review this transfer' },
    field('Scorecard', chooser), criteria, field('Notes', notes),
    reviewer ? field('Reviewer', reviewer) : null,
    h('button', { type: 'submit' }, 'Submit review'));
  const drawCriteria = () => {
    const card = cards.items.find((c) => c.name === chooser.value);
    replace(criteria, h('legend', {}, `Scorecard ${card.name}, version ${card.version}`),
      card.criteria.map((c) => field(`${c.label} (${c.scale.min}–${c.scale.max}, weight ${c.weight})`,
        h('input', { type: 'number', name: c.key, min: c.scale.min, max: c.scale.max, step: 1, required: true, dataset: { criterion: c.key } }))));
  };
  chooser.addEventListener('change', drawCriteria);
  drawCriteria();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    attempt(async () => {
      const scores = {};
      for (const input of criteria.querySelectorAll('input[data-criterion]')) scores[input.dataset.criterion] = Number(input.value);
      const review = await post(`/v1/transfers/${transfer.id}/reviews`, {
        scorecard: chooser.value,
        scores,
        notes: notes.value.trim() || null,
        reviewer: reviewer && reviewer.value.trim() ? reviewer.value.trim() : null,
      });
      await drawReviews(container, transfer, context);
      container.prepend(h('p', { class: 'success', role: 'status', id: 'review-saved' }, `Review saved: ${review.total.toFixed(1)} / 100.`));
    });
  });
  replace(container, list, h('h3', {}, 'Add a review'), form);
}

// --- Review queue ------------------------------------------------------------------------------

async function queuePage(main, params) {
  const form = filterForm('#/supervisor/queue', [h('div', { class: 'row' },
    field('Receiving agent', h('input', { name: 'agent', autocomplete: 'off' })),
    field('ISO week', h('input', { name: 'week', placeholder: '2026-W48', pattern: '\\d{4}-W\\d{2}' })),
    field('Sample per agent', h('input', { name: 'sample_per_agent', type: 'number', min: 1, max: 100 })))], params, 'Filter the review queue');
  const page = await get(`/v1/reviews/queue${query({
    agent: params.get('agent'), week: params.get('week'), sample_per_agent: params.get('sample_per_agent'), limit: 100,
  })}`);
  replace(main, h('h1', {}, 'Transfers waiting for review'), form,
    page.items.length
      ? h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Table (scrolls sideways)' }, h('table', { id: 'review-queue' },
        h('thead', {}, h('tr', {}, ['Transfer', 'Outcome', 'Started', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, page.items.map((t) => h('tr', { dataset: { transferId: t.id } },
          h('td', {}, `${t.from_agent} → ${t.to_agent}`),
          h('td', {}, h('span', { class: `badge state-${t.state}` }, t.state), t.outcome ? ` ${t.outcome.replace(/_/g, ' ')}` : ''),
          h('td', {}, formatTime(t.initiated_at)),
          h('td', {}, h('a', { href: `#/supervisor/transfer/${t.id}` }, `Review ${t.from_agent} → ${t.to_agent}`)))))))
      : h('p', { id: 'review-queue-empty' }, 'Nothing is waiting for review.'));
}

// --- Stats -------------------------------------------------------------------------------------

const percent = (v) => (v === null || v === undefined ? '–' : `${Math.round(v * 100)} %`);

async function statsPage(main, params) {
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400000);
  const iso = (d) => d.toISOString().slice(0, 10);
  const from = params.get('from') || iso(weekAgo);
  const until = params.get('until') || iso(today);
  const form = filterForm('#/supervisor/stats', [h('div', { class: 'row' },
    field('From', h('input', { name: 'from', type: 'date', value: from })),
    field('Until', h('input', { name: 'until', type: 'date', value: until })),
    field('Agent', h('input', { name: 'agent', autocomplete: 'off' })),
    field('Team', h('input', { name: 'team', autocomplete: 'off' })))], params, 'Stats range');
  const stats = await get(`/v1/stats${query({
    from: dayStart(from),
    to: new Date(Date.parse(dayStart(until)) + 86400000).toISOString(),
    agent: params.get('agent'),
    team: params.get('team'),
    bucket: 'day',
  })}`);
  const totals = stats.totals;
  const series = stats.series || [];
  const labels = series.map((b) => b.start.slice(5, 10));
  const figure = (label, value) => h('div', { class: 'figure' }, h('span', { class: 'figure-value' }, value), h('span', { class: 'figure-label' }, label));
  const pct = (p) => `${formatDuration(p.p50_ms)} / ${formatDuration(p.p90_ms)}`;
  replace(main,
    h('h1', {}, 'Transfer stats'), form,
    h('section', { class: 'card', 'aria-labelledby': 'stats-totals' },
      h('h2', { id: 'stats-totals' }, 'The range'),
      h('div', { class: 'figures' },
        figure('transfers', String(totals.transfers)),
        figure('completion rate', percent(totals.completion_rate)),
        figure('abandoned rate', percent(totals.abandoned_rate)),
        figure('time to accept, p50 / p90', pct(totals.time_to_accept)),
        figure('briefing, p50 / p90', pct(totals.briefing)),
        figure('hand-off gap, p50 / p90', pct(totals.handoff_gap)))),
    h('div', { class: 'charts' },
      h('section', { class: 'card', 'aria-labelledby': 'chart-transfers-h' },
        h('h2', { id: 'chart-transfers-h' }, 'Transfers per day'),
        barChart({ id: 'chart-transfers', title: 'Transfers started per day', labels, values: series.map((b) => b.transfers) })),
      h('section', { class: 'card', 'aria-labelledby': 'chart-rates-h' },
        h('h2', { id: 'chart-rates-h' }, 'Completion and abandoned rates per day'),
        lineChart({ id: 'chart-rates', title: 'Completion rate and abandoned rate per day', labels, series: [
          { name: 'completion rate', values: series.map((b) => b.completion_rate), cls: 'completion' },
          { name: 'abandoned rate', values: series.map((b) => b.abandoned_rate), cls: 'abandoned' },
        ] }),
        h('p', { class: 'legend' }, h('span', { class: 'key completion' }, 'completion'), ' ', h('span', { class: 'key abandoned' }, 'abandoned'))),
      h('section', { class: 'card', 'aria-labelledby': 'chart-states-h' },
        h('h2', { id: 'chart-states-h' }, 'Transfers by state'),
        barChart({ id: 'chart-states', title: 'Transfers in the range by state', labels: STATES, values: STATES.map((s) => totals.by_state[s]) }))),
    h('section', { class: 'card', 'aria-labelledby': 'stats-table' },
      h('h2', { id: 'stats-table' }, 'Per day'),
      h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Table (scrolls sideways)' }, h('table', { id: 'stats-series' },
        h('thead', {}, h('tr', {}, ['Day', 'Transfers', 'Ended', 'Completion', 'Abandoned', 'Accept p50', 'Briefing p50'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, series.map((b) => h('tr', {},
          h('td', {}, b.start.slice(0, 10)), h('td', {}, b.transfers), h('td', {}, b.ended),
          h('td', {}, percent(b.completion_rate)), h('td', {}, percent(b.abandoned_rate)),
          h('td', {}, formatDuration(b.time_to_accept.p50_ms)), h('td', {}, formatDuration(b.briefing.p50_ms))))))),
      totals.top_decliners.length
        ? h('div', {}, h('h3', {}, 'Declined most'), h('ol', {}, totals.top_decliners.map((d) => h('li', {}, `${d.agent}: ${d.declined}`))))
        : null));
}
