// What deploy/ hands operators besides systemd, checked against the real thing: the Prometheus alert rules and
// the Grafana dashboard name only metrics, labels and label values that running nodes export (a small
// hierarchy is started on loopback, given traffic and scraped), promtool accepts the rules and their alerts
// fire as intended (where promtool is on PATH), and the container recipe has its essentials: lockfile
// installs, a non-root user, the node folder a volume, the ports, a health check on /readyz that works, and an
// entry point that runs `idres serve`. (The example configurations deploy/*.idres.json are validated against
// the schema in config-schema.test.ts; here, that the mirror's follows the top-level node's.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { delegatePrefix } from '../src/admin/delegation.js';
import { HandleClient } from '../src/client/handle-client.js';
import { makeValue } from '../src/model/value.js';
import { validateConfig } from '../src/node/config.js';
import type { IdresNode } from '../src/node/node.js';
import { cli } from './helpers/node.js';
import { Nodes, at, server } from './helpers/tiers.js';
import { baseOf, call } from './helpers/http.js';
import { repoRoot } from './helpers/paths.js';

const deployDir = path.join(repoRoot, 'deploy');
const rulesFile = path.join(deployDir, 'prometheus/idres-alerts.yml');
const dashboardFile = path.join(deployDir, 'grafana/idres-dashboard.json');
const dockerfile = path.join(deployDir, 'Dockerfile');

// ---- what a node exports ------------------------------------------------------------------------------

interface Family {
  type: string;
  /** Label name → the values seen in the scrape. */
  labels: Map<string, Set<string>>;
  samples: number;
}

/** Metric families of Prometheus text exposition, merged into `into` (several nodes' scrapes). */
function readExposition(text: string, into: Map<string, Family>): void {
  const family = (name: string) => {
    let f = into.get(name);
    if (!f) into.set(name, (f = { type: 'untyped', labels: new Map(), samples: 0 }));
    return f;
  };
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][\w:]*) (\w+)$/.exec(line);
    if (type) family(type[1]!).type = type[2]!;
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    assert.ok(m, `an exposition line that does not parse: ${line}`);
    let name = m[1]!;
    if (!into.has(name)) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      if (into.has(base)) name = base;
    }
    const f = family(name);
    f.samples++;
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      let values = f.labels.get(l[1]!);
      if (!values) f.labels.set(l[1]!, (values = new Set()));
      values.add(l[2]!);
    }
  }
}

/** Series names a query can use: counters and gauges by their name, histograms by _bucket/_sum/_count. */
function seriesNames(families: Map<string, Family>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, f] of families) {
    if (f.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.set(name + s, name);
    else if (f.type === 'summary') for (const s of ['', '_sum', '_count']) out.set(name + s, name);
    else out.set(name, name);
  }
  return out;
}

// ---- what a query uses ----------------------------------------------------------------------------------

interface Matcher {
  label: string;
  op: string;
  value: string;
}
interface Selector {
  metric: string;
  matchers: Matcher[];
}
interface QueryUse {
  selectors: Selector[];
  /** Labels named in by (…), without (…), on (…), ignoring (…), group_left/right (…), in order. */
  grouping: string[][];
}

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const OPERATOR_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2']);

/** The selectors and grouping labels of a PromQL expression (enough of PromQL for rules and dashboards). */
function readQuery(expr: string): QueryUse {
  const tokens: Array<{ kind: 'ident' | 'string' | 'punct' | 'other'; text: string }> = [];
  const re = /\s+|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|(\$\{?\w+\}?)|([a-zA-Z_:][\w:]*)|(\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*)|(=~|!~|!=|==|>=|<=|[{}()[\],=<>+\-*/%^@])/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < expr.length && (m = re.exec(expr))) {
    if (m[1] !== undefined) tokens.push({ kind: 'string', text: JSON.parse(m[1][0] === '"' ? m[1] : JSON.stringify(m[1].slice(1, -1))) as string });
    else if (m[2] !== undefined) tokens.push({ kind: 'other', text: m[2] });
    else if (m[3] !== undefined) tokens.push({ kind: 'ident', text: m[3] });
    else if (m[4] !== undefined) tokens.push({ kind: 'other', text: m[4] });
    else if (m[5] !== undefined) tokens.push({ kind: 'punct', text: m[5] });
  }
  assert.equal(re.lastIndex, expr.length, `a PromQL expression this reader does not follow, at ${JSON.stringify(expr.slice(re.lastIndex))}: ${expr}`);
  const use: QueryUse = { selectors: [], grouping: [] };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'punct' && t.text === '[') {
      while (i < tokens.length && tokens[i]!.text !== ']') i++; // a range or subquery: durations and $__rate_interval
      continue;
    }
    if (t.kind === 'punct' && t.text === '{') assert.fail(`a selector without a metric name in ${expr}`);
    if (t.kind !== 'ident') continue;
    const next = tokens[i + 1];
    if (GROUPING.has(t.text)) {
      if (next?.text !== '(') continue;
      const labels: string[] = [];
      for (i += 2; i < tokens.length && tokens[i]!.text !== ')'; i++) if (tokens[i]!.kind === 'ident') labels.push(tokens[i]!.text);
      use.grouping.push(labels);
      continue;
    }
    // An operator, a function or aggregation, or an aggregation written `sum by (…) (…)`.
    if (OPERATOR_WORDS.has(t.text) || next?.text === '(' || (next?.kind === 'ident' && GROUPING.has(next.text))) continue;
    const sel: Selector = { metric: t.text, matchers: [] };
    if (next?.text === '{') {
      for (i += 2; i < tokens.length && tokens[i]!.text !== '}'; i++) {
        if (tokens[i]!.text === ',') continue;
        const [label, op, value] = [tokens[i]!, tokens[i + 1]!, tokens[i + 2]!];
        assert.ok(label.kind === 'ident' && ['=', '!=', '=~', '!~'].includes(op.text) && value.kind === 'string', `a label matcher this reader does not follow in ${expr}`);
        sel.matchers.push({ label: label.text, op: op.text, value: value.text });
        i += 2;
      }
    }
    use.selectors.push(sel);
  }
  return use;
}

