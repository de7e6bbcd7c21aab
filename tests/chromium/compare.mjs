#!/usr/bin/env node
// compare.mjs: holds one array of scenario results to another, scenario by scenario.
//
//   node compare.mjs EXPECTED.json ACTUAL.json [--scenarios SCENARIOS.json]
//
// Results are matched by name; key order and formatting do not matter, array order does (requests
// are in the order sent, console lines in the order printed, readable_headers sorted). For each
// disagreement it prints the scenario's name, the scenario itself when --scenarios is given, and
// each field on which the two sides differ. A scenario on one side only is a failure. The last
// line is `compare: N passed, M failed`. Exit 0 when all agree, 1 on any failure, 2 on a usage or
// I/O error.
//
// CI runs it with the committed Chromium recording as EXPECTED and `crossgate simulate` (or a fresh
// recording) as ACTUAL.

import fs from 'node:fs';

function die(message) {
  process.stderr.write(`compare: ${message}\nusage: node compare.mjs EXPECTED.json ACTUAL.json [--scenarios SCENARIOS.json]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const files = [];
  let scenarios = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--scenarios') {
      if (i + 1 >= argv.length) die('--scenarios needs a file');
      scenarios = argv[++i];
    } else if (argv[i].startsWith('--scenarios=')) {
      scenarios = argv[i].slice('--scenarios='.length);
    } else if (argv[i].startsWith('-')) {
      die(`unknown option ${argv[i]}`);
    } else {
      files.push(argv[i]);
    }
  }
  if (files.length !== 2) die('expected two result files');
  return { expected: files[0], actual: files[1], scenarios };
}

/** A JSON file of one object or an array of them, as a Map by name (names must be unique). */
function byName(file, what) {
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    die(`cannot read ${what} ${file}: ${e.message}`);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const map = new Map();
  for (const [i, item] of list.entries()) {
    if (!item || typeof item !== 'object' || typeof item.name !== 'string') die(`${file}: entry ${i} has no name`);
    if (map.has(item.name)) die(`${file}: two entries named ${item.name}`);
    map.set(item.name, item);
  }
  return map;
}

/** Deep equality: objects regardless of key order, arrays in order. */
function equal(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && equal(a[k], b[k]));
}

const show = (v) => (v === undefined ? '(absent)' : JSON.stringify(v));
const indent = (text, by) => text.replace(/^/gm, by);

/** A scenario, compactly: the request on one line, then each URL's answers with their headers. */
function formatScenario(s) {
  const { name: _name, request, server, ...rest } = s;
  const lines = ['scenario:', `  request: ${JSON.stringify(request)}`];
  const answer = (a) => (a ? `${a.status} ${JSON.stringify(a.headers)}` : 'null');
  for (const [url, entry] of Object.entries(server ?? {})) {
    lines.push(`  server ${url}:`);
    lines.push(`    preflight: ${answer(entry && entry.preflight)}`);
    lines.push(`    response:  ${answer(entry && entry.response)}`);
  }
  for (const [key, value] of Object.entries(rest)) lines.push(`  ${key}: ${JSON.stringify(value)}`);
  return lines.join('\n');
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const expected = byName(args.expected, 'EXPECTED');
  const actual = byName(args.actual, 'ACTUAL');
  const scenarios = args.scenarios ? byName(args.scenarios, 'SCENARIOS') : null;

  const names = [...expected.keys(), ...[...actual.keys()].filter((n) => !expected.has(n))];
  let passed = 0;
  let failed = 0;
  const out = [];
  for (const name of names) {
    const e = expected.get(name);
    const a = actual.get(name);
    if (e && a && equal(e, a)) {
      passed++;
      continue;
    }
    failed++;
    out.push(`FAIL ${name}`);
    if (scenarios) {
      const s = scenarios.get(name);
      out.push(s ? indent(formatScenario(s), '  ') : '  scenario: (not in SCENARIOS)');
    }
    if (!e) {
      out.push(`  only in ACTUAL (${args.actual}), not in EXPECTED (${args.expected})`);
    } else if (!a) {
      out.push(`  missing from ACTUAL (${args.actual})`);
    } else {
      const keys = [...Object.keys(e), ...Object.keys(a).filter((k) => !Object.hasOwn(e, k))];
      for (const key of keys) {
        if (equal(e[key], a[key])) continue;
        if (Array.isArray(e[key]) && Array.isArray(a[key])) {
          out.push(`  ${key}:`);
          out.push(`    expected:`);
          for (const x of e[key]) out.push(`      ${show(x)}`);
          if (e[key].length === 0) out.push('      (none)');
          out.push(`    actual:`);
          for (const x of a[key]) out.push(`      ${show(x)}`);
          if (a[key].length === 0) out.push('      (none)');
        } else {
          out.push(`  ${key}:`);
          out.push(`    expected: ${show(e[key])}`);
          out.push(`    actual:   ${show(a[key])}`);
        }
      }
    }
    out.push('');
  }
  out.push(`compare: ${passed} passed, ${failed} failed`);
  process.stdout.write(out.join('\n') + '\n');
  process.exitCode = failed ? 1 : 0;
}

main();
