// The agent's page: incoming calls (take, join), the transcript, warm transfers as Agent A
// (start, brief, complete or cancel) and as Agent B (offers by SSE, accept or decline, the
// briefing, then the caller). Every state of a transfer is shown as it changes.

import { get, post, query } from './api.js';
import { h, field, replace, attempt, showProblem, formatTime } from './dom.js';
import { follow } from './events.js';
import { joinAudio } from './audio.js';

const IDENTITY = 'warmline.agentIdentity';
const FLOW = ['initiated', 'briefing', 'connecting', 'completed'];
const TERMINAL = ['completed', 'cancelled', 'declined', 'expired', 'failed', 'abandoned'];

export function render(main, { access }) {
  // An agent key acts as its own agent; open mode and admins choose whom to act as.
  const own = access.agent || sessionStorage.getItem(IDENTITY);
  if (!own) return chooseIdentity(main, access);
  return agentDesk(main, own, access);
}

function chooseIdentity(main, access) {
  const input = h('input', { name: 'identity', required: true, list: 'agent-identities', autocomplete: 'off' });
  const options = h('datalist', { id: 'agent-identities' });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'identity-title' },
    h('h1', { id: 'identity-title' }, 'Which agent are you?'),
    h('p', {}, access.open ? 'The service runs open: say which agent you act as.' : 'An admin key acts as any agent: say which.'),
    field('Agent identity', input, 'For example agent_alice'),
    options,
    h('button', { type: 'submit' }, 'Continue'));
  get('/v1/agents?limit=200').then((page) => {
    for (const a of page.items) options.append(h('option', { value: a.identity }, a.display_name));
  }).catch(() => {});
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(IDENTITY, input.value.trim());
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  });
  replace(main, form);
  input.focus();
  return { leave() {} };
}