/** Metrics that are not a node's but Prometheus's own (up) or the blackbox exporter's probe of /readyz. */
const EXTERNAL_METRICS = new Map([
  ['up', ['job', 'instance']],
  ['probe_success', ['job', 'instance']],
]);
/** Labels Prometheus adds to every series it scrapes. */
const TARGET_LABELS = ['job', 'instance'];
/**
 * Labels whose values depend on the traffic (response codes, servers, routes…): a value used in a query need
 * not have appeared in the test's scrape. Every other label's values are a fixed set that a node always
 * exports, zeros included, so a value the scrape lacks is a typo.
 */
const OPEN_LABELS = new Set(['code', 'opcode', 'transport', 'server', 'status', 'route', 'method', 'operation', 'file', 'le']);

/**
 * Problems with the names in one query: unknown metrics, labels a metric does not have, label values it never
 * takes, grouping labels and template labels ({{name}}) that none of the query's metrics carry.
 */
function queryProblems(where: string, expr: string, families: Map<string, Family>, templateLabels: string[] = []): string[] {
  const problems: string[] = [];
  const names = seriesNames(families);
  const use = readQuery(expr);
  if (use.selectors.length === 0) problems.push(`${where}: no metric in ${expr}`);
  const available = new Set<string>(TARGET_LABELS);
  for (const sel of use.selectors) {
    const external = EXTERNAL_METRICS.get(sel.metric);
    const familyName = names.get(sel.metric);
    if (!external && !familyName) {
      problems.push(`${where}: metric ${sel.metric} is not exported by any node`);
      continue;
    }
    const labels = new Map<string, Set<string> | undefined>(TARGET_LABELS.map((l) => [l, undefined]));
    if (external) for (const l of external) labels.set(l, undefined);
    else {
      const f = families.get(familyName!)!;
      if (f.samples === 0) problems.push(`${where}: ${familyName} has no samples in the scrape (give the test's nodes the traffic that makes some)`);
      for (const [l, v] of f.labels) labels.set(l, v);
      if (sel.metric.endsWith('_bucket')) labels.set('le', undefined);
    }
    for (const l of labels.keys()) available.add(l);
    for (const { label, op, value } of sel.matchers) {
      if (!labels.has(label)) {
        problems.push(`${where}: ${sel.metric} has no label ${label} (it has ${[...labels.keys()].join(', ')})`);
        continue;
      }
      const seen = labels.get(label);
      if (!seen || OPEN_LABELS.has(label) || op.startsWith('!')) continue;
      if (op === '=' && !seen.has(value)) problems.push(`${where}: ${sel.metric}{${label}="${value}"}: no such value (${[...seen].join(', ')})`);
      if (op === '=~') {
        const rx = new RegExp(`^(?:${value})$`);
        if (![...seen].some((v) => rx.test(v))) problems.push(`${where}: ${sel.metric}{${label}=~"${value}"} matches no value (${[...seen].join(', ')})`);
        if (/^[\w.-]+(\|[\w.-]+)*$/.test(value)) {
          for (const alt of value.split('|')) if (!seen.has(alt)) problems.push(`${where}: ${sel.metric}{${label}=~"${value}"}: no value ${alt} (${[...seen].join(', ')})`);
        }
      }
    }
  }
  for (const list of use.grouping) for (const l of list) if (!available.has(l)) problems.push(`${where}: grouping label ${l} is on none of the metrics of ${expr}`);
  // What the result carries: when the query starts with an aggregation, the labels of its by (…) (none
  // without one); otherwise, roughly, the labels of its metrics.
  const aggregation = /^\s*\(?\s*(sum|avg|min|max|count|group|stddev|stdvar|topk|bottomk|quantile)\s*(by\s*\(|\()/.exec(expr);
  const outer = aggregation ? new Set(aggregation[2]!.startsWith('by') ? use.grouping[0] : []) : available;
  for (const l of templateLabels) if (!outer.has(l)) problems.push(`${where}: the template names label ${l}, which the result of ${expr} does not carry`);
  return problems;
}

// ---- the files ----------------------------------------------------------------------------------------------

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: string; [k: string]: string };
  annotations: { summary: string; description: string; [k: string]: string };
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

function loadRules(): RuleFile {
  return parseYaml(readFileSync(rulesFile, 'utf8')) as RuleFile;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ refId: string; expr: string; legendFormat?: string; datasource?: { uid: string } }>;
  panels?: Panel[];
}
interface Dashboard {
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: { query: string } | string; datasource: { uid: string } }> };
}

