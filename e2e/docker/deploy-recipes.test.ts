import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { run, runOk } from './docker-engine.js'
import { REPO_ROOT } from './images.js'
import { type DashboardPanel, dashboardQueries, metricNamesOf, registeredNames } from './prometheus-api.js'

// The deploy recipes, checked by the tools that read them: systemd-analyze (unit), cloud-init's own schema
// (user data), promtool (Prometheus configs, alert rules and their unit tests), the Kubernetes JSON schemas of the
// `kubernetes-models` npm package (manifests), which .ci/run installs outside the workspace into K8S_MODELS_DIR, and
// the Grafana dashboard's variables, rows and queries against the metric definitions.
const VM = join(REPO_ROOT, 'deploy/vm')
const K8S = join(REPO_ROOT, 'deploy/k8s')
const RULES = join(REPO_ROOT, 'deploy/prometheus/swarmgrad-alerts.yml')
const RULES_TEST = join(REPO_ROOT, 'deploy/prometheus/swarmgrad-alerts.test.yml')
const K8S_MODELS_DIR = process.env.SWARMGRAD_K8S_MODELS_DIR ?? '/opt/swarmgrad-ci/node_modules'

async function ok(file: string, args: readonly string[]): Promise<string> {
  const result = await run(file, args, { timeoutMs: 120_000 })
  expect(result.code, `${file} ${args.join(' ')}:\n${result.stdout}${result.stderr}`).toBe(0)
  return result.stdout + result.stderr
}

