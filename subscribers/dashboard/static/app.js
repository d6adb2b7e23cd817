// udsbus dashboard page: one EventSource for the state (a snapshot, then batches of deltas), one
// per live tap. No framework and no build step; every bus value reaches the DOM via textContent,
// never as HTML.
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, String(v));
      else if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}

const S = {
  info: {},
  cameras: new Map(),
  events: [],
  eventIds: new Set(),
  alerts: new Map(),
  sessions: new Map(),
  topics: [],
  tracked: 0,
  clients: { clients: [] },
  stats: { stats: null },
  durables: { durables: null },
  denials: [],
  connLog: [],
  audit: null,
  selfLost: {},
};
const MAX_EVENTS = 1000;
const SHOWN_EVENTS = 200;
const dirty = new Set();
let frame = 0;
let firstRender = true;

function mark(...what) {
  for (const w of what) dirty.add(w);
  if (frame === 0) frame = requestAnimationFrame(render);
}

// Times in the browser's own zone, as an operator reads a clock.
const time = (iso) => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso ?? '') : d.toLocaleTimeString([], { hour12: false });
};
const bytes = (n) => (typeof n !== 'number' ? '' : n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);

// ---------------------------------------------------------------- applying state

function applySnapshot(s) {
  S.info = s.info ?? {};
  S.cameras = new Map(s.cameras.map((c) => [c.cameraId, c]));
  S.events = s.events.slice(-MAX_EVENTS);
  S.eventIds = new Set(S.events.map((e) => e.id));
  S.alerts = new Map(s.alerts.map((a) => [a.id, a]));
  S.sessions = new Map(s.sessions.map((x) => [x.sessionId, x]));
  S.topics = s.topics;
  S.tracked = s.tracked;
  S.clients = s.clients;
  S.stats = s.stats;
  S.durables = s.durables;
  S.denials = s.denials;
  S.connLog = s.connLog;
  S.audit = s.audit;
  S.selfLost = s.selfLost ?? {};
  $('camera-grid').replaceChildren();
  cards.clear();
  shots.clear();
  // Cameras first, in a frame of their own: what an operator looks for gets painted before the
  // tables below the fold are built.
  mark('cameras', 'stats');
  later = ['events-all', 'alerts', 'sessions', 'topics', 'clients', 'durables', 'denials', 'connLog', 'audit', 'filters'];
}
let later = [];

const newEvents = [];
function applyDelta(d) {
  switch (d.t) {
    case 'camera':
      S.cameras.set(d.camera.cameraId, d.camera);
      changedCameras.add(d.camera.cameraId);
      return mark('cameras');
    case 'camera-removed':
      S.cameras.delete(d.cameraId);
      changedCameras.add(d.cameraId);
      return mark('cameras');
    case 'event':
      if (S.eventIds.has(d.event.id)) return;
      S.events.push(d.event);
      S.eventIds.add(d.event.id);
      if (S.events.length > MAX_EVENTS) S.eventIds.delete(S.events.shift().id);
      newEvents.push(d.event);
      return mark('events', 'filters');
    case 'alert': {
      S.alerts.set(d.alert.id, d.alert);
      const e = S.events.find((x) => x.id === d.alert.eventId);
      if (e && !e.alerts.includes(d.alert.id)) e.alerts.push(d.alert.id);
      newAlerts.push(d.alert);
      return mark('alerts');
    }
    case 'session':
      S.sessions.set(d.session.sessionId, d.session);
      return mark('sessions');
    case 'topics':
      S.topics = d.topics;
      S.tracked = d.tracked;
      return mark('topics');
    case 'clients':
      S.clients = d;
      return mark('clients');
    case 'stats':
      S.stats = d;
      return mark('stats');
    case 'durables':
      S.durables = d;
      return mark('durables');
    case 'denied':
      S.denials.push(d.denial);
      if (S.denials.length > 100) S.denials.shift();
      return mark('denials');
    case 'conn':
      S.connLog.push(d.entry);
      if (S.connLog.length > 100) S.connLog.shift();
      return mark('connLog');
    case 'audit':
      S.audit = d.audit;
      return mark('audit');
    case 'self-loss':
      S.selfLost = d.lost;
      return mark('stats');
  }
}

