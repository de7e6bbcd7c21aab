#!/usr/bin/env node
// record.mjs: what real headless Chromium does with crossgate scenarios.
//
//   node record.mjs SCENARIOS.json > RESULTS.json
//
// Starts plain Node HTTP/1.1 servers on 127.0.0.1:8001 (the page's origin), :8002 and :8003 that
// answer each scenario's `server` map exactly as scenarios/README.md says, opens a blank page at
// http://127.0.0.1:8001/ in a fresh browser context per scenario, runs the scenario's fetch() in it
// and prints one result per scenario (the format of scenarios/README.md), in input order.
// Progress goes to stderr. Exit 0 when every scenario was recorded, 1 when one failed to record
// (a hang, a harness error), 2 on a usage or I/O error.
//
// Synchronisation is in-band, never by sleeping: after a scenario's fetch() settles the page
// fetches a marker URL on :8003 that answers without Access-Control-Allow-Origin, which makes
// Chromium print a known CORS message on the same console channel; once that message arrives,
// every console message of the scenario has arrived before it. The marker is left out of
// `requests` and `console`. Every wait is bounded.

import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import { chromium } from 'playwright-core';

const PAGE_ORIGIN = 'http://127.0.0.1:8001';
const PAGE_URL = `${PAGE_ORIGIN}/`;
const PORTS = [8001, 8002, 8003];
const MARKER_PREFIX = '/__crossgate_marker/';
const MARKER_PORT = 8003;
const FETCH_TIMEOUT_MS = 10_000; // a scenario's fetch() that takes longer is recorded as an error
const STEP_TIMEOUT_MS = 15_000; // any one browser step (new context, navigation, evaluate)
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DEBUG = Boolean(process.env.RECORD_DEBUG); // every console entry and DevTools issue, to stderr

// Flags that keep Chromium off the network (it has none here and would stall trying).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-sync',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  // Playwright disables a list of features, among them AvoidCorsURLLoaderRestartOnRedirect, which
  // changes how Chromium's CORS loader follows redirects. A browser as users run it has it on, so
  // this list (the last --disable-features on the command line wins) keeps Playwright's other
  // entries, which stop start-up traffic and UI features, and drops that one.
  '--disable-features=' +
    [
      'AvoidUnnecessaryBeforeUnloadCheckSync',
      'DestroyProfileOnBrowserClose',
      'HttpsUpgrades',
      'HttpsFirstBalancedModeAutoEnable',
      'LensOverlay',
      'MediaRouter',
      'PaintHolding',
      'OptimizationHints',
      'NetworkTimeServiceQuerying',
      'AimEnabled',
      'PreconnectToSearch',
    ].join(','),
];

function usage(message) {
  process.stderr.write(`record: ${message}\nusage: node record.mjs SCENARIOS.json > RESULTS.json\n`);
  process.exit(2);
}

function loadScenarios(file) {
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    usage(`cannot read ${file}: ${e.message}`);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const problems = [];
  const names = new Set();
  for (const [i, s] of list.entries()) {
    const where = `scenario ${i} (${s && s.name})`;
    if (!s || typeof s.name !== 'string' || !s.request || !s.server) {
      problems.push(`${where}: needs name, request and server`);
      continue;
    }
    if (names.has(s.name)) problems.push(`${where}: duplicate name`);
    names.add(s.name);
    if (s.request.origin !== PAGE_ORIGIN) problems.push(`${where}: request.origin must be ${PAGE_ORIGIN}`);
    for (const url of [s.request.url, ...Object.keys(s.server)]) {
      let u;
      try {
        u = new URL(url);
      } catch {
        problems.push(`${where}: not a URL: ${url}`);
        continue;
      }
      if (u.hostname !== '127.0.0.1' || !PORTS.includes(Number(u.port))) {
        problems.push(`${where}: ${url} is not on 127.0.0.1:${PORTS.join('/')}`);
      }
      if (u.pathname.startsWith(MARKER_PREFIX)) problems.push(`${where}: ${url} uses the marker path`);
    }
  }
  if (problems.length) usage(`invalid scenarios:\n  ${problems.join('\n  ')}`);
  return list;
}

// ---- the servers ------------------------------------------------------------------------------
//
// A small HTTP/1.1 server on `net`, not node:http: Node's parser answers 400 by itself to a
// method it does not know (`patch`, `purge`: fetch() sends those as written), and this harness
// must see and answer every request Chromium sends. It writes each answer's headers exactly as the
// scenario lists them: order, case, whitespace, duplicates as separate lines. The only header it
// adds is Content-Length (the body is empty but for the page), unless the scenario declares one.

/** The scenario being recorded: its server map and the requests seen while `recording`. */
let current = null;

const MAX_HEAD_BYTES = 64 * 1024;

// The page: blank, with an inline icon so that Chromium does not ask for /favicon.ico.
const PAGE_HTML = '<!doctype html><html><head><link rel="icon" href="data:,"><title>crossgate</title></head><body></body></html>';

