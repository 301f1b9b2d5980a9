// The deployment files (deploy/*.yaml) name paths and ports of the app:
// probes, Prometheus scrape annotations, container and Service ports, the
// command line. Each must exist: a probe's path answers 200 from the app
// once the model is in, a probe's port is the container's port and the one
// the service listens on, a Service's targetPort is a container port, every
// flag is one `torchdog serve` takes, and the KServe InferenceService's v2
// routes answer under its name.
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Classifier } from '../src/index.ts';
import { createApp, SERVE_DEFAULTS } from '../src/serve/index.ts';
import { serveUsage } from '../src/cli/usage.ts';
import { json, post, testClassifier } from './helpers/serve.ts';
import { randomPixels } from './helpers/images.ts';

const ROOT = join(import.meta.dirname, '..');
const DEPLOY = join(ROOT, 'deploy');

interface Container {
  name?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Doc {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: any;
  file: string;
}

let docs: Doc[];
let classifier: Classifier;

before(async () => {
  docs = [];
  for (const file of (await readdir(DEPLOY)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(DEPLOY, file), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${file} parses`);
      docs.push({ ...(doc.toJS() as Omit<Doc, 'file'>), file });
    }
  }
  classifier = await testClassifier();
});

after(async () => {
  await classifier.dispose();
});

/** Every container of a document, wherever its kind keeps them. */
function containers(doc: Doc): Container[] {
  return doc.spec?.template?.spec?.containers ?? doc.spec?.containers ?? [];
}

/** The value of `--flag` on a container's command line. */
function flag(c: Container, name: string): string | undefined {
  const line = [...(c.command ?? []), ...(c.args ?? [])];
  const i = line.indexOf(`--${name}`);
  return i >= 0 ? line[i + 1] : undefined;
}

/** The port `torchdog serve` listens on in this container: --port, else $PORT, else the default. */
function listening(c: Container): number {
  return Number(flag(c, 'port') ?? c.env?.find((e) => e.name === 'PORT')?.value ?? SERVE_DEFAULTS.port);
}

/** The served name: --name, KServe's {{.Name}} being the InferenceService's name. */
function servedName(c: Container): string {
  const name = flag(c, 'name') ?? 'model';
  return name === '{{.Name}}' ? docs.find((d) => d.kind === 'InferenceService')!.metadata.name : name;
}

test('the files hold a Deployment, Service and HorizontalPodAutoscaler; a ServingRuntime and InferenceService (v2); a Cloud Run service', () => {
  const kinds = docs.map((d) => `${d.file}: ${d.kind}`);
  assert.deepEqual(kinds, [
    'cloudrun.yaml: Service',
    'kserve.yaml: ServingRuntime',
    'kserve.yaml: InferenceService',
    'kubernetes.yaml: Deployment',
    'kubernetes.yaml: Service',
    'kubernetes.yaml: HorizontalPodAutoscaler',
  ]);
  const runtime = docs.find((d) => d.kind === 'ServingRuntime')!;
  assert.deepEqual(runtime.spec.protocolVersions, ['v2']);
  const isvc = docs.find((d) => d.kind === 'InferenceService')!;
  assert.equal(isvc.spec.predictor.model.protocolVersion, 'v2');
  assert.equal(isvc.spec.predictor.model.runtime, runtime.metadata.name);
  assert.equal(isvc.spec.predictor.model.modelFormat.name, runtime.spec.supportedModelFormats[0].name);
  const hpa = docs.find((d) => d.kind === 'HorizontalPodAutoscaler')!;
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
  const k8s = containers(deployment)[0]!;
  assert.equal(k8s.livenessProbe?.httpGet?.path, '/health');
  assert.equal(k8s.readinessProbe?.httpGet?.path, '/ready');
});

test('every probe and scrape path answers 200 from the app, on the port the service listens on', async () => {
  let checked = 0;
  for (const doc of docs) {
    for (const c of containers(doc)) {
      const app = createApp({ classifier, logger: null, modelName: servedName(c) });
      const ports = new Map<string | number, number>();
      for (const p of c.ports ?? []) {
        ports.set(p.containerPort, p.containerPort);
        if (p.name) ports.set(p.name, p.containerPort);
      }
      assert.ok(ports.has(listening(c)), `${doc.file}: the container exposes the port it listens on (${listening(c)})`);
      for (const [kind, probe] of Object.entries({ liveness: c.livenessProbe, readiness: c.readinessProbe, startup: c.startupProbe })) {
        if (!probe?.httpGet) continue;
        const { path, port } = probe.httpGet;
        assert.equal(ports.get(port), listening(c), `${doc.file} ${kind} probe port ${port}`);
        const res = await app.request(path);
        assert.equal(res.status, 200, `${doc.file} ${kind} probe ${path}`);
        checked++;
      }
      const annotations = { ...doc.metadata.annotations, ...doc.spec?.template?.metadata?.annotations, ...doc.spec?.annotations };
      for (const [key, value] of Object.entries(annotations)) {
        if (/prometheus\.(kserve\.)?io\/path$/.test(key)) {
          assert.equal((await app.request(String(value))).status, 200, `${doc.file} ${key}`);
          checked++;
        }
        if (/prometheus\.(kserve\.)?io\/port$/.test(key)) assert.equal(Number(value), listening(c), `${doc.file} ${key}`);
      }
    }
  }
  assert.ok(checked >= 9, `${checked} paths checked`);
});

test("a Service's targetPort is a port of the pods it selects", () => {
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  const service = docs.find((d) => d.kind === 'Service' && d.file === 'kubernetes.yaml')!;
  assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
  assert.deepEqual(deployment.spec.template.metadata.labels, deployment.spec.selector.matchLabels);
  const ports = containers(deployment)[0]!.ports!;
  for (const p of service.spec.ports) {
    assert.ok(ports.some((c) => c.name === p.targetPort || c.containerPort === p.targetPort), `targetPort ${p.targetPort}`);
  }
});

test("the command lines are torchdog's: bin/torchdog.js serve and flags it takes", () => {
  const usage = serveUsage(SERVE_DEFAULTS);
  for (const doc of docs) {
    for (const c of containers(doc)) {
      const line = [...(c.command ?? []), ...(c.args ?? [])];
      assert.deepEqual(line.slice(0, 3), ['node', 'bin/torchdog.js', 'serve'], doc.file);
      assert.ok(existsSync(join(ROOT, line[1]!)));
      for (const word of line.filter((w) => w.startsWith('--'))) assert.match(usage, new RegExp(`^  ${word}\\b`, 'm'), `${doc.file}: ${word}`);
      for (const e of c.env ?? []) assert.match(e.name, /^(PORT|HOST|TORCHDOG_MODEL|TORCHDOG_PREDICTIONS)$/, `${doc.file}: env ${e.name}`);
    }
  }
});

test("the InferenceService's v2 routes answer under its name", async () => {
  const runtime = containers(docs.find((d) => d.kind === 'ServingRuntime')!)[0]!;
  const name = servedName(runtime);
  assert.equal(name, 'hotdog');
  const app = createApp({ classifier, logger: null, modelName: name });
  for (const path of ['/v2/health/live', '/v2/health/ready', '/v2', `/v2/models/${name}`, `/v2/models/${name}/ready`]) {
    assert.equal((await app.request(path)).status, 200, path);
  }
  const size = classifier.info.imageSize;
  const infer = await app.request(
    `/v2/models/${name}/infer`,
    post(JSON.stringify({ inputs: [{ name: 'image', shape: [1, size, size, 3], datatype: 'UINT8', data: [...randomPixels(1, size, 1)] }] }), { 'content-type': 'application/json' }),
  );
  assert.equal(infer.status, 200);
  assert.equal((await json(infer)).model_name, name);
});