// ---------------------------------------------------------------- rendering

function render() {
  frame = 0;
  const d = new Set(dirty);
  dirty.clear();
  if (d.has('cameras')) renderCameras();
  if (d.has('filters')) renderFilterOptions();
  if (d.has('events-all')) renderEventsAll();
  else if (d.has('events')) renderNewEvents();
  if (d.has('alerts')) renderAlerts();
  if (d.has('sessions')) renderSessions();
  if (d.has('topics')) renderTopics();
  if (d.has('clients')) renderClients();
  if (d.has('stats')) renderStats();
  if (d.has('durables')) renderDurables();
  if (d.has('denials')) renderDenials();
  if (d.has('connLog')) renderConnLog();
  if (d.has('audit')) renderAudit();
  if (firstRender) {
    firstRender = false;
    performance.mark('udsbus-first-render');
    document.body.dataset.ready = '1';
  }
  if (later.length > 0) {
    const rest = later;
    later = [];
    setTimeout(() => mark(...rest), 0);
  }
}

const cards = new Map();
const changedCameras = new Set();
// One <img> per camera, kept across re-renders of its card: moving it does not reload it, and
// its src changes only when a snapshot with other bytes arrives. Lazy, so a page of 50 cameras
// paints its cards first and fetches only the snapshots in view.
const shots = new Map();
function snapshotBox(c) {
  if (!S.info.snapshots) return null;
  if (!c.snapshot) return el('div', { class: 'snap none' }, 'no snapshot yet');
  let img = shots.get(c.cameraId);
  if (!img) {
    img = el('img', { class: 'snap', alt: `latest snapshot of ${c.name ?? c.cameraId}`, loading: 'lazy', decoding: 'async' });
    img.addEventListener('error', () => img.classList.add('broken'));
    img.addEventListener('load', () => img.classList.remove('broken'));
    shots.set(c.cameraId, img);
  }
  const src = `/snapshots/${encodeURIComponent(c.cameraId)}?v=${encodeURIComponent(c.snapshot.sha256.slice(0, 16))}`;
  if (img.getAttribute('src') !== src) img.setAttribute('src', src);
  img.dataset.sha256 = c.snapshot.sha256;
  img.title = `snapshot ${time(c.snapshot.time)}`;
  return img;
}

function cameraCard(c) {
  let card = cards.get(c.cameraId);
  if (!card) {
    card = el('div', { class: 'camera', 'data-camera-id': c.cameraId });
    cards.set(c.cameraId, card);
  }
  const meta = [c.manufacturer, c.model].filter(Boolean).join(' ') || c.discoveredBy || '';
  const last = c.lastEvent
    ? `${time(c.lastEvent.time)} ${c.lastEvent.kind}${c.lastEvent.active === undefined ? '' : c.lastEvent.active ? ' ●' : ' ○'}`
    : 'no events yet';
  const children = [
    el('span', { class: `state ${c.state}`, 'data-state': c.state, title: c.reason ?? '' }, c.state),
    el('div', { class: 'name' }, c.name ?? c.cameraId),
    el('div', { class: 'id mono' }, c.cameraId),
    el('div', { class: 'meta' }, [meta, c.address].filter(Boolean).join(' · ') || '\u00a0'),
    el('div', { class: 'last' }, c.lostAt ? `lost ${time(c.lostAt)}` : last, c.events ? el('span', { class: 'count' }, `  (${c.events})`) : null),
    snapshotBox(c),
  ];
  if (S.info.actions) children.push(cameraActions(c));
  card.replaceChildren(...children.filter(Boolean));
  return card;
}

