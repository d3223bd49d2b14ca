// The caller's page: start a call, join its audio, and follow where the call stands.

import { get, post } from './api.js';
import { h, field, replace, attempt, showProblem } from './dom.js';
import { follow } from './events.js';
import { joinAudio } from './audio.js';

/** The caller's status line for a call as the API shows it. */
export function statusText(call) {
  switch (call.status) {
    case 'waiting':
      return 'Waiting for an agent…';
    case 'active':
      return `With ${call.current_agent || 'an agent'}`;
    case 'transferring':
      return 'Please hold, you are being transferred';
    case 'ended':
      return 'The call has ended';
    default:
      return call.status;
  }
}

export function render(main) {
  let call = null;
  let stream = null;
  let poll = null;
  let audio = null;

  const name = h('input', { name: 'caller_name', autocomplete: 'name', required: true, maxlength: 128 });
  const phone = h('input', { name: 'caller_phone', type: 'tel', autocomplete: 'tel' });
  const issue = h('textarea', { name: 'issue', rows: 3, maxlength: 4000 });
  const form = h('form', { class: 'card', 'aria-labelledby': 'caller-title' },
    field('Your name', name),
    field('Phone (optional)', phone),
    field('What is the call about?', issue),
    h('button', { type: 'submit' }, 'Start the call'));

  const status = h('p', { id: 'caller-status', class: 'status-line', role: 'status', 'aria-live': 'polite' });
  const liveNote = h('p', { class: 'hint', id: 'caller-live' });
  const audioStatus = h('p', { id: 'caller-audio', class: 'hint', 'aria-live': 'polite' }, 'Audio not joined.');
  const joinButton = h('button', { type: 'button', id: 'caller-join' }, 'Join the audio');
  const hangUp = h('button', { type: 'button', class: 'secondary' }, 'Hang up');
  const panel = h('section', { class: 'card', hidden: true, 'aria-labelledby': 'caller-call-title' },
    h('h2', { id: 'caller-call-title' }, 'Your call'),
    status,
    h('div', { class: 'actions' }, joinButton, hangUp),
    audioStatus,
    liveNote);

  replace(main, h('h1', { id: 'caller-title' }, 'Call us'), form, panel);

  async function refresh() {
    if (!call) return;
    try {
      call = await get(`/v1/calls/${call.id}`);
      status.textContent = statusText(call);
      joinButton.disabled = call.status === 'ended' || Boolean(audio);
      hangUp.disabled = call.status === 'ended';
    } catch (e) {
      showProblem(e);
    }
  }

  function followCall() {
    stream = follow({ call_id: call.id }, {
      onEvent: refresh,
      onState: (state) => {
        liveNote.textContent = state === 'live' ? 'Live updates on.' : 'Reconnecting to live updates…';
        if (state === 'live') refresh();
      },
      onRefused: () => {
        // A key that may not follow events (a frontend key) still sees its call: ask now and then.
        liveNote.textContent = 'Checking for updates every few seconds.';
        poll = setInterval(refresh, 3000);
      },
    });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    attempt(async () => {
      call = await post('/v1/calls', {
        caller_name: name.value.trim(),
        caller_phone: phone.value.trim() || null,
        issue: issue.value.trim() || null,
      });
      form.hidden = true;
      panel.hidden = false;
      panel.dataset.callId = call.id;
      status.textContent = statusText(call);
      followCall();
      joinButton.focus();
    });
  });

  joinButton.addEventListener('click', () => attempt(async () => {
    audioStatus.textContent = 'Joining the audio…';
    joinButton.disabled = true;
    try {
      const issued = await post(`/v1/calls/${call.id}/join`, { identity: call.caller_identity, role: 'caller' });
      audio = await joinAudio(issued, {
        onDisconnected: () => {
          audio = null;
          audioStatus.textContent = 'Audio disconnected.';
          joinButton.disabled = false;
        },
      });
      audioStatus.textContent = 'Audio connected: you can speak now.';
    } catch (e) {
      audioStatus.textContent = 'Audio not joined.';
      joinButton.disabled = false;
      throw e.kind ? { title: 'Audio unavailable', detail: e.message } : e;
    }
  }));

  hangUp.addEventListener('click', () => attempt(async () => {
    if (audio) await audio.leave();
    audio = null;
    call = await post(`/v1/calls/${call.id}/end`, {});
    await refresh();
  }));

  return {
    leave() {
      if (stream) stream.stop();
      if (poll) clearInterval(poll);
      if (audio) audio.leave();
    },
  };
}