function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
}

function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** The labels a template names: {{ $labels.x }} in annotations, {{x}} in legends. */
const annotationLabels = (s: string) => [...s.matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!);
const legendLabels = (s: string) => [...s.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!);

// ---- the tests ------------------------------------------------------------------------------------------------

describe('the Prometheus alert rules', () => {
  test('parse, and have the structure of a Prometheus rule file', () => {
    const file = loadRules();
    assert.deepEqual(Object.keys(file), ['groups']);
    assert.ok(Array.isArray(file.groups) && file.groups.length > 0);
    const groups = new Set<string>();
    const alerts = new Set<string>();
    for (const g of file.groups) {
      assert.deepEqual(Object.keys(g).sort(), ['name', 'rules'], `group ${g.name}`);
      assert.ok(typeof g.name === 'string' && !groups.has(g.name), `group names are strings and unique: ${g.name}`);
      groups.add(g.name);
      assert.ok(Array.isArray(g.rules) && g.rules.length > 0, `group ${g.name} has rules`);
      for (const r of g.rules) {
        const where = `${g.name}/${r.alert}`;
        assert.deepEqual(Object.keys(r).sort(), ['alert', 'annotations', 'expr', 'for', 'labels'], where);
        assert.match(r.alert, /^Idres[A-Z][A-Za-z]+$/, where);
        assert.ok(!alerts.has(r.alert), `alert names are unique: ${r.alert}`);
        alerts.add(r.alert);
        assert.ok(typeof r.expr === 'string' && r.expr.trim() !== '', `${where}: expr`);
        assert.ok(typeof r.for === 'string' && DURATION.test(r.for), `${where}: for is a duration, not ${JSON.stringify(r.for)}`);
        assert.ok(['critical', 'warning', 'info'].includes(r.labels?.severity), `${where}: labels.severity is critical, warning or info`);
        for (const k of ['summary', 'description']) {
          const a = r.annotations?.[k];
          assert.ok(typeof a === 'string' && a.trim().length > 20, `${where}: annotations.${k} tells the operator something`);
          assert.equal((a.match(/\{\{/g) ?? []).length, (a.match(/\}\}/g) ?? []).length, `${where}: annotations.${k} has balanced templates`);
        }
      }
    }
  });

  test('promtool accepts the rules (and the dashboard queries), and the alerts fire as intended', (t) => {
    const version = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (version.error) {
      t.skip('promtool is not on PATH: the rules were checked by the structure and metric tests only');
      return;
    }
    const check = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    const tmp = mkdtempSync(path.join(tmpdir(), 'idres-promtool-'));
    try {
      // The dashboard's queries parse too: each one, its Grafana interval variable replaced, as a recording rule.
      const dashboardRules = allPanels(loadDashboard()).flatMap((p) =>
        (p.targets ?? []).map((x) => ({ record: `idres_dashboard:panel_${p.id}_${x.refId}`, expr: x.expr.replaceAll('$__rate_interval', '5m') })),
      );
      writeFileSync(path.join(tmp, 'dashboard.yml'), stringifyYaml({ groups: [{ name: 'dashboard', rules: dashboardRules }] }));
      const dash = spawnSync('promtool', ['check', 'rules', path.join(tmp, 'dashboard.yml')], { encoding: 'utf8' });
      assert.equal(dash.status, 0, dash.stdout + dash.stderr);

      // The alerts' expressions, for and labels as they are; the annotations, checked above, are left out so
      // that the expectations below need not repeat their text.
      const file = loadRules();
      for (const g of file.groups) for (const r of g.rules) delete (r as Partial<Rule>).annotations;
      writeFileSync(path.join(tmp, 'rules.yml'), stringifyYaml(file));
      writeFileSync(path.join(tmp, 'tests.yml'), stringifyYaml(PROMTOOL_TESTS));
      const run = spawnSync('promtool', ['test', 'rules', path.join(tmp, 'tests.yml')], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stdout + run.stderr);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('the Grafana dashboard', () => {
  test('is a dashboard to import: schema version, a Prometheus datasource input, panels laid out', () => {
    const d = loadDashboard();
    assert.ok(d.schemaVersion >= 36 && d.schemaVersion <= 41, `schemaVersion ${d.schemaVersion}`);
    assert.ok(d.uid && d.title);
    assert.deepEqual(
      d.__inputs.map((i) => [i.name, i.type, i.pluginId]),
      [['DS_PROMETHEUS', 'datasource', 'prometheus']],
    );
    const panels = allPanels(d);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const cells = new Set<string>();
    for (const p of panels) {
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${p.title}: gridPos inside the 24 columns`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`);
          cells.add(`${x},${y}`);
        }
      }
      if (p.type === 'row') continue;
      assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `${p.title}: the datasource is the input`);
      assert.ok(p.targets && p.targets.length > 0, `${p.title}: has targets`);
      assert.equal(new Set(p.targets.map((x) => x.refId)).size, p.targets.length, `${p.title}: refIds are unique`);
      for (const x of p.targets) {
        assert.ok(typeof x.expr === 'string' && x.expr !== '', `${p.title}/${x.refId}: expr`);
        assert.equal(x.datasource?.uid ?? '${DS_PROMETHEUS}', '${DS_PROMETHEUS}', `${p.title}/${x.refId}: datasource`);
      }
    }
    const needed = ['idres_requests_total', 'idres_request_duration_seconds_bucket', 'idres_cache_hits_total', 'idres_upstream_failures_total', 'idres_connections_open', 'idres_udp_rate_limited_total', 'idres_security_events_total', 'idres_process_process_resident_memory_bytes', 'idres_process_process_cpu_seconds_total'];
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr)).join('\n');
    for (const n of needed) assert.ok(exprs.includes(n), `a panel shows ${n}`);
    for (const v of d.templating.list) assert.equal(v.datasource.uid, '${DS_PROMETHEUS}', `variable ${v.name}: the datasource is the input`);
  });
});

