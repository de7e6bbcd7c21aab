#!/usr/bin/env node
// generate.mjs: the scenario matrix that record.mjs plays in Chromium and `crossgate simulate`
// is held to.
//
//   node generate.mjs > ../../scenarios/matrix.json
//
// Deterministic: the same file every run. The page's origin is http://127.0.0.1:8001, targets are
// on :8002 and :8003, and each scenario has paths of its own (/<name>, /<name>/<hop>), so that no
// two scenarios share a URL. Each scenario is checked against scenarios/README.md before it is
// printed; a count per category goes to stderr.

const O = 'http://127.0.0.1:8001'; // the page's origin
const A = 'http://127.0.0.1:8002'; // the target
const B = 'http://127.0.0.1:8003'; // a second cross origin, for redirects

const scenarios = [];
const counts = new Map();

// ---- building blocks ---------------------------------------------------------------------------

const ACAO = (v = O) => ['Access-Control-Allow-Origin', v];
const ACAC = (v = 'true') => ['Access-Control-Allow-Credentials', v];
const ACAM = (v) => ['Access-Control-Allow-Methods', v];
const ACAH = (v) => ['Access-Control-Allow-Headers', v];
const ACEH = (v) => ['Access-Control-Expose-Headers', v];
const MAXAGE = (v) => ['Access-Control-Max-Age', v];
const LOCATION = (v) => ['Location', v];

/** A response (or preflight answer). */
const res = (status, headers = []) => ({ status, headers });

/**
 * Adds one scenario. `url` defaults to http://127.0.0.1:8002/<name>; `server` maps URLs to
 * {preflight, response}; a missing `preflight` means null.
 */
function add(category, name, { method = 'GET', headers = [], credentials = 'omit', body, url, server }) {
  const request = { origin: O, url: url ?? `${A}/${name}`, method, headers, credentials };
  if (body !== undefined) request.body = body;
  const map = {};
  for (const [u, entry] of Object.entries(server)) {
    map[u] = { preflight: entry.preflight ?? null, response: entry.response };
  }
  scenarios.push({ name, request, server: map });
  counts.set(category, (counts.get(category) ?? 0) + 1);
}

/** The URL of a scenario's own resource on an origin, with an optional hop name. */
const at = (origin, name, hop) => `${origin}/${name}${hop ? `/${hop}` : ''}`;

// ---- 1. simple requests: methods, and Access-Control-Allow-Origin ------------------------------

for (const method of ['GET', 'HEAD', 'POST']) {
  const m = method.toLowerCase();
  const body = method === 'POST' ? 'hello' : undefined;
  add('simple', `simple-${m}-acao-exact`, { method, body, server: { [at(A, `simple-${m}-acao-exact`)]: { response: res(200, [ACAO()]) } } });
  add('simple', `simple-${m}-acao-missing`, { method, body, server: { [at(A, `simple-${m}-acao-missing`)]: { response: res(200, []) } } });
  add('simple', `simple-${m}-acao-star`, { method, body, server: { [at(A, `simple-${m}-acao-star`)]: { response: res(200, [ACAO('*')]) } } });
}

// Access-Control-Allow-Origin variants on a simple GET (credentials omit unless said).
const acaoVariants = [
  ['mismatch', [ACAO(B)]],
  ['uppercase-value', [ACAO('HTTP://127.0.0.1:8001')]],
  ['uppercase-name', [['ACCESS-CONTROL-ALLOW-ORIGIN', O]]],
  ['lowercase-name', [['access-control-allow-origin', O]]],
  ['whitespace', [ACAO(`  ${O}  `)]],
  ['star-whitespace', [ACAO(' * ')]],
  ['duplicated', [ACAO(), ACAO()]],
  ['duplicated-star', [ACAO('*'), ACAO('*')]],
  ['duplicated-mismatch', [ACAO(), ACAO(B)]],
  ['comma-list', [ACAO(`${O}, ${B}`)]],
  ['comma-list-star', [ACAO(`*, ${O}`)]],
  ['empty', [ACAO('')]],
  ['null', [ACAO('null')]],
  ['trailing-slash', [ACAO(`${O}/`)]],
  ['no-port', [ACAO('http://127.0.0.1')]],
  ['other-scheme', [ACAO('https://127.0.0.1:8001')]],
  ['localhost', [ACAO('http://localhost:8001')]],
  ['no-scheme', [ACAO('127.0.0.1:8001')]],
  ['invalid-token', [ACAO(`${O} x`)]],
  ['default-port-added', [ACAO('http://127.0.0.1:8001:80')]],
];
for (const [variant, headers] of acaoVariants) {
  const name = `simple-get-acao-${variant}`;
  add('acao', name, { server: { [at(A, name)]: { response: res(200, headers) } } });
}

