// The soak's processes (driven by soak.sh): a slow loopback upstream, the attackers, and the
// watcher (a normal client on 127.0.0.2 plus the proxy's resident memory, sampled). Node.js core
// modules only; everything connects to 127.0.0.1 and nothing else.
//
//   node soak.mjs upstream SLOW_MS BIG_BYTES       prints "port N" once listening
//   node soak.mjs ready PORT                       waits (bounded) until GET /fast through PORT is 200
//   node soak.mjs watch PORT PID SECONDS OUT.json  normal client every 50 ms, VmRSS every 100 ms, fds every 500 ms
//   node soak.mjs attack KIND PORT SECONDS         KIND: none | h2 | slowloris | idle | jsonp
//   node soak.mjs row NAME OUT.json EMFILE RSS_TARGET_MIB   one markdown table row, and PASS/FAIL
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const ORIGIN = 'http://localhost:5173';
const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The normal client: one request every INTERVAL_MS, each on a fresh connection from 127.0.0.2,
// given up after TIMEOUT_MS (a failure, counted with its time).
const INTERVAL_MS = 50;
const TIMEOUT_MS = 5000;
// The targets: 99% of the normal client's requests answered 2xx within this long.
const P99_TARGET_MS = 1000;
// A refused request (non-2xx, reset) is sent again after this long, so that the attacks keep
// their concurrency without turning into a request-rate flood (another attack, which rate
// limits answer); a request the upstream answered is sent again at once.
const RETRY_MS = 250;

function upstream(slowMs, bigBytes) {
  // A JSON document of exactly bigBytes bytes: {"pad":"xxx…"}.
  const big = Buffer.alloc(bigBytes, 'x');
  big.write('{"pad":"', 0);
  big.write('"}', bigBytes - 2);
  const small = Buffer.from('{"ok":true}');
  const server = http.createServer((req, res) => {
    const path = req.url.split('?')[0];
    const answer = (body) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    };
    if (path === '/slow') {
      const timer = setTimeout(() => answer(small), slowMs);
      res.on('close', () => clearTimeout(timer));
    } else if (path === '/big') {
      answer(big);
    } else {
      answer(small);
    }
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  server.requestTimeout = 0;
  server.listen(0, HOST, () => console.log(`port ${server.address().port}`));
}

async function ready(port) {
  for (let i = 0; i < 100; i++) {
    const status = await new Promise((resolve) => {
      const req = http.get({ host: HOST, port, path: '/fast', agent: false, headers: { origin: ORIGIN } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', () => resolve(0));
      req.setTimeout(1000, () => req.destroy());
    });
    if (status === 200) return;
    await sleep(100);
  }
  console.error(`soak: nothing answered 200 on 127.0.0.1:${port}`);
  process.exit(1);
}

// One request of the normal client: its time, and its status or why it failed.
function normalRequest(port) {
  return new Promise((resolve) => {
    const start = performance.now();
    let done = false;
    const finish = (status, error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ms: performance.now() - start, status, error });
    };
    const req = http.request(
      { host: HOST, port, path: '/fast', localAddress: '127.0.0.2', agent: false, headers: { origin: ORIGIN } },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => finish(res.statusCode, null));
        res.on('error', (e) => finish(null, e.code || e.message));
      },
    );
    req.on('error', (e) => finish(null, e.code || e.message));
    const timer = setTimeout(() => {
      finish(null, 'timeout');
      req.destroy();
    }, TIMEOUT_MS);
    req.end();
  });
}