/** Serialises an answer: status line, the given header lines, Content-Length, the body. */
function answerBytes(status, headers, body = '') {
  const reason = http.STATUS_CODES[status] || 'Unknown';
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [name, value] of headers) {
    if (/[\r\n]/.test(name + value)) throw new Error(`header line break in ${JSON.stringify([name, value])}`);
    head += `${name}: ${value}\r\n`;
  }
  if (!headers.some(([name]) => name.toLowerCase() === 'content-length')) {
    head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  }
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), Buffer.from(body)]);
}

/** What the server answers to one parsed request (and records it while a scenario is on). */
function route(port, method, target, headers) {
  const url = `http://127.0.0.1:${port}${target}`;
  const get = (name) => {
    const values = headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    return values.length ? values.join(', ') : null;
  };
  if (target.startsWith(MARKER_PREFIX)) return answerBytes(200, []);
  if (current && current.recording) {
    current.requests.push({
      method,
      url,
      origin: get('origin'),
      acrm: get('access-control-request-method'),
      acrh: get('access-control-request-headers'),
    });
  }
  const entry = current && current.scenario.server[url];
  if (entry) {
    const isPreflight = method === 'OPTIONS' && get('access-control-request-method') !== null;
    const a = isPreflight ? entry.preflight : entry.response;
    return a ? answerBytes(a.status, a.headers) : answerBytes(404, []);
  }
  if (port === 8001 && target === '/' && method === 'GET') {
    return answerBytes(200, [['Content-Type', 'text/html; charset=utf-8']], PAGE_HTML);
  }
  return answerBytes(404, []);
}

/** Serves one connection: requests in order (keep-alive), bodies by Content-Length or chunked. */
function serveConnection(port, socket) {
  let buf = Buffer.alloc(0);
  let closed = false;
  const fail = (why) => {
    if (current) current.serverErrors.push(`:${port}: ${why}`);
    closed = true;
    socket.destroy();
  };
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (!closed) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) fail('request head too large');
        return;
      }
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^(\S+) (\S+) HTTP\/1\.[01]$/.exec(lines[0]);
      if (!m) return fail(`bad request line ${JSON.stringify(lines[0])}`);
      const headers = [];
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) return fail(`bad header line ${JSON.stringify(line)}`);
        headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
      }
      const header = (name) => headers.find(([n]) => n.toLowerCase() === name)?.[1];
      let rest = buf.subarray(end + 4);
      if (/chunked/i.test(header('transfer-encoding') ?? '')) {
        // Skip chunks up to the last (zero-size) one and its empty trailer.
        let at = 0;
        for (;;) {
          const eol = rest.indexOf('\r\n', at);
          if (eol < 0) return; // wait for more
          const size = parseInt(rest.subarray(at, eol).toString('latin1'), 16);
          if (Number.isNaN(size)) return fail('bad chunk size');
          if (size === 0) {
            const trailerEnd = rest.indexOf('\r\n\r\n', eol);
            if (trailerEnd < 0) return;
            rest = rest.subarray(trailerEnd + 4);
            break;
          }
          if (rest.length < eol + 2 + size + 2) return;
          at = eol + 2 + size + 2;
        }
      } else {
        const length = Number(header('content-length') ?? 0);
        if (!Number.isSafeInteger(length) || length < 0) return fail('bad Content-Length');
        if (rest.length < length) return; // wait for the body
        rest = rest.subarray(length);
      }
      buf = rest;
      try {
        socket.write(route(port, m[1], m[2], headers));
      } catch (e) {
        if (current) current.serverErrors.push(`${m[1]} :${port}${m[2]}: ${e.message}`);
        socket.write(answerBytes(500, []));
      }
      if (/close/i.test(header('connection') ?? '')) {
        closed = true;
        socket.end();
      }
    }
  });
}

async function startServers() {
  const servers = [];
  for (const port of PORTS) {
    const sockets = new Set();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      serveConnection(port, socket);
    });
    server.closeAll = () => {
      for (const s of sockets) s.destroy();
      server.close();
    };
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    servers.push(server);
  }
  return servers;
}

// ---- the browser ------------------------------------------------------------------------------

function bounded(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Runs in the page: the scenario's fetch(), settled, with what script can see of the response. */
async function pageFetch({ url, init, timeoutMs }) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(url, { ...init, signal: controller.signal });
    return { ok: true, status: response.status, url: response.url, keys: [...response.headers.keys()] };
  } catch (e) {
    return { ok: false, aborted: controller.signal.aborted, error: `${e.name}: ${e.message}` };
  } finally {
    clearTimeout(timer);
  }
}

function markerMessage(markerUrl) {
  return (
    `Access to fetch at '${markerUrl}' from origin '${PAGE_ORIGIN}' has been blocked by CORS policy: ` +
    `No 'Access-Control-Allow-Origin' header is present on the requested resource.`
  );
}