describe('cloud VM recipe', () => {
  it('the systemd unit passes systemd-analyze verify', async () => {
    const out = await ok('systemd-analyze', ['verify', join(VM, 'swarmgrad.service')])
    expect(out).not.toMatch(/swarmgrad\.service:\d+:/)
    const unit = await readFile(join(VM, 'swarmgrad.service'), 'utf8')
    for (const line of [
      'Restart=on-failure',
      'KillSignal=SIGTERM',
      'EnvironmentFile=/etc/swarmgrad/swarmgrad.env',
      'LoadCredential=swarm.key:/etc/swarmgrad/swarm.key',
    ]) {
      expect(unit).toContain(line)
    }
  })

  it('the cloud-init user data passes cloud-init schema and embeds the unit and settings as they are', async () => {
    const file = join(VM, 'cloud-init.yaml')
    expect(await ok('cloud-init', ['schema', '--config-file', file])).toContain('Valid cloud-config')
    const userData = parseYaml(await readFile(file, 'utf8')) as {
      write_files: Array<{ path: string; content: string }>
    }
    const byPath = new Map(userData.write_files.map((f) => [f.path, f.content]))
    expect(byPath.get('/etc/systemd/system/swarmgrad.service')).toBe(
      await readFile(join(VM, 'swarmgrad.service'), 'utf8'),
    )
    expect(byPath.get('/etc/swarmgrad/swarmgrad.env')).toBe(await readFile(join(VM, 'swarmgrad.env'), 'utf8'))
  })

  it('is private: the user data makes the swarm key once, and the settings point at it as the unit passes it in', async () => {
    const env = await readFile(join(VM, 'swarmgrad.env'), 'utf8')
    expect(env).toMatch(/^SWARMGRAD_HOST_PSK_FILE=\/run\/credentials\/swarmgrad\.service\/swarm\.key$/m)
    const userData = parseYaml(await readFile(join(VM, 'cloud-init.yaml'), 'utf8')) as { runcmd: string[][] }
    const [makeKey, ...others] = userData.runcmd.filter((c) =>
      c.join(' ').includes('/etc/swarmgrad/swarm.key'),
    )
    expect(others).toEqual([])
    expect(makeKey?.slice(0, 2)).toEqual(['sh', '-c'])
    const enable = userData.runcmd.findIndex((c) => c.includes('enable'))
    expect(userData.runcmd.indexOf(makeKey!)).toBeLessThan(enable)
    // the same command with /etc/swarmgrad in a temporary folder and this workspace's CLI, run as on a first boot and
    // again on a reboot: it writes a valid 0600 key once and keeps it
    const dir = await mkdtemp(join(tmpdir(), 'sg-vm-key-'))
    try {
      const script = makeKey![2]!
        .replaceAll('/etc/swarmgrad', dir)
        .replace(
          '/usr/local/bin/node /opt/swarmgrad/bin/swarmgrad.js',
          `${process.execPath} ${join(REPO_ROOT, 'packages/cli/bin/swarmgrad.js')}`,
        )
      await runOk('sh', ['-c', script])
      const key = await readFile(join(dir, 'swarm.key'), 'utf8')
      expect(key).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
      expect((await stat(join(dir, 'swarm.key'))).mode & 0o777).toBe(0o600)
      await runOk('sh', ['-c', script])
      expect(await readFile(join(dir, 'swarm.key'), 'utf8')).toBe(key)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('the Prometheus config passes promtool check config with the alert rules where README puts them', async () => {
    const out = await checkConfigWith(join(VM, 'prometheus.yml'), { 'rules/swarmgrad-alerts.yml': RULES })
    expect(out).toContain('SUCCESS: 1 rule files found')
    expect(out).toMatch(/SUCCESS: [1-9]\d* rules found/)
  })
})

/**
 * `promtool check config` on a copy of `config` with `files` (path beside the config → source) laid out around it
 * as Prometheus finds them, so that the rule files the config names are read and checked too (`--syntax-only`
 * would skip them).
 */
async function checkConfigWith(config: string, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-prometheus-config-'))
  try {
    await copyFile(config, join(dir, 'prometheus.yml'))
    for (const [path, source] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true })
      await copyFile(source, join(dir, path))
    }
    return await ok('promtool', ['check', 'config', join(dir, 'prometheus.yml')])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

interface AlertRule {
  alert: string
  expr: string
  labels: Record<string, string>
  annotations: Record<string, string>
}

interface RuleTest {
  alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }>
}

describe('Prometheus alert rules (deploy/prometheus)', () => {
  it('pass promtool check rules and their promtool unit tests', async () => {
    expect(await ok('promtool', ['check', 'rules', RULES])).toMatch(/SUCCESS: [1-9]\d* rules found/)
    expect(await ok('promtool', ['test', 'rules', RULES_TEST])).toContain('SUCCESS')
  })

  it('name the instance and the value, carry a severity, and are each tested firing and quiet', async () => {
    const { groups } = parseYaml(await readFile(RULES, 'utf8')) as { groups: Array<{ rules: AlertRule[] }> }
    const rules = groups.flatMap((g) => g.rules)
    const names = new Set(rules.map((r) => r.alert))
    for (const name of [
      'SwarmgradPeerDown',
      'SwarmgradNoRound',
      'SwarmgradRefusalsSpiking',
      'SwarmgradAccuracyFalling',
    ]) {
      expect(names).toContain(name)
    }
    for (const rule of rules) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels.severity)
      expect(rule.annotations.summary, rule.alert).toContain('{{ $labels.instance }}')
      expect(rule.annotations.description, rule.alert).toContain('{{ $labels.instance }}')
      expect(rule.annotations.description, rule.alert).toContain('$value')
    }
    const { tests } = parseYaml(await readFile(RULES_TEST, 'utf8')) as { tests: RuleTest[] }
    const evals = tests.flatMap((t) => t.alert_rule_test)
    for (const name of names) {
      const of = evals.filter((e) => e.alertname === name)
      expect(
        of.some((e) => e.exp_alerts.length > 0),
        `${name} fires in a test`,
      ).toBe(true)
      expect(
        of.some((e) => e.exp_alerts.length === 0),
        `${name} is quiet in a test`,
      ).toBe(true)
    }
  })

  it('the compose Prometheus mounts them where its config reads them', async () => {
    const compose = parseYaml(await readFile(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: { prometheus: { volumes: string[] } }
    }
    const files: Record<string, string> = {}
    let config: string | undefined
    for (const volume of compose.services.prometheus.volumes) {
      const [source = '', target = ''] = volume.split(':')
      if (!source.startsWith('./') || !target.startsWith('/etc/prometheus/')) continue
      expect(volume, 'mounted read-only').toMatch(/:ro$/)
      if (target === '/etc/prometheus/prometheus.yml') config = join(REPO_ROOT, source)
      else files[target.slice('/etc/prometheus/'.length)] = join(REPO_ROOT, source)
    }
    expect(config).toBe(join(REPO_ROOT, 'deploy/compose/prometheus.yml'))
    expect(Object.values(files)).toContain(RULES)
    const out = await checkConfigWith(config!, files)
    expect(out).toContain('SUCCESS: 1 rule files found')
    expect(out).toMatch(/SUCCESS: [1-9]\d* rules found/)
  })
})

interface DashboardVariable {
  name: string
  type: string
  query: string | { query: string }
  multi?: boolean
  includeAll?: boolean
}

describe('Grafana dashboard (deploy/grafana)', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template literal
  const DATASOURCE = { type: 'prometheus', uid: '${datasource}' }

  async function dashboard() {
    return JSON.parse(
      await readFile(join(REPO_ROOT, 'deploy/grafana/dashboards/swarmgrad.json'), 'utf8'),
    ) as {
      templating: { list: DashboardVariable[] }
      panels: DashboardPanel[]
    }
  }

  it('has a datasource variable, and job and instance variables that list the peers', async () => {
    const variables = new Map((await dashboard()).templating.list.map((v) => [v.name, v]))
    expect(variables.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' })
    const query = (name: string) => {
      const q = variables.get(name)?.query
      return typeof q === 'string' ? q : q?.query
    }
    expect(query('job')).toBe('label_values(swarmgrad_node_info, job)')
    expect(query('instance')).toBe('label_values(swarmgrad_node_info{job=~"$job"}, instance)')
    for (const name of ['job', 'instance']) {
      expect(variables.get(name), name).toMatchObject({
        type: 'query',
        datasource: DATASOURCE,
        multi: true,
        includeAll: true,
      })
    }
  })

  it('reads every panel and query from the datasource variable', async () => {
    const panels = (await dashboard()).panels.flatMap((p) => [p, ...(p.panels ?? [])])
    const graphs = panels.filter((p) => p.type !== 'row')
    expect(graphs.length).toBeGreaterThanOrEqual(20)
    for (const panel of graphs) {
      expect(panel.datasource, panel.title).toEqual(DATASOURCE)
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual(DATASOURCE)
    }
  })

  it('filters every peer metric by $job and $instance, every coordinator metric by $job', async () => {
    const queries = dashboardQueries(await dashboard())
    for (const { panel, expr } of queries) {
      const names = metricNamesOf(expr)
      expect(names.length, expr).toBeGreaterThan(0)
      for (const name of names) {
        for (const match of expr.matchAll(new RegExp(`\\b${name}\\b(\\{[^}]*\\})?`, 'g'))) {
          const matchers = match[1] ?? ''
          expect(matchers, `${panel}: ${expr}`).toContain('job=~"$job"')
          if (!name.startsWith('swarmgrad_coordinator_'))
            expect(matchers, `${panel}: ${expr}`).toContain('instance=~"$instance"')
        }
      }
    }
  })

  it('has rows for the peers, MoDeST, SPSA, the coordinator and the process, each mode row showing all its metrics', async () => {
    const queries = dashboardQueries(await dashboard())
    expect([...new Set(queries.map((q) => q.row))]).toEqual([
      'Peers',
      'MoDeST (mode modest)',
      'SPSA (mode spsa)',
      'Coordinator (mode fl)',
      'Process',
    ])
    for (const [row, file] of [
      ['MoDeST (mode modest)', 'packages/node/src/engine/modest/metrics.ts'],
      ['SPSA (mode spsa)', 'packages/node/src/engine/spsa/metrics.ts'],
    ] as const) {
      const registered = [...registeredNames(await readFile(join(REPO_ROOT, file), 'utf8'))]
      // a histogram's family name, not its _bucket/_sum/_count series
      const families = registered.filter((n) => !registered.some((m) => m !== n && n.startsWith(m)))
      expect(families.length, row).toBeGreaterThanOrEqual(7)
      const used = queries.filter((q) => q.row === row).flatMap((q) => metricNamesOf(q.expr))
      expect(
        families.filter((family) => !used.some((name) => name.startsWith(family))),
        row,
      ).toEqual([])
    }
  })
})

interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string }
}

