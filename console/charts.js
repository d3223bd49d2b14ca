// Pictures drawn as inline SVG: the transfer replay (rooms as lanes on one time axis) and the
// stats charts. Each comes with a title and a text table beside it.

import { h, s, formatDuration } from './dom.js';

const TERMINAL = ['completed', 'cancelled', 'declined', 'expired', 'failed', 'abandoned'];

/** The moments a replay spans: from the first thing seen to the last. */
function replaySpan(replay) {
  const times = [Date.parse(replay.transfer.initiated_at)];
  for (const step of replay.steps) times.push(Date.parse(step.at));
  for (const room of replay.rooms) {
    for (const p of room.participants) {
      if (p.joined_at) times.push(Date.parse(p.joined_at));
      if (p.left_at) times.push(Date.parse(p.left_at));
    }
  }
  const start = Math.min(...times);
  let end = Math.max(...times);
  const last = replay.steps[replay.steps.length - 1];
  if (!last || !TERMINAL.includes(last.state)) end = Math.max(end, Date.now());
  if (end - start < 1000) end = start + 1000;
  return { start, end };
}

function roomLabel(replay, room) {
  if (room === replay.transfer.caller_room) return "Caller's room";
  if (room === replay.transfer.briefing_room) return 'Briefing room';
  return room;
}

/** Round steps for a time axis of `span` ms: about six ticks. */
function tickStep(span) {
  const raw = span / 6;
  const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000];
  return steps.find((x) => x >= raw) || 3600000;
}

/**
 * The replay as a picture: a band of the transfer's states and phase durations on top, then
 * one lane per room with a bar per participant session, all on one time axis.
 */
export function replayPicture(replay) {
  const { start, end } = replaySpan(replay);
  const lanes = replay.rooms.map((room) => {
    const identities = [...new Set(room.participants.map((p) => p.identity))];
    return { room, identities };
  });
  const width = 760;
  const left = 120;
  const right = 20;
  const rowHeight = 22;
  const laneGap = 14;
  const bandTop = 40;
  const bandHeight = 30;
  let y = bandTop + bandHeight + 24;
  const plotWidth = width - left - right;
  const x = (t) => left + ((t - start) / (end - start)) * plotWidth;
  const endOfTransfer = end;
  const lanesHeight = lanes.reduce((sum, l) => sum + Math.max(1, l.identities.length) * rowHeight + 8 + laneGap, 0);
  const axisY = y + lanesHeight + 4;

  const children = [];
  children.push(s('title', { id: 'replay-title' }, `Replay of transfer ${replay.transfer.id}: rooms, participants and states over time`));

  // States as a band of phases, each labelled with its state and duration.
  replay.steps.forEach((step, i) => {
    const from = Date.parse(step.at);
    const next = replay.steps[i + 1];
    const to = next ? Date.parse(next.at) : TERMINAL.includes(step.state) ? from : endOfTransfer;
    const x0 = x(from);
    const x1 = Math.max(x(to), x0 + 2);
    children.push(
      s('g', { class: `phase state-${step.state}`, 'data-state': step.state },
        s('rect', { x: x0, y: bandTop, width: x1 - x0, height: bandHeight, rx: 3 }),
        s('line', { class: 'marker', x1: x0, x2: x0, y1: bandTop - 6, y2: axisY }),
        s('text', { x: x0 + 3, y: bandTop - 8 - (i % 2) * 14, class: 'state-label' }, step.state),
        x1 - x0 > 60
          ? s('text', { x: x0 + 5, y: bandTop + 19, class: 'phase-label' }, next ? formatDuration(to - from) : '')
          : null,
      ),
    );
  });
  children.push(s('text', { x: 8, y: bandTop + 19, class: 'lane-label' }, 'Transfer'));

  // One lane per room; a row per identity; a bar per session.
  for (const lane of lanes) {
    const laneTop = y;
    const laneHeight = Math.max(1, lane.identities.length) * rowHeight + 8;
    const group = s('g', { class: 'lane', 'data-room': lane.room.room });
    group.append(
      s('rect', { class: 'lane-bg', x: 0, y: laneTop, width, height: laneHeight }),
      s('text', { class: 'lane-label', x: 8, y: laneTop + 16 }, roomLabel(replay, lane.room.room)),
    );
    lane.identities.forEach((identity, row) => {
      const rowY = laneTop + 4 + row * rowHeight;
      for (const p of lane.room.participants.filter((q) => q.identity === identity)) {
        const from = p.joined_at ? Date.parse(p.joined_at) : start;
        const to = p.left_at ? Date.parse(p.left_at) : end;
        const x0 = x(from);
        const x1 = Math.max(x(to), x0 + 3);
        group.append(
          s('g', { class: `presence role-${p.role || 'other'}` },
            s('rect', { x: x0, y: rowY + 2, width: x1 - x0, height: rowHeight - 6, rx: 4 },
              s('title', {}, `${identity} in ${lane.room.room}: ${p.joined_at || '?'} – ${p.left_at || 'still there'}`)),
            s('text', { class: 'bar-label', x: x0 + 4, y: rowY + 15 }, identity),
          ),
        );
      }
    });
    if (lane.identities.length === 0) {
      group.append(s('text', { class: 'empty', x: left + 4, y: laneTop + 16 }, 'nobody was seen in this room'));
    }
    children.push(group);
    y += laneHeight + laneGap;
  }

  // The time axis, in seconds from the first moment shown.
  const step = tickStep(end - start);
  const axis = s('g', { class: 'axis' }, s('line', { x1: left, x2: width - right, y1: axisY, y2: axisY }));
  for (let t = 0; t <= end - start; t += step) {
    axis.append(
      s('line', { x1: x(start + t), x2: x(start + t), y1: axisY, y2: axisY + 5 }),
      s('text', { x: x(start + t), y: axisY + 18, 'text-anchor': 'middle' }, formatDuration(t)),
    );
  }
  children.push(axis);
  const height = axisY + 28;
  return s('svg', {
    class: 'replay-picture',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-labelledby': 'replay-title',
    preserveAspectRatio: 'xMinYMin meet',
  }, children);
}