// ---- 2. credentials: Access-Control-Allow-Credentials and the wildcard -------------------------

const credVariants = [
  // [variant, credentials mode, response headers]
  ['include-acao-exact-acac-true', 'include', [ACAO(), ACAC()]],
  ['include-acao-exact-acac-missing', 'include', [ACAO()]],
  ['include-acao-exact-acac-uppercase', 'include', [ACAO(), ACAC('TRUE')]],
  ['include-acao-exact-acac-false', 'include', [ACAO(), ACAC('false')]],
  ['include-acao-exact-acac-empty', 'include', [ACAO(), ACAC('')]],
  ['include-acao-exact-acac-whitespace', 'include', [ACAO(), ACAC(' true ')]],
  ['include-acao-exact-acac-duplicated', 'include', [ACAO(), ACAC(), ACAC()]],
  ['include-acao-exact-acac-uppercase-name', 'include', [ACAO(), ['ACCESS-CONTROL-ALLOW-CREDENTIALS', 'true']]],
  ['include-acao-star-acac-true', 'include', [ACAO('*'), ACAC()]],
  ['include-acao-star-acac-missing', 'include', [ACAO('*')]],
  ['include-acao-missing-acac-true', 'include', [ACAC()]],
  ['include-acao-mismatch-acac-true', 'include', [ACAO(B), ACAC()]],
  ['include-acao-null-acac-true', 'include', [ACAO('null'), ACAC()]],
  ['same-origin-acao-star', 'same-origin', [ACAO('*')]],
  ['same-origin-acao-exact-acac-missing', 'same-origin', [ACAO()]],
  ['same-origin-acao-exact-acac-false', 'same-origin', [ACAO(), ACAC('false')]],
  ['omit-acao-exact-acac-true', 'omit', [ACAO(), ACAC()]],
  ['omit-acao-star-acac-true', 'omit', [ACAO('*'), ACAC()]],
];
for (const [variant, credentials, headers] of credVariants) {
  const name = `credentials-${variant}`;
  add('credentials', name, { credentials, server: { [at(A, name)]: { response: res(200, headers) } } });
}

// ---- 3. request headers: which are safelisted, and what the preflight asks for -----------------