function cameraActions(c) {
  const status = el('span', { class: 'count' });
  const call = (action, body) => async () => {
    status.textContent = '…';
    try {
      const r = await fetch(`/api/cameras/${encodeURIComponent(c.cameraId)}/${action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-udsbus-dashboard': '1' },
        body: JSON.stringify(body),
      });
      const j = await r.json().catch(() => ({ ok: false, error: r.statusText }));
      status.textContent = j.ok ? (j.result && j.result.uri ? j.result.uri : 'ok') : `failed: ${j.error}`;
    } catch (err) {
      status.textContent = `failed: ${err.message}`;
    }
  };
  const move = (pan, tilt) => call('ptz-move', { mode: 'continuous', velocity: { pan, tilt }, timeoutMs: 500 });
  const box = el('div', { class: 'actions' });
  if (c.ptz) {
    box.append(
      el('button', { title: 'pan left', onclick: move(-0.5, 0) }, '◀'),
      el('button', { title: 'tilt up', onclick: move(0, 0.5) }, '▲'),
      el('button', { title: 'tilt down', onclick: move(0, -0.5) }, '▼'),
      el('button', { title: 'pan right', onclick: move(0.5, 0) }, '▶'),
      el('button', { title: 'stop', onclick: call('ptz-stop', {}) }, '■'),
    );
  }
  box.append(el('button', { title: 'ask the camera for its snapshot URI', onclick: call('snapshot', {}) }, 'snapshot'), status);
  return box;
}

function renderCameras() {
  const grid = $('camera-grid');
  if (cards.size === 0) {
    // First paint: build every card in one fragment.
    const ids = [...S.cameras.keys()].sort();
    const frag = document.createDocumentFragment();
    for (const id of ids) frag.append(cameraCard(S.cameras.get(id)));
    grid.append(frag);
  } else {
    for (const id of changedCameras) {
      const c = S.cameras.get(id);
      if (!c) {
        cards.get(id)?.remove();
        cards.delete(id);
        shots.delete(id);
        continue;
      }
      const isNew = !cards.has(id);
      const card = cameraCard(c);
      if (isNew) {
        const after = [...cards.keys()].filter((k) => k > id && k !== id).sort()[0];
        if (after && cards.get(after).isConnected) grid.insertBefore(card, cards.get(after));
        else grid.append(card);
      } else {
        card.classList.remove('flash');
        void card.offsetWidth;
        card.classList.add('flash');
      }
    }
  }
  changedCameras.clear();
  $('camera-count').textContent = String(S.cameras.size);
}

let filterOpts = { cameras: '', kinds: '' };
function renderFilterOptions() {
  const cams = [...new Set([...S.cameras.keys(), ...S.events.map((e) => e.cameraId)])].sort();
  const kinds = [...new Set(S.events.map((e) => e.kind))].sort();
  const fill = (sel, values, label) => {
    const cur = sel.value;
    sel.replaceChildren(el('option', { value: '' }, label), ...values.map((v) => el('option', { value: v }, v)));
    sel.value = values.includes(cur) ? cur : '';
  };
  if (cams.join() !== filterOpts.cameras) fill($('f-camera'), cams, 'all cameras');
  if (kinds.join() !== filterOpts.kinds) fill($('f-kind'), kinds, 'all kinds');
  filterOpts = { cameras: cams.join(), kinds: kinds.join() };
}

function passes(e) {
  const cam = $('f-camera').value;
  const kind = $('f-kind').value;
  const text = $('f-text').value.trim().toLowerCase();
  if (cam && e.cameraId !== cam) return false;
  if (kind && e.kind !== kind) return false;
  if ($('f-alerts').checked && e.alerts.length === 0) return false;
  if (text && !`${e.topic} ${e.detail ?? ''}`.toLowerCase().includes(text)) return false;
  return true;
}

function alertBadge(a) {
  return el('span', { class: `sev ${a.severity}`, title: a.message, 'data-alert-id': a.id }, a.ruleId);
}

function eventItem(e) {
  const state = e.active === undefined ? '' : e.active ? 'active' : 'inactive';
  return el(
    'li',
    { 'data-event-id': e.id, 'data-event-topic': e.topic },
    el('span', { class: 't' }, time(e.time)),
    el('span', { class: 'cam' }, S.cameras.get(e.cameraId)?.name ?? e.cameraId),
    el('span', { class: 'kind' }, e.kind),
    el('span', { class: state }, state + (e.initial ? ' (initial)' : '')),
    e.detail ? el('span', { class: 'count' }, e.detail) : null,
    ...e.alerts.map((id) => S.alerts.get(id)).filter(Boolean).map(alertBadge),
  );
}

function renderEventsAll() {
  newEvents.length = 0;
  const list = $('event-list');
  const shown = [];
  for (let i = S.events.length - 1; i >= 0 && shown.length < SHOWN_EVENTS; i--) if (passes(S.events[i])) shown.push(eventItem(S.events[i]));
  list.replaceChildren(...shown);
}

function renderNewEvents() {
  const list = $('event-list');
  for (const e of newEvents) if (passes(e)) list.prepend(eventItem(e));
  newEvents.length = 0;
  while (list.childElementCount > SHOWN_EVENTS) list.lastElementChild.remove();
}

const newAlerts = [];
function renderAlerts() {
  for (const a of newAlerts) {
    const li = a.eventId === undefined ? null : document.querySelector(`#event-list li[data-event-id="${a.eventId}"]`);
    if (li && !li.querySelector(`[data-alert-id="${a.id}"]`)) li.append(alertBadge(a));
  }
  newAlerts.length = 0;
  const items = [...S.alerts.values()].slice(-100).reverse().map((a) =>
    el('li', { 'data-alert-id': a.id }, el('span', { class: 't' }, time(a.time)), el('span', { class: `sev ${a.severity}` }, a.severity), el('span', { class: 'cam' }, a.cameraId ?? ''), el('span', null, a.message)),
  );
  $('alert-list').replaceChildren(...items);
}

function renderSessions() {
  const byCam = new Map();
  for (const s of S.sessions.values()) {
    if (!byCam.has(s.cameraId)) byCam.set(s.cameraId, []);
    byCam.get(s.cameraId).push(s);
  }
  const blocks = [...byCam.keys()].sort().map((cam) => {
    const rows = byCam.get(cam).slice(-20).reverse().map((s) => {
      const dur = s.start && s.end ? ` ${((Date.parse(s.end) - Date.parse(s.start)) / 1000).toFixed(1)} s` : s.end ? '' : ' recording…';
      const clip = s.clip
        ? el('button', { class: 'play', 'data-session-id': s.sessionId, disabled: !S.info.clips, title: S.info.clips ? s.clip.file : 'no recordings directory configured', onclick: () => play(s) }, '▶ play')
        : el('span', { class: 'count' }, 'no clip');
      return el('li', { 'data-session-id': s.sessionId }, `${time(s.start)}${dur} `, s.reason ? el('span', { class: 'count' }, `${s.reason} `) : null, clip, s.clip?.durationMs ? el('span', { class: 'count' }, ` ${(s.clip.durationMs / 1000).toFixed(1)} s clip`) : null, s.clip?.bytes ? el('span', { class: 'count' }, ` ${bytes(s.clip.bytes)}`) : null);
    });
    return el('div', { class: 'rec-cam' }, el('span', { class: 'cam' }, S.cameras.get(cam)?.name ?? cam), el('ul', null, ...rows));
  });
  $('recording-list').replaceChildren(...(blocks.length ? blocks : [el('span', { class: 'count' }, 'no recording sessions yet')]));
}

function play(s) {
  const v = $('player');
  $('player-box').hidden = false;
  $('player-title').textContent = `${s.cameraId} · ${s.sessionId}`;
  v.src = `/clips/${encodeURIComponent(s.sessionId)}`;
  v.dataset.sessionId = s.sessionId;
  void v.play().catch(() => undefined);
}

function spark(values) {
  const max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i * 120) / (values.length - 1)},${(17 - (v / max) * 16).toFixed(1)}`).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 120 18');
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', pts);
  svg.append(line);
  return svg;
}

function renderTopics() {
  const f = $('f-topic').value.trim();
  const rows = S.topics.filter((t) => !f || t.topic.includes(f)).slice(0, 150).map((t) =>
    el('tr', { 'data-topic': t.topic }, el('td', { class: 'mono' }, t.topic), el('td', null, t.rate.toFixed(1)), el('td', null, spark(t.spark)), el('td', null, t.count), el('td', null, t.retained ? 'yes' : ''), el('td', { class: 'last', title: t.last }, t.last)),
  );
  $('topics').tBodies[0].replaceChildren(...rows);
  $('topic-count').textContent = String(S.tracked);
}

function renderClients() {
  const err = $('clients-error');
  err.hidden = !S.clients.error;
  err.textContent = S.clients.error ? `cannot list clients: ${S.clients.error}` : '';
  const list = Array.isArray(S.clients.clients) ? S.clients.clients : [];
  const rows = list.map((c) =>
    el(
      'tr',
      { 'data-cid': c.cid, 'data-client-name': c.name },
      el('td', null, c.name),
      el('td', { class: 'mono' }, c.cid),
      el('td', null, c.transport),
      el('td', null, [c.pid, c.uid].filter((x) => x !== undefined).join(' / ')),
      el('td', { title: (c.subscriptions ?? []).map((s) => `${s.pattern} (${s.policy}) dropped ${s.dropped}`).join('\n') }, (c.subscriptions ?? []).length),
      el('td', { class: 'queued' }, c.queuedMsgs),
      el('td', null, bytes(c.queuedBytes)),
      el('td', { class: `dropped${c.dropped > 0 ? ' nonzero' : ''}` }, c.dropped),
      el('td', null, c.msgsIn),
      el('td', { class: 't' }, time(c.connectedAt)),
    ),
  );
  $('clients').tBodies[0].replaceChildren(...rows);
}

function renderStats() {
  const s = S.stats.stats;
  if (!s) {
    $('stats').textContent = S.stats.error ? `stats: ${S.stats.error}` : '';
    return;
  }
  const drops = s.drops ? Object.values(s.drops).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0) : 0;
  const up = Math.floor((s.uptimeMs ?? 0) / 1000);
  const lost = Object.values(S.selfLost).reduce((a, b) => a + b, 0);
  $('stats').title = lost ? Object.entries(S.selfLost).map(([p, n]) => `${p}: ${n} lost`).join('\n') : '';
  $('stats').textContent = `${lost ? `this view missed ${lost} messages · ` : ''}${s.connections} clients · ${s.msgsIn} in · ${s.msgsOut} out · ${drops} dropped · ${s.retained} retained · up ${Math.floor(up / 3600)}h${String(Math.floor(up / 60) % 60).padStart(2, '0')}m`;
}

function renderDurables() {
  const box = $('durables');
  const d = S.durables;
  if (d.error) return box.replaceChildren(el('span', { class: 'count' }, d.error));
  if (!Array.isArray(d.durables) || d.durables.length === 0) return box.replaceChildren(el('span', { class: 'count' }, 'none'));
  const preferred = ['name', 'pattern', 'connected', 'consumer', 'backlog', 'bytes', 'oldestAgeMs', 'dropped', 'expired', 'overflow'];
  const present = Object.keys(d.durables[0]);
  const keys = preferred.some((k) => present.includes(k)) ? preferred.filter((k) => present.includes(k)) : present.filter((k) => typeof d.durables[0][k] !== 'object');
  box.replaceChildren(el('table', null, el('thead', null, el('tr', null, ...keys.map((k) => el('th', null, k)))), el('tbody', null, ...d.durables.map((q) => el('tr', { 'data-durable': q.name }, ...keys.map((k) => el('td', null, k === 'bytes' ? bytes(q[k]) : String(q[k] ?? ''))))))));
}

function renderDenials() {
  if (S.denials.length === 0) return $('denials').replaceChildren(el('li', { class: 'count' }, 'none since the dashboard started'));
  $('denials').replaceChildren(
    ...S.denials.slice().reverse().map((x) => el('li', null, el('span', { class: 't' }, time(x.time)), el('span', null, `${x.name ?? ''} (${x.uid ?? 'tcp'})`), el('span', null, `${x.action} ${x.target}`), el('span', { class: 'count' }, x.reason ?? ''))),
  );
}

function renderConnLog() {
  $('conn-log').replaceChildren(
    ...S.connLog.slice(-50).reverse().map((x) => el('li', null, el('span', { class: 't' }, time(x.time)), el('span', null, x.topic.endsWith('connected') && !x.topic.endsWith('disconnected') ? 'connected' : `disconnected (${x.reason ?? ''})`), el('span', { class: 'cam' }, x.name ?? ''), el('span', { class: 'mono count' }, x.cid ?? ''))),
  );
}

function renderAudit() {
  const a = S.audit;
  const box = $('audit-box');
  if (!a) return void (box.textContent = S.info.audit ? 'checking…' : 'not configured (auditDir)');
  box.replaceChildren(
    el('div', { 'data-audit-ok': String(a.ok) }, a.ok ? '✔ chain verified' : `✘ ${a.problem?.reason ?? 'not verified'}`, el('span', { class: 'count' }, ` ${a.records ?? 0} records · checked ${time(a.checkedAt)}`)),
    a.checkpoint ? el('div', { class: 'mono' }, `checkpoint #${a.checkpoint.seq} ${a.checkpoint.hash} (${a.checkpoint.time})`) : el('div', { class: 'count' }, 'no checkpoint yet'),
    ...(a.notes ?? []).map((n) => el('div', { class: 'count' }, n)),
  );
}