/** The replay's facts as tables: states with their times, and who was in each room when. */
export function replayTables(replay) {
  const t0 = Date.parse(replay.transfer.initiated_at);
  const d = replay.durations || {};
  return h('div', { class: 'replay-tables' },
    h('table', {},
      h('caption', {}, 'States'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'At'), h('th', { scope: 'col' }, 'After'))),
      h('tbody', {}, replay.steps.map((step) =>
        h('tr', {}, h('td', {}, step.state), h('td', {}, new Date(step.at).toLocaleTimeString()), h('td', {}, formatDuration(step.after_ms)))))),
    h('table', {},
      h('caption', {}, 'Phase durations'),
      h('tbody', {},
        h('tr', {}, h('th', { scope: 'row' }, 'To accept'), h('td', {}, formatDuration(d.to_accept_ms))),
        h('tr', {}, h('th', { scope: 'row' }, 'Briefing'), h('td', {}, formatDuration(d.briefing_ms))),
        h('tr', {}, h('th', { scope: 'row' }, 'Hand-off'), h('td', {}, formatDuration(d.handoff_ms))),
        h('tr', {}, h('th', { scope: 'row' }, 'Total'), h('td', {}, formatDuration(d.total_ms))))),
    h('table', {},
      h('caption', {}, 'Who was in each room'),
      h('thead', {}, h('tr', {}, ['Room', 'Who', 'Joined', 'Left'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, replay.rooms.flatMap((room) => room.participants.map((p) =>
        h('tr', {},
          h('td', {}, roomLabel(replay, room.room)),
          h('td', {}, p.identity),
          h('td', {}, p.joined_at ? formatDuration(Date.parse(p.joined_at) - t0) : '–'),
          h('td', {}, p.left_at ? formatDuration(Date.parse(p.left_at) - t0) : 'still there')))))),
  );
}