const long = (n, ch = 'a') => ch.repeat(n);
const requestHeaderCases = [
  // [variant, method, headers, body]: the server allows every header by name in the preflight,
  // so the scenario shows whether a preflight is sent and its Access-Control-Request-Headers.
  ['accept', 'GET', [['Accept', 'application/json']]],
  ['accept-language', 'GET', [['Accept-Language', 'en-US,en;q=0.9']]],
  ['accept-language-unsafe-byte', 'GET', [['Accept-Language', 'en_US']]],
  ['content-language', 'GET', [['Content-Language', 'de-DE']]],
  ['content-language-unsafe-byte', 'GET', [['Content-Language', 'de/DE']]],
  ['content-type-text-plain', 'POST', [['Content-Type', 'text/plain']], 'x'],
  ['content-type-text-plain-charset', 'POST', [['Content-Type', 'text/plain;charset=UTF-8']], 'x'],
  ['content-type-uppercase', 'POST', [['Content-Type', 'TEXT/PLAIN']], 'x'],
  ['content-type-form-urlencoded', 'POST', [['Content-Type', 'application/x-www-form-urlencoded']], 'a=1'],
  ['content-type-multipart', 'POST', [['Content-Type', 'multipart/form-data; boundary=x']], '--x--'],
  ['content-type-json', 'POST', [['Content-Type', 'application/json']], '{}'],
  ['content-type-text-html', 'POST', [['Content-Type', 'text/html']], 'x'],
  ['content-type-unsafe-byte', 'POST', [['Content-Type', 'text/plain; charset="utf-8"']], 'x'],
  ['content-type-over-128-bytes', 'POST', [['Content-Type', `text/plain; x=${long(120)}`]], 'x'],
  ['accept-over-128-bytes', 'GET', [['Accept', `text/${long(130)}`]]],
  ['accept-128-bytes', 'GET', [['Accept', `text/${long(123)}`]]],
  ['accept-unsafe-byte', 'GET', [['Accept', 'text/{html}']]],
  ['range-single', 'GET', [['Range', 'bytes=0-99']]],
  ['range-open', 'GET', [['Range', 'bytes=100-']]],
  ['range-multi', 'GET', [['Range', 'bytes=0-1,5-6']]],
  ['range-suffix', 'GET', [['Range', 'bytes=-5']]],
  ['x-foo', 'GET', [['X-Foo', '1']]],
  ['authorization', 'GET', [['Authorization', 'Bearer t']]],
  ['several-unsafe', 'POST', [['X-Zeta', '1'], ['x-alpha', '1'], ['Content-Type', 'application/json'], ['X-Mid-Dle', '1'], ['Accept', 'text/plain']], '{}'],
  ['duplicate-unsafe', 'GET', [['X-Foo', '1'], ['X-Foo', '2'], ['x-foo', '3']]],
  ['safelisted-total-over-1024-bytes', 'GET', Array.from({ length: 9 }, (_, i) => ['Accept', `text/${i}${long(114)}`])],
  ['safelisted-total-under-1024-bytes', 'GET', [['Accept', `text/${long(120)}`], ['Accept-Language', long(120)], ['Content-Language', long(120)]]],
  ['get-x-foo-with-accept', 'GET', [['Accept', 'text/plain'], ['X-Foo', '1']]],
];
for (const [variant, method, headers, body] of requestHeaderCases) {
  const name = `request-header-${variant}`;
  const unique = [...new Set(headers.map(([n]) => n.toLowerCase()))].join(', ');
  add('request-headers', name, {
    method,
    headers,
    body,
    server: {
      [at(A, name)]: {
        preflight: res(204, [ACAO(), ACAM(method), ACAH(unique)]),
        response: res(200, [ACAO()]),
      },
    },
  });
}

// ---- 4. methods: which are preflighted and how Access-Control-Allow-Methods matches ------------

// [method as the page writes it, as it goes on the wire, the other case]. fetch() upper-cases
// DELETE, GET, HEAD, OPTIONS, POST and PUT only.
const methods = [
  ['PUT', 'PUT', 'put'],
  ['DELETE', 'DELETE', 'delete'],
  ['PATCH', 'PATCH', 'patch'],
  ['put', 'PUT', 'put'],
  ['patch', 'patch', 'PATCH'],
  ['PURGE', 'PURGE', 'purge'],
  ['purge', 'purge', 'PURGE'],
];
for (const [method, wire, other] of methods) {
  const m = method === method.toLowerCase() ? `lower-${method}` : method.toLowerCase();
  const variants = [
    ['acam-exact', 'omit', [ACAO(), ACAM(wire)]],
    ['acam-missing', 'omit', [ACAO()]],
    ['acam-star', 'omit', [ACAO(), ACAM('*')]],
    ['acam-star-credentials', 'include', [ACAO(), ACAC(), ACAM('*')]],
    ['acam-other-case', 'omit', [ACAO(), ACAM(other)]],
  ];
  for (const [variant, credentials, preflight] of variants) {
    const name = `method-${m}-${variant}`;
    const response = credentials === 'include' ? [ACAO(), ACAC()] : [ACAO()];
    add('methods', name, {
      method,
      credentials,
      body: method.toLowerCase() === 'delete' ? undefined : 'x',
      server: { [at(A, name)]: { preflight: res(204, preflight), response: res(200, response) } },
    });
  }
}
// Safelisted methods need no Access-Control-Allow-Methods even when preflighted for a header.
for (const method of ['GET', 'HEAD', 'POST']) {
  const name = `method-${method.toLowerCase()}-x-foo-acam-missing`;
  add('methods', name, {
    method,
    headers: [['X-Foo', '1']],
    body: method === 'POST' ? 'x' : undefined,
    server: { [at(A, name)]: { preflight: res(204, [ACAO(), ACAH('x-foo')]), response: res(200, [ACAO()]) } },
  });
}

// ---- 5. the preflight: Access-Control-Allow-Methods / -Headers / -Origin / Max-Age -------------