async function watch(port, pid, seconds, out) {
  let maxRss = 0;
  let hwm = 0;
  const sample = () => {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      maxRss = Math.max(maxRss, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
      hwm = Math.max(hwm, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // The proxy is gone: what was sampled stays.
    }
  };
  // Open descriptors too, less often (a directory of thousands of entries).
  let maxFds = 0;
  const count = () => {
    try {
      maxFds = Math.max(maxFds, fs.readdirSync(`/proc/${pid}/fd`).length);
    } catch {
      // Gone, or not readable: what was counted stays.
    }
  };
  sample();
  count();
  const sampler = setInterval(sample, 100);
  const counter = setInterval(count, 500);
  const results = [];
  const pending = new Set();
  const fire = () => {
    const request = normalRequest(port).then((result) => {
      results.push(result);
      pending.delete(request);
    });
    pending.add(request);
  };
  const ticker = setInterval(fire, INTERVAL_MS);
  await sleep(seconds * 1000);
  clearInterval(ticker);
  await Promise.all(pending);
  sample();
  clearInterval(sampler);
  clearInterval(counter);
  fs.writeFileSync(out, JSON.stringify({ results, maxRssKiB: maxRss, hwmKiB: hwm, maxFds }));
}

// Counts what an attacker saw, printed when it stops.
function tally() {
  const counts = {};
  return {
    add: (key) => (counts[key] = (counts[key] ?? 0) + 1),
    toString: () =>
      Object.entries(counts)
        .sort()
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ') || 'nothing',
  };
}

// HTTP/2 fan-out: 100 connections (h2c, prior knowledge) x 200 streams each, GET /slow.
function attackH2(port, stop) {
  const seen = tally();
  let live = 0;
  let peak = 0;
  const connect = () => {
    if (stop.now) return;
    const session = http2.connect(`http://${HOST}:${port}`, {
      peerMaxConcurrentStreams: 200,
      maxSessionMemory: 1000,
    });
    session.on('error', (e) => seen.add(`session ${e.code || e.message}`));
    session.on('goaway', () => seen.add('goaway'));
    session.on('close', () => {
      seen.add('session closed');
      if (!stop.now) setTimeout(connect, RETRY_MS);
    });
    const open = () => {
      if (stop.now || session.closed || session.destroyed) return;
      let stream;
      try {
        stream = session.request({ ':path': '/slow', origin: ORIGIN });
      } catch (e) {
        seen.add(`request ${e.code || e.message}`);
        return;
      }
      live++;
      peak = Math.max(peak, live);
      let status = 0;
      stream.on('response', (headers) => {
        status = headers[':status'];
        seen.add(`status ${status}`);
      });
      stream.on('error', (e) => seen.add(`stream ${e.code || e.message}`));
      stream.resume();
      stream.on('close', () => {
        live--;
        if (status >= 200 && status < 300) setImmediate(open);
        else setTimeout(open, RETRY_MS);
      });
      stream.end();
    };
    for (let i = 0; i < 200; i++) open();
  };
  for (let i = 0; i < 100; i++) connect();
  return () => `100 connections x 200 streams of GET /slow; ${peak} streams in flight at most; ${seen}`;
}

// Connections that never finish a request head: COUNT of them, opened over RAMP_MS, each sending
// one byte of a head every 2-5 s (or, idle, nothing at all); one closed is opened again after 1 s.
function attackSlow(port, stop, count, rampMs, dribble) {
  const seen = tally();
  const head = 'GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://localhost:5173\r\nX-Slow: ';
  let live = 0;
  let peak = 0;
  const open = () => {
    if (stop.now) return;
    const socket = net.connect({ host: HOST, port });
    let sent = 0;
    let timer = null;
    let connected = false;
    const drip = () => {
      if (stop.now || socket.destroyed) return;
      socket.write(sent < head.length ? head[sent] : 'a');
      sent++;
      timer = setTimeout(drip, 2000 + Math.random() * 3000);
    };
    socket.on('connect', () => {
      connected = true;
      live++;
      peak = Math.max(peak, live);
      if (dribble) drip();
    });
    socket.on('data', () => seen.add('answered'));
    socket.on('error', (e) => seen.add(e.code || e.message));
    socket.on('close', () => {
      clearTimeout(timer);
      stop.sockets.delete(socket);
      if (connected) {
        seen.add('closed');
        live--;
      }
      if (!stop.now) setTimeout(open, 1000);
    });
    stop.sockets.add(socket);
  };
  for (let i = 0; i < count; i++) setTimeout(open, (i * rampMs) / count);
  const what = dribble ? `${count} connections over ${rampMs / 1000} s, a head byte every 2-5 s` : `${count} idle connections over ${rampMs / 1000} s, sending nothing`;
  return () => `${what}; ${peak} connected at most; ${seen}`;
}

// JSONP: 40 requests for the 10 MiB JSON answer in flight at once, each read whole.
function attackJsonp(port, stop) {
  const seen = tally();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });
  let bytes = 0;
  const one = () => {
    if (stop.now) return;
    const req = http.get({ host: HOST, port, path: '/big?callback=cb', agent }, (res) => {
      seen.add(`status ${res.statusCode}`);
      res.on('data', (chunk) => (bytes += chunk.length));
      res.on('end', () => (res.statusCode === 200 ? setImmediate(one) : setTimeout(one, RETRY_MS)));
      res.on('error', () => setTimeout(one, RETRY_MS));
    });
    req.on('error', (e) => {
      seen.add(e.code || e.message);
      setTimeout(one, RETRY_MS);
    });
  };
  for (let i = 0; i < 40; i++) one();
  return () => {
    agent.destroy();
    return `40 x GET /big?callback=cb in flight; ${(bytes / 1048576).toFixed(0)} MiB read; ${seen}`;
  };
}