/**
 * A bar chart of `values` (numbers or null) under `labels`; `format` writes a value.
 * `max` fixes the top of the scale (1 for rates).
 */
export function barChart({ title, labels, values, format = String, max, id }) {
  const width = 640;
  const long = labels.some((l) => l.length > 6);
  const height = long ? 250 : 220;
  const left = 48;
  const bottom = long ? 66 : 36;
  const top = 16;
  const top_ = max || Math.max(1, ...values.filter((v) => v !== null));
  const plotH = height - top - bottom;
  const band = (width - left - 8) / Math.max(1, values.length);
  const titleId = `${id}-title`;
  const bars = values.map((v, i) => {
    const barH = v === null ? 0 : (v / top_) * plotH;
    const x = left + i * band + band * 0.15;
    return s('g', { class: 'bar' },
      s('rect', { x, y: top + plotH - barH, width: band * 0.7, height: Math.max(0, barH) },
        s('title', {}, `${labels[i]}: ${v === null ? 'no data' : format(v)}`)),
      values.length <= 14 ? s('text', long
        ? { x: x + band * 0.35, y: height - bottom + 14, 'text-anchor': 'end', class: 'tick', transform: `rotate(-35 ${x + band * 0.35} ${height - bottom + 14})` }
        : { x: x + band * 0.35, y: height - bottom + 16, 'text-anchor': 'middle', class: 'tick' }, labels[i]) : null,
      v ? s('text', { x: x + band * 0.35, y: top + plotH - barH - 4, 'text-anchor': 'middle', class: 'tick value' }, format(v)) : null,
    );
  });
  return s('svg', { class: 'chart', id, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': titleId },
    s('title', { id: titleId }, title),
    s('line', { class: 'axis-line', x1: left, x2: width - 8, y1: top + plotH, y2: top + plotH }),
    s('text', { class: 'tick', x: left - 6, y: top + 4, 'text-anchor': 'end' }, format(top_)),
    s('text', { class: 'tick', x: left - 6, y: top + plotH, 'text-anchor': 'end' }, format(0)),
    bars);
}

/** A line chart of a rate per bucket (null values leave a gap). */
export function lineChart({ title, labels, series, id }) {
  const width = 640;
  const height = 220;
  const left = 48;
  const bottom = 36;
  const top = 16;
  const plotH = height - top - bottom;
  const n = Math.max(1, labels.length - 1);
  const x = (i) => left + (i / n) * (width - left - 16);
  const y = (v) => top + plotH - v * plotH;
  const titleId = `${id}-title`;
  const lines = series.map(({ name, values, cls }) => {
    const segments = [];
    let current = [];
    values.forEach((v, i) => {
      if (v === null || v === undefined) {
        if (current.length) segments.push(current);
        current = [];
      } else current.push(`${x(i)},${y(v)}`);
    });
    if (current.length) segments.push(current);
    return s('g', { class: `series ${cls}` },
      segments.map((points) => s('polyline', { points: points.join(' ') })),
      values.map((v, i) => (v === null || v === undefined ? null : s('circle', { cx: x(i), cy: y(v), r: 3 }, s('title', {}, `${name}, ${labels[i]}: ${Math.round(v * 100)} %`)))));
  });
  return s('svg', { class: 'chart', id, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': titleId },
    s('title', { id: titleId }, title),
    s('line', { class: 'axis-line', x1: left, x2: width - 8, y1: top + plotH, y2: top + plotH }),
    s('text', { class: 'tick', x: left - 6, y: top + 4, 'text-anchor': 'end' }, '100 %'),
    s('text', { class: 'tick', x: left - 6, y: top + plotH, 'text-anchor': 'end' }, '0 %'),
    labels.length <= 14 ? labels.map((l, i) => s('text', { class: 'tick', x: x(i), y: height - bottom + 16, 'text-anchor': 'middle' }, l)) : null,
    lines,
  );
}