// PUT with X-Foo (and Content-Type: application/json where said); the actual response allows.
function preflightCase(variant, preflightHeaders, opts = {}) {
  const name = `preflight-${variant}`;
  const credentials = opts.credentials ?? 'omit';
  const response = opts.response ?? (credentials === 'include' ? [ACAO(), ACAC()] : [ACAO()]);
  add(opts.category ?? 'preflight', name, {
    method: opts.method ?? 'PUT',
    headers: opts.headers ?? [['X-Foo', '1']],
    credentials,
    body: opts.body ?? 'x',
    server: { [at(A, name)]: { preflight: opts.status === null ? null : res(opts.status ?? 204, preflightHeaders), response: res(200, response) } },
  });
}
const allowAll = (extra = []) => [ACAO(), ACAM('PUT'), ACAH('x-foo'), ...extra];

preflightCase('allowed', allowAll(), { category: 'preflight-acao' });
// Allow-Methods
const acamVariants = [
  ['comma-list', 'GET, PUT, DELETE'],
  ['comma-list-no-space', 'GET,PUT'],
  ['empty', ''],
  ['empty-elements', 'GET,,PUT,'],
  ['leading-comma', ',PUT'],
  ['whitespace', '  PUT  '],
  ['invalid-token', 'PUT;'],
  ['invalid-space-inside', 'P UT'],
  ['invalid-with-valid', 'PUT, (DELETE)'],
  ['lowercase', 'put'],
  ['other-method', 'DELETE'],
];
for (const [variant, value] of acamVariants) {
  preflightCase(`acam-${variant}`, [ACAO(), ACAM(value), ACAH('x-foo')], { category: 'preflight-acam' });
}
preflightCase('acam-duplicated', [ACAO(), ACAM('GET'), ACAM('PUT'), ACAH('x-foo')], { category: 'preflight-acam' });
preflightCase('acam-uppercase-name', [ACAO(), ['ACCESS-CONTROL-ALLOW-METHODS', 'PUT'], ACAH('x-foo')], { category: 'preflight-acam' });
preflightCase('acam-star-credentials-literal', [ACAO(), ACAC(), ACAM('*, PUT'), ACAH('x-foo')], { credentials: 'include', category: 'preflight-acam' });

// Allow-Headers
const acahVariants = [
  ['exact', 'x-foo'],
  ['uppercase-value', 'X-FOO'],
  ['comma-list', 'x-bar, x-foo'],
  ['empty', ''],
  ['empty-elements', ',x-foo,,'],
  ['whitespace', '   x-foo   '],
  ['invalid-token', 'x-foo;'],
  ['invalid-space-inside', 'x foo'],
  ['star', '*'],
  ['other-header', 'x-bar'],
  ['null', 'null'],
];
for (const [variant, value] of acahVariants) {
  preflightCase(`acah-${variant}`, [ACAO(), ACAM('PUT'), ACAH(value)], { category: 'preflight-acah' });
}
preflightCase('acah-missing', [ACAO(), ACAM('PUT')], { category: 'preflight-acah' });
preflightCase('acah-duplicated', [ACAO(), ACAM('PUT'), ACAH('x-bar'), ACAH('x-foo')], { category: 'preflight-acah' });
preflightCase('acah-uppercase-name', [ACAO(), ACAM('PUT'), ['ACCESS-CONTROL-ALLOW-HEADERS', 'x-foo']], { category: 'preflight-acah' });
preflightCase('acah-star-credentials', [ACAO(), ACAC(), ACAM('PUT'), ACAH('*')], { credentials: 'include', category: 'preflight-acah' });
preflightCase('acah-star-credentials-listed', [ACAO(), ACAC(), ACAM('PUT'), ACAH('*, x-foo')], { credentials: 'include', category: 'preflight-acah' });
preflightCase('acah-star-authorization', [ACAO(), ACAM('PUT'), ACAH('*')], { headers: [['Authorization', 'Bearer t']], category: 'preflight-acah' });
preflightCase('acah-star-authorization-listed', [ACAO(), ACAM('PUT'), ACAH('*, Authorization')], { headers: [['Authorization', 'Bearer t']], category: 'preflight-acah' });
preflightCase('acah-authorization-exact', [ACAO(), ACAM('PUT'), ACAH('authorization')], { headers: [['Authorization', 'Bearer t']], category: 'preflight-acah' });
preflightCase('acah-star-authorization-and-x-foo', [ACAO(), ACAM('PUT'), ACAH('*')], { headers: [['X-Foo', '1'], ['Authorization', 'Bearer t']], category: 'preflight-acah' });
preflightCase('acah-partial', [ACAO(), ACAM('PUT'), ACAH('x-foo')], { headers: [['X-Foo', '1'], ['X-Bar', '1']], category: 'preflight-acah' });
preflightCase('acah-json-content-type', [ACAO(), ACAM('PUT'), ACAH('content-type')], { headers: [['Content-Type', 'application/json']], body: '{}', category: 'preflight-acah' });
preflightCase('acah-json-content-type-missing', [ACAO(), ACAM('PUT')], { headers: [['Content-Type', 'application/json']], body: '{}', category: 'preflight-acah' });