async function attack(kind, port, seconds) {
  const stop = { now: false, sockets: new Set() };
  const report = {
    h2: () => attackH2(port, stop),
    slowloris: () => attackSlow(port, stop, 8600, 10_000, true),
    idle: () => attackSlow(port, stop, 1100, 1000, false),
    jsonp: () => attackJsonp(port, stop),
    none: () => () => 'no attack',
  }[kind];
  if (!report) {
    console.error(`soak: no attack ${kind}`);
    process.exit(2);
  }
  const summary = report();
  await sleep(seconds * 1000);
  stop.now = true;
  console.log(summary());
  for (const socket of stop.sockets) socket.destroy();
  process.exit(0);
}

// The nearest-rank percentile of sorted numbers.
const percentile = (sorted, p) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0;

function row(name, file, emfile, rssTargetMiB) {
  const { results, maxRssKiB, hwmKiB, maxFds } = JSON.parse(fs.readFileSync(file, 'utf8'));
  const answered = results.filter((r) => r.status !== null);
  const non2xx = answered.filter((r) => r.status < 200 || r.status >= 300).length;
  const failed = results.length - answered.length;
  const sorted = results.map((r) => r.ms).sort((a, b) => a - b);
  const inTime = results.filter((r) => r.status >= 200 && r.status < 300 && r.ms < P99_TARGET_MS).length;
  const latencyOk = results.length > 0 && inTime >= 0.99 * results.length;
  const rssMiB = maxRssKiB / 1024;
  const rssOk = rssMiB < rssTargetMiB;
  const ms = (x) => x.toFixed(0);
  const verdict = latencyOk && rssOk ? 'pass' : `FAIL (${[!latencyOk && 'p99', !rssOk && 'RSS'].filter(Boolean).join(', ')})`;
  const errors = tally();
  for (const r of results) if (r.status === null) errors.add(r.error);
  console.log(
    `| ${name} | ${results.length} | ${answered.length} | ${non2xx} | ${failed} | ${ms(percentile(sorted, 0.5))} | ` +
      `${ms(percentile(sorted, 0.99))} | ${ms(sorted[sorted.length - 1] ?? 0)} | ${rssMiB.toFixed(0)} (${(hwmKiB / 1024).toFixed(0)}) | ` +
      `${maxFds} | ${emfile} | ${verdict} |`,
  );
  if (failed > 0) console.error(`soak: ${name}: the normal client's failures: ${errors}`);
  process.exitCode = verdict === 'pass' ? 0 : 3;
}

const [command, ...args] = process.argv.slice(2);
switch (command) {
  case 'upstream':
    upstream(Number(args[0]), Number(args[1]));
    break;
  case 'ready':
    await ready(Number(args[0]));
    break;
  case 'watch':
    await watch(Number(args[0]), Number(args[1]), Number(args[2]), args[3]);
    break;
  case 'attack':
    await attack(args[0], Number(args[1]), Number(args[2]));
    break;
  case 'row':
    row(args[0], args[1], args[2], Number(args[3]));
    break;
  default:
    console.error('usage: node soak.mjs upstream|ready|watch|attack|row … (see soak.sh)');
    process.exit(2);
}