function agentDesk(main, me, access) {
  const state = {
    call: null,
    transfer: null,
    summary: null,
    offers: new Map(),
    audio: null,
    audioFor: null,
    stream: null,
    timer: null,
  };
  const acting = access.agent ? {} : { agent: me };

  // --- Skeleton ----------------------------------------------------------------------------
  const incoming = h('ul', { class: 'list', id: 'agent-incoming-list' });
  const mine = h('ul', { class: 'list', id: 'agent-mine-list' });
  const offers = h('div', { id: 'agent-offers-list', 'aria-live': 'polite' });
  const callBox = h('div', { id: 'agent-call-body' }, h('p', { class: 'hint' }, 'Take a call to work on it.'));
  const transferBox = h('div', { id: 'agent-transfer-body' }, h('p', { class: 'hint' }, 'No transfer under way.'));
  const audioStatus = h('p', { id: 'agent-audio', class: 'hint', 'aria-live': 'polite' }, 'Audio not joined.');
  const liveNote = h('p', { class: 'hint', id: 'agent-live' }, 'Connecting to live updates…');
  const change = access.agent ? null : h('button', {
    type: 'button', class: 'link', onclick: () => {
      sessionStorage.removeItem(IDENTITY);
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    },
  }, 'Act as someone else');

  replace(main,
    h('h1', {}, `Agent desk: ${me}`, ' ', change),
    liveNote,
    h('div', { class: 'columns' },
      h('div', {},
        h('section', { class: 'card', 'aria-labelledby': 'agent-offers-title', id: 'agent-offers' },
          h('h2', { id: 'agent-offers-title' }, 'Transfer offers'), offers),
        h('section', { class: 'card', 'aria-labelledby': 'agent-incoming-title', id: 'agent-incoming' },
          h('h2', { id: 'agent-incoming-title' }, 'Incoming calls'), incoming),
        h('section', { class: 'card', 'aria-labelledby': 'agent-mine-title', id: 'agent-mine' },
          h('h2', { id: 'agent-mine-title' }, 'My calls'), mine)),
      h('div', {},
        h('section', { class: 'card', 'aria-labelledby': 'agent-transfer-title', id: 'agent-transfer' },
          h('h2', { id: 'agent-transfer-title' }, 'Transfer'), transferBox),
        h('section', { class: 'card', 'aria-labelledby': 'agent-call-title', id: 'agent-call' },
          h('h2', { id: 'agent-call-title' }, 'Call'), callBox, audioStatus))));

  // --- Lists -----------------------------------------------------------------------------
  async function loadLists() {
    try {
      const [waiting, handled] = await Promise.all([
        get(`/v1/calls${query({ status: 'waiting', limit: 20 })}`),
        get(`/v1/calls${query({ final_agent: me, limit: 20 })}`),
      ]);
      replace(incoming, waiting.items.length
        ? waiting.items.map((c) => h('li', { dataset: { callId: c.id } },
          h('div', {}, h('strong', {}, c.caller_name), ' ', h('span', { class: 'hint' }, formatTime(c.created_at))),
          c.issue ? h('div', { class: 'hint' }, c.issue) : null,
          h('button', { type: 'button', onclick: () => take(c) }, `Take call from ${c.caller_name}`)))
        : h('li', { class: 'hint' }, 'No call is waiting.'));
      const open = handled.items.filter((c) => c.status !== 'ended');
      replace(mine, open.length
        ? open.map((c) => h('li', {},
          h('div', {}, h('strong', {}, c.caller_name), ' ', h('span', { class: `badge status-${c.status}` }, c.status)),
          h('button', { type: 'button', class: 'secondary', onclick: () => openCall(c.id) }, `Open call with ${c.caller_name}`)))
        : h('li', { class: 'hint' }, 'None.'));
    } catch (e) {
      showProblem(e);
    }
  }

  async function loadOffers() {
    try {
      const page = await get(`/v1/transfers${query({ to_agent: me, state: 'initiated', limit: 20 })}`);
      for (const t of page.items) await showOffer(t);
    } catch (e) {
      showProblem(e);
    }
  }

  // --- Taking and working a call -------------------------------------------------------------
  function take(call) {
    return attempt(async () => {
      // The first agent to join a waiting call takes it.
      const issued = await post(`/v1/calls/${call.id}/join`, { identity: me, role: 'agent' });
      state.issued = { call: call.id, ...issued };
      await openCall(call.id);
      await loadLists();
    });
  }

  async function loadCall(id) {
    state.call = await get(`/v1/calls/${id}`);
    await drawCall();
  }

  async function openCall(id) {
    await loadCall(id);
    const active = await get(`/v1/transfers${query({ call_id: id, active: true, limit: 1 })}`);
    if (active.items[0]) await showTransfer(active.items[0]);
  }

  const lines = h('ol', { class: 'transcript', id: 'agent-transcript', 'aria-label': 'Transcript' });

  /** Redraws the transcript alone, so what is being typed in the forms below stays. */
  async function drawTranscript() {
    const call = state.call;
    if (!call) return;
    const transcript = await get(`/v1/calls/${call.id}/transcript?limit=200`);
    replace(lines, transcript.items.map((s) => h('li', { class: `speaker-${s.role}` }, h('b', {}, `${s.speaker}: `), s.text)));
    lines.scrollTop = lines.scrollHeight;
  }

  async function drawCall() {
    const call = state.call;
    if (!call) return;
    await drawTranscript();
    const role = h('select', { name: 'role' }, h('option', { value: 'caller' }, 'Caller'), h('option', { value: 'agent' }, 'Me (agent)'));
    const text = h('input', { name: 'text', autocomplete: 'off', maxlength: 10000 });
    const lineForm = h('form', { class: 'inline', 'aria-label': 'Add a transcript line' },
      field('Speaker', role), field('Line', text), h('button', { type: 'submit' }, 'Add line'));
    lineForm.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!text.value.trim()) return;
      appendLines([{ role: role.value, text: text.value.trim() }]).then((ok) => {
        if (ok) {
          text.value = '';
          text.focus();
        }
      });
    });
    const paste = h('textarea', { name: 'paste', rows: 4 });
    const pasteForm = h('form', { 'aria-label': 'Paste a transcript' },
      field('Paste lines', paste, 'One line each, "Caller: …" or "Agent: …"'),
      h('button', { type: 'submit', class: 'secondary' }, 'Add pasted lines'));
    pasteForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const parsed = paste.value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).map((line) => {
        const m = line.match(/^([^:]{1,40}):\s*(.+)$/);
        if (!m) return { role: role.value, text: line };
        const who = m[1].trim().toLowerCase();
        const isAgent = who === 'agent' || who === me.toLowerCase() || who === 'me';
        return { role: isAgent ? 'agent' : 'caller', text: m[2] };
      });
      if (parsed.length) appendLines(parsed).then((ok) => { if (ok) paste.value = ''; });
    });

    const agents = h('select', { name: 'to_agent', required: true });
    const reason = h('input', { name: 'reason', maxlength: 1000 });
    const transferForm = h('form', { 'aria-label': 'Start a transfer', id: 'agent-transfer-form' },
      field('Transfer to', agents), field('Reason (optional)', reason),
      h('button', { type: 'submit' }, 'Start transfer'));
    get('/v1/agents?limit=200').then((page) => {
      replace(agents, page.items.filter((a) => a.identity !== me && !a.disabled_at)
        .map((a) => h('option', { value: a.identity }, `${a.display_name} (${a.identity})`)));
    }).catch(showProblem);
    transferForm.addEventListener('submit', (event) => {
      event.preventDefault();
      attempt(async () => {
        const created = await post(`/v1/calls/${call.id}/transfers`, {
          from_agent: me,
          to_agent: agents.value,
          reason: reason.value.trim() || null,
        });
        state.briefingToken = created.token;
        await showTransfer(created.transfer, created.summary);
      });
    });

    const ended = call.status === 'ended';
    replace(callBox,
      h('p', {}, h('strong', { id: 'agent-call-caller' }, call.caller_name), ' ',
        h('span', { class: `badge status-${call.status}`, id: 'agent-call-status' }, call.status),
        call.current_agent ? ` · with ${call.current_agent}` : ''),
      call.issue ? h('p', {}, call.issue) : null,
      h('div', { class: 'actions' },
        h('button', { type: 'button', id: 'agent-join-call', disabled: ended, onclick: () => joinCallAudio() }, 'Join the call audio'),
        h('button', { type: 'button', class: 'secondary', disabled: ended, onclick: () => endCall() }, 'End call')),
      h('h3', {}, 'Transcript'), lines,
      ended ? null : lineForm,
      ended ? null : h('details', {}, h('summary', {}, 'Paste a transcript'), pasteForm),
      ...(call.status === 'active' && call.current_agent === me ? [h('h3', {}, 'Transfer this call'), transferForm] : []));
  }

  async function appendLines(lines) {
    const call = state.call;
    const base = Math.max(0, Date.now() - Date.parse(call.created_at));
    const stamp = Date.now().toString(36);
    const result = await attempt(() => post(`/v1/calls/${call.id}/transcript`, {
      segments: lines.map((line, i) => ({
        segment_id: `console-${stamp}-${Math.random().toString(36).slice(2, 8)}-${i}`,
        speaker: line.role === 'agent' ? me : call.caller_identity,
        role: line.role,
        text: line.text,
        start_ms: base + i,
      })),
    }));
    if (result === undefined) return false;
    await drawTranscript();
    return true;
  }

  function endCall() {
    return attempt(async () => {
      await post(`/v1/calls/${state.call.id}/end`, {});
      await leaveAudio();
      state.call = await get(`/v1/calls/${state.call.id}`);
      await drawCall();
      await loadLists();
    });
  }

  // --- Audio ---------------------------------------------------------------------------------
  async function leaveAudio() {
    if (state.audio) await state.audio.leave();
    state.audio = null;
    audioStatus.textContent = 'Audio not joined.';
  }

  async function connect(issued, where) {
    await leaveAudio();
    audioStatus.textContent = `Joining ${where}…`;
    try {
      state.audio = await joinAudio(issued, { onDisconnected: () => { audioStatus.textContent = 'Audio disconnected.'; state.audio = null; } });
      audioStatus.textContent = `Audio connected: ${where}.`;
    } catch (e) {
      audioStatus.textContent = 'Audio not joined.';
      throw e.kind ? { title: 'Audio unavailable', detail: e.message } : e;
    }
  }

  function joinCallAudio() {
    return attempt(async () => {
      const issued = await post(`/v1/calls/${state.call.id}/join`, { identity: me, role: 'agent' });
      await connect(issued, "the caller's room");
    });
  }

  function joinBriefing() {
    return attempt(async () => {
      const issued = await post('/v1/tokens', { transfer_id: state.transfer.id, identity: me, role: 'agent' });
      await connect(issued, 'the briefing room');
    });
  }

  function joinCaller() {
    return attempt(async () => {
      const issued = await post('/v1/tokens', { call_id: state.transfer.call_id, identity: me, role: 'agent' });
      await connect(issued, "the caller's room");
    });
  }

  // --- Transfers -----------------------------------------------------------------------------
  async function summaryFor(transfer) {
    try {
      const page = await get(`/v1/calls/${transfer.call_id}/summaries?limit=20`);
      return page.items.find((s) => s.transfer_id === transfer.id) || page.items[0] || null;
    } catch {
      return null;
    }
  }

  async function showOffer(transfer) {
    if (transfer.to_agent !== me || transfer.state !== 'initiated') {
      removeOffer(transfer.id);
      return;
    }
    if (state.offers.has(transfer.id)) return;
    const summary = await summaryFor(transfer);
    const reason = h('select', { name: 'decline_reason' },
      h('option', { value: 'busy' }, 'Busy'), h('option', { value: 'wrong_skill' }, 'Wrong skill'), h('option', { value: 'other' }, 'Other'));
    const card = h('article', { class: 'offer', dataset: { transferId: transfer.id }, 'aria-labelledby': `offer-${transfer.id}` },
      h('h3', { id: `offer-${transfer.id}` }, `Transfer from ${transfer.from_agent}`),
      transfer.reason ? h('p', {}, transfer.reason) : null,
      summary ? h('p', { class: 'summary-text' }, summary.summary_text) : h('p', { class: 'hint' }, 'No summary yet.'),
      h('p', { class: 'hint' }, `Answer by ${formatTime(transfer.accept_deadline)}`),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => accept(transfer) }, 'Accept'),
        field('Reason to decline', reason),
        h('button', { type: 'button', class: 'secondary', onclick: () => decline(transfer, reason.value) }, 'Decline')));
    state.offers.set(transfer.id, card);
    drawOffers();
  }

  function removeOffer(id) {
    if (state.offers.delete(id)) drawOffers();
  }

  function drawOffers() {
    replace(offers, state.offers.size ? [...state.offers.values()] : h('p', { class: 'hint' }, 'No offer.'));
  }

  function accept(transfer) {
    return attempt(async () => {
      const accepted = await post(`/v1/transfers/${transfer.id}/accept`, acting);
      removeOffer(transfer.id);
      await showTransfer(accepted.transfer, accepted.summary);
    });
  }

  function decline(transfer, reason) {
    return attempt(async () => {
      await post(`/v1/transfers/${transfer.id}/decline`, { ...acting, reason });
      removeOffer(transfer.id);
    });
  }

  function complete() {
    return attempt(async () => {
      const done = await post(`/v1/transfers/${state.transfer.id}/complete`, acting);
      await showTransfer(done.transfer);
    });
  }

  function cancel() {
    return attempt(async () => {
      const done = await post(`/v1/transfers/${state.transfer.id}/cancel`, acting);
      await showTransfer(done.transfer);
    });
  }

  async function showTransfer(transfer, summary) {
    state.transfer = transfer;
    // Agent B sees the call it is being handed: who, about what, what was said.
    if (!state.call || state.call.id !== transfer.call_id) await loadCall(transfer.call_id);
    if (summary) state.summary = summary;
    else if (!state.summary || state.summary.transfer_id !== transfer.id) state.summary = await summaryFor(transfer);
    drawTransfer();
  }

  function drawTransfer() {
    const t = state.transfer;
    if (!t) return;
    const amA = t.from_agent === me;
    const amB = t.to_agent === me;
    const ended = TERMINAL.includes(t.state);
    const reached = FLOW.indexOf(t.state);
    const steps = FLOW.map((name, i) => {
      let cls = 'todo';
      if (name === t.state) cls = 'current';
      else if (reached > i || (ended && t[`${name}_at`])) cls = 'done';
      return h('li', { class: cls, 'aria-current': name === t.state ? 'step' : false }, name);
    });
    if (ended && t.state !== 'completed') steps.push(h('li', { class: 'current failed', 'aria-current': 'step' }, `${t.state}${t.outcome ? ` (${t.outcome.replace(/_/g, ' ')})` : ''}`));
    const s = state.summary;
    const buttons = [];
    if (amA && t.state === 'briefing') buttons.push(h('button', { type: 'button', id: 'agent-complete', onclick: complete }, 'Complete: hand the caller over'));
    if (amA && (t.state === 'initiated' || t.state === 'briefing')) {
      buttons.push(h('button', { type: 'button', class: 'secondary', id: 'agent-cancel', onclick: cancel }, 'Cancel transfer'));
    }
    if (amB && t.state === 'initiated') {
      buttons.push(h('button', { type: 'button', onclick: () => accept(t) }, 'Accept'));
    }
    if ((amA || amB) && (t.state === 'initiated' || t.state === 'briefing')) {
      buttons.push(h('button', { type: 'button', class: 'secondary', onclick: joinBriefing }, 'Join the briefing audio'));
    }
    if (amB && (t.state === 'connecting' || t.state === 'completed')) {
      buttons.push(h('button', { type: 'button', id: 'agent-join-caller', onclick: joinCaller }, 'Join the caller'));
    }
    replace(transferBox,
      h('p', {}, amA ? `You are handing ${t.to_agent} this call.` : amB ? `${t.from_agent} is handing you this call.` : `${t.from_agent} → ${t.to_agent}`),
      h('ol', { class: 'stepper', 'aria-label': 'Transfer states' }, steps),
      h('p', { id: 'agent-transfer-state', role: 'status' }, `State: ${t.state}`),
      s ? h('div', { class: 'briefing', id: 'agent-briefing' },
        h('h3', {}, 'Summary'), h('p', { class: 'summary-text' }, s.summary_text),
        h('h3', {}, amB ? `What ${t.from_agent} will tell you` : 'Script to read to the receiving agent'),
        h('blockquote', { class: 'script' }, s.briefing_script)) : null,
      buttons.length ? h('div', { class: 'actions' }, buttons) : null);
  }

  // --- Live events -----------------------------------------------------------------------------
  async function onEvent(event) {
    try {
      if (event.transfer_id && event.kind.startsWith('transfer.')) {
        const t = await get(`/v1/transfers/${event.transfer_id}`);
        await showOffer(t);
        if (state.transfer && state.transfer.id === t.id) await showTransfer(t);
        else if (t.from_agent === me && !TERMINAL.includes(t.state) && state.call && state.call.id === t.call_id) await showTransfer(t);
      }
      if (state.call && event.call_id === state.call.id && event.kind.startsWith('transcript.')) {
        await drawTranscript();
      }
      if (state.call && event.call_id === state.call.id && event.kind.startsWith('call.')) {
        const before = state.call;
        state.call = await get(`/v1/calls/${state.call.id}`);
        // Redrawn (forms and all) only when what the forms depend on changed.
        if (before.status !== state.call.status || before.current_agent !== state.call.current_agent) await drawCall();
      }
      if (event.kind.startsWith('call.') || event.kind.startsWith('transfer.')) scheduleLists();
    } catch (e) {
      if (e.status !== 403 && e.status !== 404) showProblem(e);
    }
  }

  let listsPending = null;
  function scheduleLists() {
    if (listsPending) return;
    listsPending = setTimeout(() => {
      listsPending = null;
      loadLists();
    }, 300);
  }

  state.stream = follow({ agent: me }, {
    onEvent,
    onState: (s) => {
      liveNote.textContent = s === 'live' ? 'Live updates on.' : 'Reconnecting to live updates…';
    },
    onRefused: (problem) => {
      liveNote.textContent = 'Live updates are unavailable.';
      showProblem(problem);
    },
  });
  // New waiting calls are not on this agent's stream (it has not been on them yet): look now
  // and then.
  state.timer = setInterval(loadLists, 3000);
  drawOffers();
  loadLists();
  loadOffers();

  return {
    leave() {
      state.stream.stop();
      clearInterval(state.timer);
      if (listsPending) clearTimeout(listsPending);
      leaveAudio();
    },
  };
}