// Allow-Origin / Allow-Credentials on the preflight
const preflightAcao = [
  ['acao-missing', [ACAM('PUT'), ACAH('x-foo')]],
  ['acao-star', [ACAO('*'), ACAM('PUT'), ACAH('x-foo')]],
  ['acao-mismatch', [ACAO(B), ACAM('PUT'), ACAH('x-foo')]],
  ['acao-duplicated', [ACAO(), ACAO(), ACAM('PUT'), ACAH('x-foo')]],
  ['acao-null', [ACAO('null'), ACAM('PUT'), ACAH('x-foo')]],
  ['acao-empty', [ACAO(''), ACAM('PUT'), ACAH('x-foo')]],
  ['acao-uppercase-value', [ACAO('HTTP://127.0.0.1:8001'), ACAM('PUT'), ACAH('x-foo')]],
];
for (const [variant, headers] of preflightAcao) preflightCase(variant, headers, { category: 'preflight-acao' });
preflightCase('acao-star-credentials', [ACAO('*'), ACAC(), ACAM('PUT'), ACAH('x-foo')], { credentials: 'include', category: 'preflight-acao' });
preflightCase('acac-missing-credentials', [ACAO(), ACAM('PUT'), ACAH('x-foo')], { credentials: 'include', category: 'preflight-acao' });
preflightCase('acac-uppercase-credentials', [ACAO(), ACAC('TRUE'), ACAM('PUT'), ACAH('x-foo')], { credentials: 'include', category: 'preflight-acao' });
preflightCase('acac-false-credentials', [ACAO(), ACAC('false'), ACAM('PUT'), ACAH('x-foo')], { credentials: 'include', category: 'preflight-acao' });
preflightCase('credentials-allowed', [ACAO(), ACAC(), ACAM('PUT'), ACAH('x-foo')], { credentials: 'include', category: 'preflight-acao' });
preflightCase('credentials-actual-acac-missing', [ACAO(), ACAC(), ACAM('PUT'), ACAH('x-foo')], { credentials: 'include', response: [ACAO()], category: 'preflight-acao' });
preflightCase('actual-acao-missing', allowAll(), { response: [], category: 'preflight-acao' });
preflightCase('actual-acao-mismatch', allowAll(), { response: [ACAO(B)], category: 'preflight-acao' });

// Max-Age: no effect on one request, but must not break it
for (const [variant, value] of [['600', '600'], ['0', '0'], ['negative', '-1'], ['invalid', 'abc'], ['huge', '99999999999']]) {
  preflightCase(`max-age-${variant}`, allowAll([MAXAGE(value)]), { category: 'preflight-max-age' });
}

// Status of the preflight
for (const status of [200, 204, 299, 300, 400, 403, 404, 500]) {
  preflightCase(`status-${status}`, allowAll(), { status, category: 'preflight-status' });
}
preflightCase('status-null', [], { status: null, category: 'preflight-status' });
for (const status of [301, 302, 307, 308]) {
  const name = `preflight-redirect-${status}`;
  add('preflight-status', name, {
    method: 'PUT',
    headers: [['X-Foo', '1']],
    body: 'x',
    server: {
      [at(A, name)]: { preflight: res(status, [LOCATION(at(A, name, 'next')), ...allowAll()]), response: res(200, [ACAO()]) },
      [at(A, name, 'next')]: { preflight: res(204, allowAll()), response: res(200, [ACAO()]) },
    },
  });
}

// ---- 6. exposed response headers -----------------------------------------------------------------