describe('rules and dashboard against the metrics of running nodes', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [3000], tcpTimeoutMs: 3000 });
  const families = new Map<string, Family>();
  let resolver: IdresNode;
  let stranded: IdresNode;

  before(async () => {
    // A top-level node delegating 88.118.8 to a business node and 88.119 to a node that is gone, a resolver
    // walking from the top, a resolver whose only root is gone (not ready), and a mirror of the top.
    const top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
    const business = await nodes.start('business', { roles: ['business'], prefixes: ['88.118.8'] });
    const gone = await nodes.start('gone', { prefixes: ['88.119'] });
    const goneSite = gone.site;
    const goneAt = at(gone);
    await nodes.stop(gone);
    delegatePrefix(top.registry!, { prefix: '88.118.8', sites: [business.site] });
    delegatePrefix(top.registry!, { prefix: '88.119', sites: [goneSite] });
    top.noticeWrites();
    business.registry!.create('88.118.8/DEPLOY-1', [makeValue(1, 'URL', 'https://example.com/deploy-1')]);
    business.noticeWrites();
    resolver = await nodes.start('resolver', { roles: ['resolver'], roots: [at(top)] });
    stranded = await nodes.start('stranded', { roles: ['resolver'], roots: [goneAt] });
    const mirror = await nodes.start('mirror', { roles: ['mirror'], prefixes: ['88'], mirrorOf: { primary: at(top), primaryKey: top.site.servers[0]!.publicKey, identity: '301:0.NA/88' } }, (c) => {
      (c.replication as Record<string, unknown>).pollMs = 30;
    });
    const allowed = await cli(['mirror', 'allow', '--dir', path.join(nodes.root, 'top'), '--site', at(mirror), '--identity', '301:0.NA/88']);
    assert.equal(allowed.code, 0, allowed.stderr);
    // The mirror's first copy, then a transaction it applies from the log (for the apply delay histogram).
    const stats = mirror.replication!.mirror!.stats;
    const caughtUp = async (what: string, ok: () => boolean) => {
      for (const deadline = Date.now() + 15000; !ok(); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > deadline) assert.fail(`the mirror never ${what} (${stats.lastError})`);
      }
    };
    await caughtUp('took its first copy', () => stats.position >= top.registry!.lastTxnId() && !stats.copying);
    top.registry!.create('88/MIRRORED-1', [makeValue(1, 'URL', 'https://example.com/mirrored-1')]);
    await caughtUp('applied a transaction', () => stats.transactionsApplied > 0);

    // Traffic: enough Handle requests for the sampled latency histogram (one in 64), a miss, a walk that
    // fails upstream (RC 2, a failure by server), HTTP requests, and an import on the business node.
    for (let i = 0; i < 140; i++) await client.resolve(server(resolver), '88.118.8/DEPLOY-1', { transport: 'udp' });
    await client.resolve(server(resolver), '88.118.8/DEPLOY-1', { transport: 'tcp' });
    await client.resolve(server(resolver), '88.118.8/NOPE', { transport: 'udp' }).catch(() => undefined);
    await client.resolve(server(resolver), '88.119/GONE', { transport: 'udp' }).catch(() => undefined);
    for (let i = 0; i < 70; i++) await client.resolve(server(business), '88.118.8/DEPLOY-1', { transport: 'udp' });
    const r = await cli(['import', path.join(repoRoot, 'fixtures/import-example.csv'), '--dir', path.join(nodes.root, 'business'), '--progress', 'none']);
    assert.equal(r.code, 0, r.stderr);
    for (const n of [top, business, resolver]) {
      await call(baseOf(n), 'GET', '/api/handles/88.118.8/DEPLOY-1');
      await call(baseOf(n), 'GET', '/readyz');
      await call(baseOf(n), 'GET', '/healthz');
    }
    for (const n of [top, business, resolver, mirror]) {
      const m = await call(baseOf(n), 'GET', '/metrics');
      assert.equal(m.status, 200);
      readExposition(m.text, families);
    }
  });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('the scrape has the families the checks rely on, with labelled samples', () => {
    for (const [name, label] of [
      ['idres_requests_total', 'code'],
      ['idres_request_duration_seconds', 'transport'],
      ['idres_upstream_failures_total', 'server'],
      ['idres_http_requests_total', 'status'],
      ['idres_import_done', 'file'],
      ['idres_replication_served_total', 'kind'],
    ] as const) {
      assert.ok(families.get(name)?.labels.has(label), `${name}{${label}} is in the scrape`);
    }
    assert.ok(families.get('idres_requests_total')!.labels.get('code')!.has('2'), 'an RC 2 answer was counted');
    for (const name of ['idres_replication_lag_seconds', 'idres_replication_errors_total', 'idres_replication_recopies_total', 'idres_replication_apply_delay_seconds']) {
      assert.ok((families.get(name)?.samples ?? 0) > 0, `${name} is in the mirror's scrape`);
    }
  });

  test('every metric, label and label value of every alert is exported by a node', () => {
    const problems: string[] = [];
    for (const g of loadRules().groups) {
      for (const r of g.rules) {
        const templates = [...annotationLabels(r.annotations.summary), ...annotationLabels(r.annotations.description)];
        problems.push(...queryProblems(r.alert, r.expr, families, templates));
      }
    }
    assert.deepEqual(problems, []);
  });

  test('every metric, label and label value of every dashboard panel and variable is exported by a node', () => {
    const d = loadDashboard();
    const problems: string[] = [];
    for (const p of allPanels(d)) {
      for (const x of p.targets ?? []) problems.push(...queryProblems(`${p.title}/${x.refId}`, x.expr, families, legendLabels(x.legendFormat ?? '')));
    }
    for (const v of d.templating.list) {
      const q = typeof v.query === 'string' ? v.query : v.query.query;
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q);
      assert.ok(m, `variable ${v.name}: a label_values query`);
      problems.push(...queryProblems(`variable ${v.name}`, `sum by (${m[2]}) (${m[1]})`, families));
    }
    assert.deepEqual(problems, []);
  });

  test('the checks are not vacuous: a misspelt metric, label or value is reported', () => {
    const bad = [
      'rate(idres_request_total[5m]) > 0',
      'sum by (job, instance, sever) (rate(idres_upstream_failures_total[5m])) > 0',
      'rate(idres_connections_refused_total{reason="per-address"}[5m]) > 0',
      'rate(idres_connections_closed_total{reason=~"request_deadline|write_stal"}[5m]) > 0',
      'rate(idres_cache_hits_total{kind="x"}[5m]) > 0',
      'histogram_quantile(0.9, sum by (le) (rate(idres_request_duration_seconds_bucket[5m])))',
    ];
    for (const expr of bad.slice(0, 5)) assert.notDeepEqual(queryProblems('probe', expr, families), [], expr);
    assert.deepEqual(queryProblems('probe', bad[5]!, families), [], 'a histogram is used through its _bucket series');
    assert.notDeepEqual(queryProblems('probe', 'sum by (job) (rate(idres_requests_total[5m]))', families, ['server']), [], 'a template label the result lacks');
  });

  test("the image's HEALTHCHECK command passes on a ready node and fails on one not ready or not there", async () => {
    const code = healthcheckScript();
    // Asynchronously: the nodes answering the check run in this process.
    const run = (url: string) =>
      new Promise<number | null>((resolve) => {
        const child = execFile(process.execPath, ['-e', code], { env: { ...process.env, IDRES_HEALTH_URL: url }, timeout: 15000 });
        child.on('exit', (status) => resolve(status));
      });
    assert.equal(await run(`${baseOf(resolver)}/readyz`), 0);
    // The stranded resolver's only root is gone: 503 (its probe result is kept for a second, so ask first).
    const notReady = await call(baseOf(stranded), 'GET', '/readyz');
    assert.equal(notReady.status, 503, notReady.text);
    assert.equal(await run(`${baseOf(stranded)}/readyz`), 1);
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    assert.equal(await run(`http://127.0.0.1:${closed}/readyz`), 1, 'nothing listening');
    assert.equal((await call(baseOf(stranded), 'GET', '/healthz')).status, 200, 'alive though not ready');
  });
});

