/* global document, fetch, sessionStorage, setInterval */
// A first view of the fleet; the full dashboard (charts, host and GPU views) builds on the same API.
// A file of its own, not an inline script: the gateway's Content-Security-Policy allows scripts from 'self' only.

// A gateway with API keys answers 401: the page asks for a key once and sends it with every call
// (sessionStorage: it is forgotten when the tab closes).
const KEY_STORAGE = 'gputel-api-key';
class KeyRequired extends Error {}
async function api(path) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const response = await fetch(path, { headers: key ? { 'X-API-Key': key } : {} });
  if (response.status === 401 || response.status === 403) {
    sessionStorage.removeItem(KEY_STORAGE);
    throw new KeyRequired((await response.json()).error.message);
  }
  return response;
}
document.getElementById('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, document.getElementById('key-input').value.trim());
  document.getElementById('key-form').hidden = true;
  refresh();
});
const text = (v) => (v === null || v === undefined ? '–' : String(v));
function cell(row, value, className) {
  const td = row.insertCell();
  td.textContent = text(value);
  if (className) td.className = className;
}
async function latestOf(gpu) {
  // The newest record from latest/ (no chunk is read); a MIG instance is asked for by its id.
  const response = await api(`/api/v1/gpus/${encodeURIComponent(gpu.id ?? gpu.uuid)}/latest`);
  return response.ok ? (await response.json()).data : undefined;
}
async function refresh() {
  try {
    const [stats, gpus] = await Promise.all([api('/api/v1/stats').then((r) => r.json()), api('/api/v1/gpus').then((r) => r.json())]);
    document.getElementById('stats').innerHTML = '';
    for (const [name, value] of Object.entries(stats)) {
      const div = document.createElement('div');
      div.className = 'stat';
      div.innerHTML = `<b></b>${name}`;
      div.querySelector('b').textContent = value.toLocaleString();
      document.getElementById('stats').append(div);
    }
    const latest = await Promise.all(gpus.data.map(latestOf));
    const body = document.getElementById('gpus');
    body.innerHTML = '';
    gpus.data.forEach((gpu, i) => {
      const row = body.insertRow();
      const record = latest[i] ?? {};
      cell(row, gpu.hostname);
      cell(row, gpu.gpu_id);
      cell(row, gpu.model);
      cell(row, gpu.uuid);
      cell(row, gpu.status, gpu.status === 'stale' ? 'stale' : '');
      cell(row, record.gpu_utilization);
      cell(row, record.temperature);
      cell(row, record.power_draw);
      cell(row, gpu.last_seen);
    });
    document.getElementById('problem').textContent = '';
  } catch (error) {
    if (error instanceof KeyRequired) document.getElementById('key-form').hidden = false;
    document.getElementById('problem').textContent = error instanceof KeyRequired ? error.message : `cannot reach the API: ${error.message}`;
  }
}
refresh();
setInterval(refresh, 5000);