const body6 = [['X-Total', '42'], ['X-Hidden', '1']];
const safelistedResponse = [
  ['Cache-Control', 'no-cache'],
  ['Content-Language', 'en'],
  ['Content-Type', 'text/plain'],
  ['Expires', '0'],
  ['Last-Modified', 'Tue, 01 Jan 2030 00:00:00 GMT'],
  ['Pragma', 'no-cache'],
  ['Content-Length', '0'],
];
const exposeCases = [
  // [variant, credentials, response headers]
  ['safelisted', 'omit', [ACAO(), ...safelistedResponse, ...body6]],
  ['listed', 'omit', [ACAO(), ACEH('X-Total'), ...body6]],
  ['listed-lowercase', 'omit', [ACAO(), ACEH('x-total'), ...body6]],
  ['listed-uppercase-value', 'omit', [ACAO(), ACEH('X-TOTAL'), ...body6]],
  ['listed-uppercase-name', 'omit', [ACAO(), ['ACCESS-CONTROL-EXPOSE-HEADERS', 'X-Total'], ...body6]],
  ['other-header', 'omit', [ACAO(), ACEH('X-Other'), ...body6]],
  ['null', 'omit', [ACAO(), ACEH('null'), ...body6]],
  ['comma-list', 'omit', [ACAO(), ACEH('X-Total, X-Hidden'), ...body6]],
  ['duplicated', 'omit', [ACAO(), ACEH('X-Total'), ACEH('X-Hidden'), ...body6]],
  ['whitespace', 'omit', [ACAO(), ACEH('   X-Total   '), ...body6]],
  ['empty', 'omit', [ACAO(), ACEH(''), ...body6]],
  ['empty-elements', 'omit', [ACAO(), ACEH(',,X-Total,'), ...body6]],
  ['invalid-token', 'omit', [ACAO(), ACEH('X-Total;, X-Hidden'), ...body6]],
  ['star', 'omit', [ACAO(), ACEH('*'), ...body6]],
  ['star-acao-star', 'omit', [ACAO('*'), ACEH('*'), ...body6]],
  ['star-credentials', 'include', [ACAO(), ACAC(), ACEH('*'), ...body6]],
  ['star-and-listed-credentials', 'include', [ACAO(), ACAC(), ACEH('*, X-Total'), ...body6]],
  ['listed-credentials', 'include', [ACAO(), ACAC(), ACEH('X-Total'), ...body6]],
  ['set-cookie', 'omit', [ACAO(), ACEH('Set-Cookie, X-Total'), ['Set-Cookie', 'a=1; Path=/'], ...body6]],
  ['set-cookie-star', 'omit', [ACAO(), ACEH('*'), ['Set-Cookie', 'a=1; Path=/'], ...body6]],
  ['set-cookie-credentials', 'include', [ACAO(), ACAC(), ACEH('Set-Cookie'), ['Set-Cookie', 'a=1; Path=/'], ...body6]],
  ['content-length-listed', 'omit', [ACAO(), ACEH('Content-Length'), ['Content-Length', '0'], ...body6]],
  ['none', 'omit', [ACAO(), ...body6]],
];
for (const [variant, credentials, headers] of exposeCases) {
  const name = `expose-${variant}`;
  add('expose', name, { credentials, server: { [at(A, name)]: { response: res(200, headers) } } });
}

// ---- 7. redirects ----------------------------------------------------------------------------------

