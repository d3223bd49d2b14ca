// Audio over LiveKit. livekit-client is loaded only when someone joins, so the pages work
// without it. Failures become one clear sentence each, never only a console error.

/** An audio failure the person can act on. `kind`: microphone, unreachable, expired, other. */
export class AudioProblem extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const MESSAGES = {
  microphone:
    'The microphone is blocked. Allow this page to use the microphone in the browser, then join again.',
  noMicrophone: 'No microphone was found. Connect one, then join again.',
  unreachable:
    'The audio server (LiveKit) cannot be reached. Check the network, or ask an administrator whether LiveKit is running.',
  expired: 'Your audio pass has expired or was refused. Join again to get a new one.',
  library: 'The audio library could not be loaded. Reload the page and try again.',
};

/** The payload of a JWT, or null. */
function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return null;
  }
}

/** Whether a token's `exp` has passed (a small margin for clock skew and the connect). */
export function tokenExpired(token, now = Date.now()) {
  const claims = tokenClaims(token);
  return Boolean(claims && claims.exp && claims.exp * 1000 <= now + 5000);
}

async function microphone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new AudioProblem('microphone', MESSAGES.microphone);
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    return stream.getAudioTracks()[0];
  } catch (e) {
    if (e && (e.name === 'NotFoundError' || e.name === 'OverconstrainedError')) {
      throw new AudioProblem('microphone', MESSAGES.noMicrophone);
    }
    throw new AudioProblem('microphone', MESSAGES.microphone);
  }
}

/**
 * Joins a LiveKit room with an issued token ({token, url}): checks the token, asks for the
 * microphone, connects, publishes it and plays what others say. Answers a handle with
 * `leave()`; throws an AudioProblem.
 */
export async function joinAudio(issued, { onDisconnected = () => {} } = {}) {
  if (tokenExpired(issued.token)) throw new AudioProblem('expired', MESSAGES.expired);
  const track = await microphone();
  let lk;
  try {
    lk = await import('./vendor/livekit-client.esm.mjs');
  } catch {
    track.stop();
    throw new AudioProblem('other', MESSAGES.library);
  }
  const room = new lk.Room();
  const players = [];
  room.on(lk.RoomEvent.TrackSubscribed, (remote) => {
    if (remote.kind === 'audio') {
      const element = remote.attach();
      element.hidden = true;
      document.body.append(element);
      players.push(element);
    }
  });
  room.on(lk.RoomEvent.Disconnected, () => onDisconnected());
  try {
    await room.connect(issued.url, issued.token, { maxRetries: 0 });
  } catch (e) {
    track.stop();
    throw connectProblem(lk, e);
  }
  try {
    const local = new lk.LocalAudioTrack(track);
    await room.localParticipant.publishTrack(local);
  } catch {
    await room.disconnect();
    track.stop();
    throw new AudioProblem('microphone', MESSAGES.microphone);
  }
  return {
    room,
    async leave() {
      await room.disconnect();
      track.stop();
      players.forEach((p) => p.remove());
    },
  };
}

function connectProblem(lk, e) {
  // LiveKit answers a bad or expired token 401, reported as reason NotAllowed.
  const refused = e && (e.status === 401 || e.reason === lk.ConnectionErrorReason.NotAllowed);
  return refused
    ? new AudioProblem('expired', MESSAGES.expired)
    : new AudioProblem('unreachable', MESSAGES.unreachable);
}