// ---------------------------------------------------------------- live stream and tap

function connect() {
  const es = new EventSource('/api/stream');
  es.addEventListener('open', () => {
    $('conn').className = 'conn up';
    $('conn').textContent = 'live';
  });
  es.addEventListener('error', () => {
    $('conn').className = 'conn down';
    $('conn').textContent = 'reconnecting…';
  });
  es.addEventListener('snapshot', (ev) => applySnapshot(JSON.parse(ev.data)));
  es.addEventListener('delta', (ev) => {
    for (const d of JSON.parse(ev.data)) applyDelta(d);
  });
}

let tap = null;
function toggleTap(ev) {
  ev.preventDefault();
  if (tap) {
    tap.close();
    tap = null;
    $('tap-toggle').textContent = 'Start';
    $('tap-status').textContent = 'stopped';
    return;
  }
  const pattern = $('tap-pattern').value.trim();
  tap = new EventSource(`/api/tap?pattern=${encodeURIComponent(pattern)}`);
  $('tap-toggle').textContent = 'Stop';
  $('tap-status').textContent = 'starting…';
  const lines = $('tap-lines');
  tap.addEventListener('tap-started', () => ($('tap-status').textContent = `tapping ${pattern}`));
  tap.addEventListener('error', () => {
    if (tap && tap.readyState === EventSource.CLOSED) {
      $('tap-status').textContent = 'refused (is the pattern valid?)';
      $('tap-toggle').textContent = 'Start';
      tap = null;
    }
  });
  tap.addEventListener('tap', (e) => {
    const m = JSON.parse(e.data);
    const li =
      m.skipped !== undefined
        ? el('li', { class: 'count' }, `… ${m.skipped} more messages this second not shown`)
        : el('li', null, el('span', { class: 't' }, `${time(m.time)} `), el('span', { class: 'topic' }, m.topic), m.lost ? el('span', { class: 'error' }, ` (lost ${m.lost})`) : null, ` ${m.payload}`);
    lines.prepend(li);
    while (lines.childElementCount > 500) lines.lastElementChild.remove();
  });
}

for (const id of ['f-camera', 'f-kind', 'f-text', 'f-alerts']) $(id).addEventListener('input', () => mark('events-all'));
$('f-topic').addEventListener('input', () => mark('topics'));
$('tap-form').addEventListener('submit', toggleTap);
connect();