for (const status of [301, 302, 303, 307, 308]) {
  const r = `redirect-${status}`;
  const hop = (name, to, extra = [ACAO()]) => ({ response: res(status, [LOCATION(to), ...extra]) });

  // same origin: 8002 -> 8002
  let name = `${r}-same-origin`;
  add('redirects', name, { server: { [at(A, name)]: hop(name, at(A, name, 'next')), [at(A, name, 'next')]: { response: res(200, [ACAO()]) } } });
  name = `${r}-same-origin-hop-acao-missing`;
  add('redirects', name, { server: { [at(A, name)]: hop(name, at(A, name, 'next'), []), [at(A, name, 'next')]: { response: res(200, [ACAO()]) } } });

  // cross origin: 8002 -> 8003 taints the origin; the second hop sees Origin: null
  for (const [variant, finalHeaders] of [
    ['acao-exact', [ACAO()]],
    ['acao-null', [ACAO('null')]],
    ['acao-star', [ACAO('*')]],
    ['acao-missing', []],
  ]) {
    name = `${r}-cross-origin-${variant}`;
    add('redirects', name, { server: { [at(A, name)]: hop(name, at(B, name, 'next')), [at(B, name, 'next')]: { response: res(200, finalHeaders) } } });
  }

  // back to the page's origin: 8002 -> 8001, still tainted
  for (const [variant, finalHeaders] of [
    ['acao-missing', []],
    ['acao-null', [ACAO('null')]],
    ['acao-exact', [ACAO()]],
  ]) {
    name = `${r}-to-page-origin-${variant}`;
    add('redirects', name, { server: { [at(A, name)]: hop(name, at(O, name, 'next')), [at(O, name, 'next')]: { response: res(200, finalHeaders) } } });
  }

  // after a preflight: PUT + X-Foo, redirected (same origin, and cross origin with Origin: null)
  const pf = allowAll();
  name = `${r}-after-preflight-same-origin`;
  add('redirects', name, {
    method: 'PUT',
    headers: [['X-Foo', '1']],
    body: 'x',
    server: {
      [at(A, name)]: { preflight: res(204, pf), response: res(status, [LOCATION(at(A, name, 'next')), ACAO()]) },
      [at(A, name, 'next')]: { preflight: res(204, pf), response: res(200, [ACAO()]) },
    },
  });
  name = `${r}-after-preflight-cross-origin`;
  add('redirects', name, {
    method: 'PUT',
    headers: [['X-Foo', '1']],
    body: 'x',
    server: {
      [at(A, name)]: { preflight: res(204, pf), response: res(status, [LOCATION(at(B, name, 'next')), ACAO()]) },
      [at(B, name, 'next')]: { preflight: res(204, [ACAO('null'), ACAM('PUT'), ACAH('x-foo')]), response: res(200, [ACAO('null')]) },
    },
  });

  // with credentials: every hop must allow them
  name = `${r}-credentials-same-origin`;
  add('redirects', name, {
    credentials: 'include',
    server: { [at(A, name)]: hop(name, at(A, name, 'next'), [ACAO(), ACAC()]), [at(A, name, 'next')]: { response: res(200, [ACAO(), ACAC()]) } },
  });
}

// POST through a redirect: 301, 302 and 303 turn it into GET without a body, 307/308 keep it
for (const status of [301, 302, 303, 307, 308]) {
  const name = `redirect-${status}-post`;
  add('redirects', name, {
    method: 'POST',
    headers: [['Content-Type', 'text/plain']],
    body: 'hello',
    server: {
      [at(A, name)]: { response: res(status, [LOCATION(at(A, name, 'next')), ACAO()]) },
      [at(A, name, 'next')]: { response: res(200, [ACAO()]) },
    },
  });
}
// POST with a preflight through 301/302/303: becomes a simple GET at the next hop
for (const status of [301, 302, 303]) {
  const name = `redirect-${status}-post-json-after-preflight`;
  add('redirects', name, {
    method: 'POST',
    headers: [['Content-Type', 'application/json']],
    body: '{}',
    server: {
      [at(A, name)]: { preflight: res(204, [ACAO(), ACAM('POST'), ACAH('content-type')]), response: res(status, [LOCATION(at(A, name, 'next')), ACAO()]) },
      [at(A, name, 'next')]: { preflight: res(204, [ACAO(), ACAM('POST'), ACAH('content-type')]), response: res(200, [ACAO()]) },
    },
  });
}

// chains of 3 hops (four requests): 8002 -> 8002 -> 8003 -> 8002
for (const [variant, lastHeaders] of [['acao-null', [ACAO('null')]], ['acao-exact', [ACAO()]], ['acao-star', [ACAO('*')]]]) {
  const name = `redirect-chain-3-hops-${variant}`;
  add('redirects', name, {
    server: {
      [at(A, name)]: { response: res(302, [LOCATION(at(A, name, 'hop2')), ACAO()]) },
      [at(A, name, 'hop2')]: { response: res(307, [LOCATION(at(B, name, 'hop3')), ACAO()]) },
      [at(B, name, 'hop3')]: { response: res(301, [LOCATION(at(A, name, 'final')), ACAO('null')]) },
      [at(A, name, 'final')]: { response: res(200, lastHeaders) },
    },
  });
}