async function modelClass(object: K8sObject): Promise<new (data: unknown) => { validate(): void }> {
  const [group, version] = object.apiVersion.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion]
  const module =
    group === 'monitoring.coreos.com'
      ? join(K8S_MODELS_DIR, '@kubernetes-models/prometheus-operator', group, version!, `${object.kind}.js`)
      : join(
          K8S_MODELS_DIR,
          'kubernetes-models',
          group === '' ? version! : `${group}/${version}`,
          `${object.kind}.js`,
        )
  const loaded = (await import(pathToFileURL(module).href)) as Record<string, unknown>
  return loaded[object.kind] as new (
    data: unknown,
  ) => { validate(): void }
}

describe('Kubernetes manifests', () => {
  it('every object validates against its Kubernetes JSON schema', async () => {
    expect(
      existsSync(join(K8S_MODELS_DIR, 'kubernetes-models')),
      `kubernetes-models in ${K8S_MODELS_DIR}`,
    ).toBe(true)
    const files = (await readdir(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    const kinds: string[] = []
    for (const file of files) {
      for (const doc of parseAllDocuments(await readFile(join(K8S, file), 'utf8'))) {
        expect(doc.errors, file).toEqual([])
        const object = doc.toJS() as K8sObject
        const Model = await modelClass(object)
        expect(
          () => new Model(object).validate(),
          `${file}: ${object.kind} ${object.metadata.name}`,
        ).not.toThrow()
        kinds.push(object.kind)
      }
    }
    expect(kinds.sort()).toEqual([
      'ConfigMap',
      'Namespace',
      'Service',
      'Service',
      'Service',
      'ServiceMonitor',
      'StatefulSet',
      'StatefulSet',
    ])
  })

  it('create-secrets.sh makes each Secret once, with a fresh swarm key and identities, and the manifests read them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sg-k8s-secrets-'))
    try {
      // kubectl without a cluster: `get secret` finds what `apply -f -` stored, `create --dry-run=client` is the real
      // kubectl; and the swarmgrad of this workspace on PATH
      const realKubectl = (await runOk('sh', ['-c', 'command -v kubectl'])).trim()
      const applied = join(dir, 'applied.yaml')
      await writeFile(
        join(dir, 'kubectl'),
        [
          '#!/bin/sh',
          'case " $* " in',
          `  *" get secret "*) for last; do :; done; grep -qx "  name: $last" "${applied}" 2>/dev/null ;;`,
          `  *" --dry-run=client "*) exec ${realKubectl} "$@" ;;`,
          `  *" apply -f - "*) { cat; echo ---; } >>"${applied}" ;;`,
          '  *" apply -f namespace.yaml "*) ;;',
          '  *) echo "unexpected kubectl $*" >&2; exit 3 ;;',
          'esac',
          '',
        ].join('\n'),
        { mode: 0o755 },
      )
      // the workspace's CLI, logging what each keygen printed (the peer id of the key it wrote: main.test.ts)
      await writeFile(
        join(dir, 'swarmgrad'),
        [
          '#!/bin/sh',
          `out="$(${process.execPath} ${join(REPO_ROOT, 'packages/cli/bin/swarmgrad.js')} "$@")"`,
          `[ -z "$out" ] || echo "$3 $out" >>"${join(dir, 'printed')}"`,
          'echo "$out"',
          '',
        ].join('\n'),
        { mode: 0o755 },
      )
      const env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, KUBECONFIG: join(dir, 'none') }
      await runOk('bash', [join(K8S, 'create-secrets.sh')], { env })
      const secrets = parseAllDocuments(await readFile(applied, 'utf8'))
        .map((d) => d.toJS() as K8sObject & { data: Record<string, string> })
        .filter((o) => o !== null)
      expect(secrets.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual([
        'Secret swarmgrad-swarm-key',
        'Secret swarmgrad-seed-key',
        'Secret swarmgrad-coordinator-key',
      ])
      const data = new Map(secrets.map((o) => [o.metadata.name, o.data]))
      const decoded = (name: string, key: string) => Buffer.from(data.get(name)?.[key] ?? '', 'base64')
      for (const o of secrets) {
        const Model = await modelClass(o)
        expect(() => new Model(o).validate(), o.metadata.name).not.toThrow()
        expect((o as { metadata: { namespace?: string } }).metadata.namespace).toBe('swarmgrad')
      }
      expect(decoded('swarmgrad-swarm-key', 'swarm.key').toString()).toMatch(
        /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/,
      )
      const printed = (await readFile(join(dir, 'printed'), 'utf8')).trim().split('\n')
      expect(printed).toHaveLength(2)
      for (const who of ['seed', 'coordinator']) {
        const name = `swarmgrad-${who}-key`
        expect(decoded(name, `${who}.key`).length, name).toBeGreaterThan(32)
        const peerId = decoded(name, 'peer-id').toString()
        expect(peerId, name).toMatch(/^12D3KooW/)
        expect(printed.find((line) => line.includes(`/${who}.key `))?.split(' ')[1], name).toBe(peerId)
      }
      // a second run keeps every Secret
      const again = await runOk('bash', [join(K8S, 'create-secrets.sh')], { env })
      expect(again.match(/exists, kept/g)).toHaveLength(3)
      expect(
        parseAllDocuments(await readFile(applied, 'utf8')).filter((d) => d.toJS() !== null),
      ).toHaveLength(3)

      // every Secret key a manifest reads is one the script made; no peer id is written into a manifest
      const read: string[] = []
      for (const file of ['peers.yaml', 'coordinator.yaml']) {
        const text = await readFile(join(K8S, file), 'utf8')
        expect(text, file).not.toMatch(/12D3KooW/)
        expect(text, file).toContain('name: SWARMGRAD_HOST_PSK_FILE')
        for (const m of text.matchAll(/secretKeyRef:\s+name: (\S+)\s+key: (\S+)/g))
          read.push(`${m[1]}/${m[2]}`)
        for (const m of text.matchAll(/secretName: (\S+)(\s+items:\s+- key: (\S+))?/g))
          read.push(m[3] === undefined ? `${m[1]}` : `${m[1]}/${m[3]}`)
      }
      expect([...new Set(read)].sort()).toEqual([
        'swarmgrad-coordinator-key/coordinator.key',
        'swarmgrad-seed-key/peer-id',
        'swarmgrad-seed-key/seed.key',
        'swarmgrad-swarm-key',
      ])
      for (const ref of read) {
        const [name = '', key] = ref.split('/')
        expect(data.has(name), ref).toBe(true)
        if (key !== undefined) expect(Object.keys(data.get(name) ?? {}), ref).toContain(key)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('the kustomization lists every manifest but the optional ServiceMonitor and coordinator', async () => {
    const kustomization = parseYaml(await readFile(join(K8S, 'kustomization.yaml'), 'utf8')) as {
      resources: string[]
    }
    const files = (await readdir(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    expect([...kustomization.resources].sort()).toEqual(
      files.filter((f) => f !== 'servicemonitor.yaml' && f !== 'coordinator.yaml').sort(),
    )
  })
})

/** The pnpm that runs this test (`pnpm test` sets npm_execpath), else the one package.json pins, through npx. */
async function pnpmScript(): Promise<string> {
  if (process.env.npm_execpath?.includes('pnpm') === true) return process.env.npm_execpath
  const { packageManager } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'))
  const out = await runOk('npx', ['-y', packageManager, 'exec', 'node', '-p', 'process.env.npm_execpath'])
  return out.trim()
}

describe('image context (deploy/docker/prepare-context.sh)', () => {
  it('names the step that failed with its output, and keeps the last staged context', async () => {
    const app = join(REPO_ROOT, 'deploy/docker/app')
    const before = await stat(app).then(
      (s) => s.mtimeMs,
      () => undefined,
    )
    // an empty store and a registry at a closed loopback port: `pnpm deploy` cannot resolve a single package
    const store = await mkdtemp(join(tmpdir(), 'sg-empty-store-'))
    try {
      const result = await run('bash', [join(REPO_ROOT, 'deploy/docker/prepare-context.sh')], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          npm_execpath: await pnpmScript(),
          npm_config_store_dir: store,
          npm_config_registry: 'http://127.0.0.1:9/',
          npm_config_fetch_retries: '0',
        },
        timeoutMs: 300_000,
      })
      expect(result.code).toBe(1)
      expect(result.stderr).toContain('prepare-context: pnpm deploy failed')
      expect(result.stderr).toMatch(/ERR_PNPM_\w+.*127\.0\.0\.1:9/)
    } finally {
      await rm(store, { recursive: true, force: true })
    }
    const after = await stat(app).then(
      (s) => s.mtimeMs,
      () => undefined,
    )
    expect(after).toBe(before)
    expect(existsSync(join(REPO_ROOT, 'deploy/docker/app.staging'))).toBe(false)
  })
})