async function recordOne(browser, scenario, index) {
  const req = scenario.request;
  current = { scenario, recording: false, requests: [], serverErrors: [] };
  const context = await bounded(browser.newContext(), STEP_TIMEOUT_MS, 'new context');
  try {
    const page = await bounded(context.newPage(), STEP_TIMEOUT_MS, 'new page');
    const cdp = await bounded(context.newCDPSession(page), STEP_TIMEOUT_MS, 'CDP session');
    const entries = [];
    let onEntry = () => {};
    cdp.on('Log.entryAdded', ({ entry }) => {
      if (DEBUG) process.stderr.write(`\n  log ${JSON.stringify(entry)}`);
      entries.push(entry);
      onEntry();
    });
    await bounded(cdp.send('Log.enable'), STEP_TIMEOUT_MS, 'Log.enable');
    if (DEBUG) {
      // DevTools issues (deprecations, CORS details) are not console messages; shown to help debug.
      cdp.on('Audits.issueAdded', ({ issue }) => process.stderr.write(`\n  issue ${JSON.stringify(issue)}`));
      await bounded(cdp.send('Audits.enable'), STEP_TIMEOUT_MS, 'Audits.enable');
    }
    await bounded(page.goto(PAGE_URL), STEP_TIMEOUT_MS, 'page load');
    const before = entries.length; // anything the blank page printed is not the scenario's

    current.recording = true;
    const init = { method: req.method, headers: req.headers || [], mode: 'cors' };
    init.credentials = req.credentials || 'same-origin';
    if (req.body !== undefined && req.body !== null) init.body = req.body;
    const result = await bounded(
      page.evaluate(pageFetch, { url: req.url, init, timeoutMs: FETCH_TIMEOUT_MS }),
      STEP_TIMEOUT_MS,
      'fetch()',
    );
    current.recording = false;
    if (!result.ok && result.aborted) throw new Error(`fetch() did not settle within ${FETCH_TIMEOUT_MS} ms`);

    // The marker: a request whose console message is known and arrives after the scenario's.
    const markerUrl = `http://127.0.0.1:${MARKER_PORT}${MARKER_PREFIX}${index}`;
    const expected = markerMessage(markerUrl);
    const isMarker = (e) => e.text === expected;
    const seen = new Promise((resolve) => {
      onEntry = () => {
        if (entries.some(isMarker)) resolve();
      };
      onEntry();
    });
    const markerResult = await bounded(
      page.evaluate(pageFetch, { url: markerUrl, init: { mode: 'cors' }, timeoutMs: FETCH_TIMEOUT_MS }),
      STEP_TIMEOUT_MS,
      'marker fetch()',
    );
    if (markerResult.ok) throw new Error('marker fetch() was allowed');
    await bounded(seen, STEP_TIMEOUT_MS, 'marker console message');
    const markerAt = entries.findIndex(isMarker);

    const console_ = entries
      .slice(before, markerAt)
      // "Failed to load resource: net::ERR_FAILED" and the like: the network layer's line for a
      // failed load, which Chromium prints beside the CORS message; it is not part of the result.
      .filter((e) => e.source !== 'network')
      .map((e) => e.text);

    if (current.serverErrors.length) throw new Error(`server: ${current.serverErrors.join('; ')}`);
    const requests = current.requests;
    const out = { name: scenario.name, outcome: result.ok ? 'allowed' : 'blocked' };
    if (result.ok) {
      out.status = result.status;
      const final = scenario.server[result.url];
      const declared = new Set(((final && final.response && final.response.headers) || []).map(([n]) => n.toLowerCase()));
      out.readable_headers = result.keys.filter((k) => declared.has(k)).sort();
    }
    out.preflight_sent = requests.some((r) => r.method === 'OPTIONS' && r.acrm !== null);
    out.requests = requests;
    out.console = console_;
    return { out, detail: result.ok ? `${result.status}` : result.error };
  } finally {
    current = null;
    await bounded(context.close(), STEP_TIMEOUT_MS, 'context close').catch(() => {});
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 1 || args[0].startsWith('-')) usage('expected one scenarios file');
  const scenarios = loadScenarios(args[0]);
  const started = Date.now();
  let servers;
  try {
    servers = await startServers();
  } catch (e) {
    usage(`cannot listen on 127.0.0.1:${PORTS.join('/')}: ${e.message}`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  process.stderr.write(`record: ${browser.version()}, ${scenarios.length} scenarios\n`);
  const results = [];
  let failed = 0;
  for (const [i, scenario] of scenarios.entries()) {
    process.stderr.write(`[${i + 1}/${scenarios.length}] ${scenario.name}`);
    try {
      const { out, detail } = await recordOne(browser, scenario, i);
      results.push(out);
      process.stderr.write(` ${out.outcome} (${detail})\n`);
    } catch (e) {
      failed++;
      results.push({ name: scenario.name, outcome: 'error', error: e.message });
      process.stderr.write(` ERROR: ${e.message}\n`);
    }
  }
  await bounded(browser.close(), STEP_TIMEOUT_MS, 'browser close').catch(() => {});
  for (const s of servers) s.closeAll();
  // The layout of the reference recording (examples.chromium.json), byte for byte.
  process.stdout.write(JSON.stringify(results, null, 1));
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  process.stderr.write(`record: ${results.length - failed} recorded, ${failed} failed, ${secs} s\n`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(`record: ${e.stack || e}\n`);
  process.exit(2);
});