// odd Locations
for (const [variant, to, finalOrigin] of [
  ['userinfo-cross-origin', `http://user:pass@127.0.0.1:8003/redirect-location-userinfo-cross-origin/next`, B],
  ['userinfo-same-origin', `http://user:pass@127.0.0.1:8002/redirect-location-userinfo-same-origin/next`, A],
  ['relative', `/redirect-location-relative/next`, A],
]) {
  const name = `redirect-location-${variant}`;
  add('redirects', name, {
    server: {
      [at(A, name)]: { response: res(302, [LOCATION(to), ACAO('*')]) },
      [at(finalOrigin, name, 'next')]: { response: res(200, [ACAO('*')]) },
    },
  });
}
// a 3xx without Location is the final response
for (const status of [300, 302]) {
  const name = `redirect-${status}-no-location`;
  add('redirects', name, { server: { [at(A, name)]: { response: res(status, [ACAO()]) } } });
}
// redirect whose hop answers Access-Control-Allow-Origin: * while credentials are included
{
  const name = 'redirect-302-credentials-hop-acao-star';
  add('redirects', name, {
    credentials: 'include',
    server: {
      [at(A, name)]: { response: res(302, [LOCATION(at(A, name, 'next')), ACAO('*'), ACAC()]) },
      [at(A, name, 'next')]: { response: res(200, [ACAO(), ACAC()]) },
    },
  });
}

// ---- 8. final responses that are not 200 ---------------------------------------------------------

for (const status of [201, 204, 404, 500]) {
  const name = `status-${status}-acao-exact`;
  add('status', name, { server: { [at(A, name)]: { response: res(status, [ACAO()]) } } });
}
{
  const name = 'status-404-unconfigured-url';
  add('status', name, { server: {} });
}

// ---- check and print -------------------------------------------------------------------------------

const problems = validate(scenarios);
if (problems.length) {
  process.stderr.write(`generate: ${problems.length} invalid scenarios:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(scenarios, null, 1) + '\n');
for (const [category, n] of counts) process.stderr.write(`${category.padEnd(20)} ${n}\n`);
process.stderr.write(`${'total'.padEnd(20)} ${scenarios.length}\n`);

/** Every rule of scenarios/README.md this generator can break, and uniqueness of names and URLs. */
function validate(list) {
  const out = [];
  const names = new Set();
  const urls = new Map();
  const tchar = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const isResponse = (r) => r && Number.isInteger(r.status) && r.status >= 200 && r.status <= 599 && Array.isArray(r.headers);
  for (const s of list) {
    const where = s.name;
    if (!/^[a-z0-9][a-z0-9-]*$/.test(s.name)) out.push(`${where}: name is not lower-case words`);
    if (names.has(s.name)) out.push(`${where}: duplicate name`);
    names.add(s.name);
    const q = s.request;
    if (q.origin !== O) out.push(`${where}: origin`);
    if (!['omit', 'same-origin', 'include'].includes(q.credentials)) out.push(`${where}: credentials`);
    if (!tchar.test(q.method)) out.push(`${where}: method`);
    if (q.body !== undefined && ['GET', 'HEAD'].includes(q.method.toUpperCase())) out.push(`${where}: body on ${q.method}`);
    for (const h of q.headers) {
      if (!Array.isArray(h) || h.length !== 2 || !tchar.test(h[0]) || /[\0\r\n]/.test(h[1])) out.push(`${where}: request header ${h}`);
    }
    for (const [u, entry] of Object.entries(s.server)) {
      const url = new URL(u);
      if (url.href !== u) out.push(`${where}: ${u} is not in normal form`);
      if (!url.pathname.startsWith(`/${s.name}`)) out.push(`${where}: ${u} is not under /${s.name}`);
      if (urls.has(u)) out.push(`${where}: ${u} also used by ${urls.get(u)}`);
      urls.set(u, s.name);
      if (!('preflight' in entry) || !('response' in entry)) out.push(`${where}: ${u} needs preflight and response`);
      for (const r of [entry.preflight, entry.response]) {
        if (r === null && r === entry.preflight) continue;
        if (!isResponse(r)) out.push(`${where}: ${u} bad answer`);
        else for (const h of r.headers) if (!Array.isArray(h) || h.length !== 2 || !tchar.test(h[0]) || /[\0\r\n]/.test(h[1])) out.push(`${where}: ${u} header ${h}`);
      }
    }
    const target = new URL(q.url);
    if (!target.pathname.startsWith(`/${s.name}`)) out.push(`${where}: request url is not under /${s.name}`);
  }
  return out;
}