// ---- the container recipe ---------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** The instructions of a Dockerfile, continuation lines joined, comments left out, numbered by stage. */
function readDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue; // comments, also between the lines of a continued instruction
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    if (whole === '') continue;
    const m = /^(\w+)\s+(.*)$/s.exec(whole);
    assert.ok(m, `a Dockerfile line: ${whole}`);
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2]!.replace(/\s+/g, ' ').trim(), stage });
  }
  return out;
}

/** The JavaScript of the HEALTHCHECK's `node -e` command. */
function healthcheckScript(): string {
  const hc = readDockerfile(readFileSync(dockerfile, 'utf8')).find((i) => i.op === 'HEALTHCHECK');
  assert.ok(hc, 'a HEALTHCHECK');
  const m = /CMD (\[.*\])$/.exec(hc.args);
  assert.ok(m, 'the HEALTHCHECK command is in exec form');
  const argv = JSON.parse(m[1]!) as string[];
  assert.deepEqual(argv.slice(0, 2), ['node', '-e'], 'the health check runs node itself (the slim image has no curl)');
  return argv[2]!;
}

/** Whether .dockerignore leaves a path out of the build context (its patterns, last match wins, ! re-includes). */
function ignoredByDockerignore(rel: string, patterns: string[]): boolean {
  let ignored = false;
  for (let p of patterns) {
    const negate = p.startsWith('!');
    if (negate) p = p.slice(1);
    p = p.replace(/^\/+|\/+$/g, '');
    const rx = new RegExp(
      '^' +
        p
          .split(/(\*\*\/|\*\*|\*|\?)/)
          .map((part) => (part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
          .join('') +
        '(?:/.*)?$',
    );
    if (rx.test(rel)) ignored = !negate;
  }
  return ignored;
}

describe('the example configurations', () => {
  test("mirror.idres.json is a mirror of top.idres.json's node, pulling as an identity of its prefix, with a lag bound", () => {
    type Example = { prefixes: string[]; publicAddress: string; listen: { port: number }; http: { port: number } };
    const read = (f: string) => JSON.parse(readFileSync(path.join(deployDir, f), 'utf8')) as Example;
    const top = read('top.idres.json');
    const mirror = read('mirror.idres.json');
    const config = validateConfig(mirror, 'deploy/mirror.idres.json');
    assert.deepEqual(config.roles, ['mirror']);
    assert.deepEqual(config.prefixes, top.prefixes);
    assert.equal(config.replication.primary, `${top.publicAddress}:${top.listen.port}`);
    assert.equal(config.replication.identity, `301:0.NA/${top.prefixes[0]!}`);
    assert.equal(config.replication.primaryKey, 'keys/primary.pub');
    assert.equal(config.replication.maxLagSeconds, 30, 'the bound IdresMirrorLagHigh assumes');
    assert.match(readFileSync(rulesFile, 'utf8'), /idres_replication_lag_seconds > 30\b/, 'the alert uses the same bound');
    const ports = ['resolver', 'top', 'secondary', 'business'].map((r) => read(`${r}.idres.json`)).flatMap((c) => [c.listen.port, c.http.port]);
    assert.ok(!ports.includes(config.listen.port) && !ports.includes(config.http.port), 'its ports are its own');
  });
});

describe('the container recipe (deploy/Dockerfile; docker itself is not run here)', () => {
  const text = readFileSync(dockerfile, 'utf8');
  const ins = readDockerfile(text);
  const last = Math.max(...ins.map((i) => i.stage));
  const final = ins.filter((i) => i.stage === last);
  const runs = ins.filter((i) => i.op === 'RUN').map((i) => i.args);

  test('is multi-stage on one Node.js image line, installing from the lockfile only', () => {
    const froms = ins.filter((i) => i.op === 'FROM').map((i) => i.args);
    assert.ok(froms.length >= 2, 'several stages');
    for (const f of froms) assert.match(f, /^node:\$\{NODE_VERSION\}-bookworm(-slim)? AS \w+$/, `every stage on the same Node.js (the native module's ABI): ${f}`);
    assert.match(text, /^ARG NODE_VERSION=(22|24)$/m);
    assert.ok(!runs.some((r) => /\bnpm (install|i)\b/.test(r)), 'no npm install: npm ci keeps to the lockfile');
    for (const s of new Set(ins.filter((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args)).map((i) => i.stage))) {
      const copyLock = ins.findIndex((i) => i.stage === s && i.op === 'COPY' && /\bpackage-lock\.json\b/.test(i.args));
      const ci = ins.findIndex((i) => i.stage === s && i.op === 'RUN' && /\bnpm ci\b/.test(i.args));
      assert.ok(copyLock >= 0 && copyLock < ci, `stage ${s}: package-lock.json is copied before npm ci`);
    }
    assert.ok(runs.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)), 'a build stage installs every dependency');
    assert.ok(runs.some((r) => /\bnpm run build\b/.test(r)), 'and builds');
    const prod = runs.find((r) => /\bnpm ci\b.*--omit=dev/.test(r));
    assert.ok(prod, 'the runtime gets the production dependencies only (npm ci --omit=dev)');
    // `prepare` runs `npm run build`, which needs the dev dependencies: scripts are skipped, and better-sqlite3's
    // own install script (its native module) is run by npm rebuild.
    assert.match(prod, /--ignore-scripts/);
    assert.match(prod, /npm rebuild better-sqlite3/);
    assert.ok(!final.some((i) => i.op === 'RUN' && /\bnpm (ci|rebuild|run)\b/.test(i.args)), 'the runtime stage copies what was built, it builds nothing');
  });

  test('the runtime runs as a non-root user, with the node folder as a volume, its ports, and serve', () => {
    const users = final.filter((i) => i.op === 'USER').map((i) => i.args);
    assert.ok(users.length > 0, 'a USER');
    assert.doesNotMatch(users.at(-1)!, /^(root|0)(:|$)/, 'the last USER is not root');
    const volume = final.find((i) => i.op === 'VOLUME');
    assert.ok(volume && /\/var\/lib\/idres\b/.test(volume.args), 'VOLUME /var/lib/idres');
    const chown = final.findIndex((i) => i.op === 'RUN' && /chown\b.*\/var\/lib\/idres/.test(i.args));
    assert.ok(chown >= 0 && chown < final.indexOf(volume), 'the folder is owned by the user before it is declared a volume');
    assert.ok(final.some((i) => i.op === 'ENV' && /\bIDRES_DIR=\/var\/lib\/idres\b/.test(i.args)), 'IDRES_DIR is the volume');
    const exposed = final.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(' '));
    for (const p of ['2641/udp', '2641/tcp', '8000/tcp']) assert.ok(exposed.includes(p), `EXPOSE ${p}`);
    const hc = final.find((i) => i.op === 'HEALTHCHECK');
    assert.ok(hc && /\/readyz/.test(hc.args), 'HEALTHCHECK on /readyz');
    assert.match(hc.args, /--interval=\d+s/);
    const entry = final.find((i) => i.op === 'ENTRYPOINT');
    const cmd = final.find((i) => i.op === 'CMD');
    assert.ok(entry && cmd, 'ENTRYPOINT and CMD');
    assert.deepEqual(JSON.parse(cmd.args), ['serve']);
    assert.deepEqual(JSON.parse(entry.args), ['docker-entrypoint.sh']);
  });

  test('what the recipe copies from the context exists and is not left out by .dockerignore', () => {
    const patterns = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const p of ['node_modules', 'dist', '.git']) assert.ok(ignoredByDockerignore(p, patterns), `.dockerignore leaves out ${p}`);
    for (const i of ins.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from'))) {
      const parts = i.args.split(' ').filter((a) => !a.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        assert.ok(existsSync(path.join(repoRoot, src)), `COPY ${src}: exists`);
        assert.ok(!ignoredByDockerignore(src, patterns), `COPY ${src}: not left out by .dockerignore`);
      }
    }
  });

  test('the entry point runs idres serve by default, idres commands, or a shell', () => {
    const script = path.join(deployDir, 'docker-entrypoint.sh');
    assert.equal(spawnSync('sh', ['-n', script]).status, 0, 'the script parses');
    const bin = mkdtempSync(path.join(tmpdir(), 'idres-entry-'));
    try {
      // A stand-in idres that prints what it was asked to do.
      writeFileSync(path.join(bin, 'idres'), '#!/bin/sh\necho "idres $*"\n');
      chmodSync(path.join(bin, 'idres'), 0o755);
      const run = (...args: string[]) => {
        const r = spawnSync('sh', [script, ...args], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.trim();
      };
      assert.equal(run(), 'idres serve');
      assert.equal(run('init', '--prefix', '88.118.8', '--listen', '0.0.0.0', '--public-address', '192.0.2.10'), 'idres init --prefix 88.118.8 --listen 0.0.0.0 --public-address 192.0.2.10');
      assert.equal(run('idres', 'status'), 'idres status');
      assert.equal(run('serve', '--workers', '2'), 'idres serve --workers 2');
      assert.equal(run('sh', '-c', 'echo a shell'), 'a shell');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

// ---- promtool unit tests of the alerts (used when promtool is on PATH) -----------------------------------

const A = { job: 'idres', instance: 'a:8000' };
const B = { job: 'idres', instance: 'b:8000' };
const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`,
  values,
});
const firing = (alertname: string, evalTime: string, ...alerts: Array<Record<string, string>>) => ({
  eval_time: evalTime,
  alertname,
  exp_alerts: alerts.map((exp_labels) => ({ exp_labels })),
});

/**
 * Node A misbehaves in each way, node B is healthy on the same traffic: each alert must fire for A (with the
 * labels an operator needs) and not for B. One minute between samples; counters given as start+step×count.
 */
const PROMTOOL_TESTS = {
  rule_files: ['rules.yml'],
  evaluation_interval: '1m',
  tests: [
    {
      interval: '1m',
      input_series: [
        series('up', A, '1 1 1 0 0 0 0 0 0 0'),
        series('up', B, '1x60'),
        series('probe_success', { job: 'idres-readyz', instance: 'http://a:8000/readyz' }, '1 1 0 0 0 0 0'),
        // 10% RC 2 and 20% RC 4 on A; B answers everything with RC 1; both at 10 a second.
        series('idres_requests_total', { ...A, transport: 'udp', opcode: 'RESOLUTION', code: '1' }, '0+420x60'),
        series('idres_requests_total', { ...A, transport: 'udp', opcode: 'RESOLUTION', code: '2' }, '0+60x60'),
        series('idres_requests_total', { ...A, transport: 'udp', opcode: 'RESOLUTION', code: '4' }, '0+120x60'),
        series('idres_requests_total', { ...B, transport: 'udp', opcode: 'RESOLUTION', code: '1' }, '0+600x60'),
        // A's cache answers 20% of 5 lookups a second, B's 90%.
        series('idres_cache_hits_total', A, '0+60x60'),
        series('idres_cache_misses_total', A, '0+240x60'),
        series('idres_cache_hits_total', B, '0+270x60'),
        series('idres_cache_misses_total', B, '0+30x60'),
        // A's registry disappears after 5 minutes while A is still scraped (up is 1 for B only: use B).
        series('idres_registry_handles', B, '2000 2000 2000 2000 2000 stale'),
        series('idres_registry_handles', A, '2000x60'),
        // A's upstream 10.0.0.9 fails 1 query in 2 a second; B's never fails.
        series('idres_upstream_queries_total', A, '0+120x60'),
        series('idres_upstream_failures_total', { ...A, server: '10.0.0.9:2641' }, '0+60x60'),
        series('idres_upstream_queries_total', B, '0+120x60'),
        series('idres_connections_refused_total', { ...A, transport: 'tcp', reason: 'max_connections' }, '0 0 0+30x40'),
        series('idres_connections_refused_total', { ...B, transport: 'tcp', reason: 'max_connections' }, '0x60'),
        series('idres_security_events_total', { ...A, event: 'auth_lockout' }, '0 0 0 1 1 1 1 1 1 1'),
        series('idres_security_events_total', { ...B, event: 'auth_lockout' }, '0x10'),
        series('idres_import_done', { ...A, file: 'products.csv' }, '0x200'),
        series('idres_import_done', { ...B, file: 'products.csv' }, '1x200'),
        // Mirror A loses its primary at 3 minutes, fails 5 rounds a minute, re-copies at 3 minutes and sees
        // most writes a second or more late; mirror B keeps up, with one copy (its first) and fast applies.
        series('idres_replication_lag_seconds', A, '0 0 0 60 120 180 240 300 360 420'),
        series('idres_replication_lag_seconds', B, '0x10'),
        series('idres_replication_errors_total', A, '0+5x60'),
        series('idres_replication_errors_total', B, '0x60'),
        series('idres_replication_recopies_total', A, '1 1 1 2 2 2 2 2'),
        series('idres_replication_recopies_total', B, '1x10'),
        series('idres_replication_apply_delay_seconds_bucket', { ...A, le: '1' }, '0+1x60'),
        series('idres_replication_apply_delay_seconds_bucket', { ...A, le: '2.5' }, '0+100x60'),
        series('idres_replication_apply_delay_seconds_bucket', { ...A, le: '+Inf' }, '0+100x60'),
        series('idres_replication_apply_delay_seconds_bucket', { ...B, le: '1' }, '0+100x60'),
        series('idres_replication_apply_delay_seconds_bucket', { ...B, le: '2.5' }, '0+100x60'),
        series('idres_replication_apply_delay_seconds_bucket', { ...B, le: '+Inf' }, '0+100x60'),
      ],
      alert_rule_test: [
        firing('IdresDown', '8m', { severity: 'critical', ...A }),
        firing('IdresNotReady', '6m', { severity: 'critical', job: 'idres-readyz', instance: 'http://a:8000/readyz' }),
        firing('IdresErrorAnswersHigh', '20m', { severity: 'warning', ...A }),
        firing('IdresProtocolErrorAnswersHigh', '25m', { severity: 'warning', ...A }),
        firing('IdresCacheHitRatioLow', '45m', { severity: 'info', ...A }),
        firing('IdresRegistryUnavailable', '15m', { severity: 'critical', ...B }),
        firing('IdresUpstreamFailureRatioHigh', '20m', { severity: 'warning', ...A }),
        firing('IdresUpstreamServerFailing', '30m', { severity: 'info', ...A, server: '10.0.0.9:2641' }),
        firing('IdresConnectionsAtLimit', '12m', { severity: 'critical', ...A, transport: 'tcp' }),
        firing('IdresAuthLockout', '6m', { severity: 'warning', ...A }),
        firing('IdresImportIncomplete', '150m', { severity: 'info', ...A, file: 'products.csv' }),
        firing('IdresMirrorLagHigh', '6m', { severity: 'warning', ...A }),
        firing('IdresMirrorErrors', '20m', { severity: 'warning', ...A }),
        firing('IdresMirrorRecopied', '5m', { severity: 'info', ...A }),
        firing('IdresMirrorApplyDelayHigh', '25m', { severity: 'info', ...A }),
        // Nothing fires too early.
        firing('IdresMirrorLagHigh', '3m'),
        firing('IdresErrorAnswersHigh', '5m'),
        firing('IdresImportIncomplete', '60m'),
      ],
    },
  ],
};
