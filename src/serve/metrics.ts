// The service's Prometheus metrics, on a registry of its own so that two apps
// in one process (tests, embedders) never share or clash.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const QUEUE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export function createMetrics(options: { processMetrics?: boolean } = {}) {
  const registry = new Registry();
  // prom-client's own names (process_*, nodejs_*), which the standard Node.js dashboards read.
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'torchdog_http_requests_total',
      help: 'HTTP requests answered, by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    }),
    latency: new Histogram({
      name: 'torchdog_http_request_duration_seconds',
      help: 'Time from request to response, by route',
      labelNames: ['route'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    queueWait: new Histogram({
      name: 'torchdog_queue_wait_seconds',
      help: 'Time a decoded image waited for its forward pass',
      buckets: QUEUE_BUCKETS,
      registers,
    }),
    batchSize: new Histogram({
      name: 'torchdog_batch_size',
      help: 'Images per forward pass',
      buckets: BATCH_BUCKETS,
      registers,
    }),
    forward: new Histogram({
      name: 'torchdog_forward_seconds',
      help: 'Duration of one batched forward pass',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    inflight: new Gauge({
      name: 'torchdog_inflight_predictions',
      help: 'Predictions admitted and not yet answered (reading, decoding, queued or running)',
      registers,
    }),
    predictions: new Counter({
      name: 'torchdog_predictions_total',
      help: 'Predictions answered, by predicted class',
      labelNames: ['category'] as const,
      registers,
    }),
    modelInfo: new Gauge({
      name: 'torchdog_model_info',
      help: 'The model in service (value 1): its served name and version, the run it came from, the sha256 of its checkpoint, the precision it computes in; absent until a model is loaded',
      labelNames: ['name', 'version', 'run', 'sha256', 'arch', 'classes', 'image_size', 'device', 'precision', 'source'] as const,
      registers,
    }),
    reloads: new Counter({
      name: 'torchdog_model_reloads_total',
      help: 'Model reloads (SIGHUP or POST /v2/repository/models/NAME/load), by outcome: loaded, or failed (the previous model still serving)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    ready: new Gauge({
      name: 'torchdog_ready',
      help: '1 while the service takes predictions, else 0',
      registers,
    }),
    logRecords: new Counter({
      name: 'torchdog_prediction_log_records_total',
      help: 'Prediction-log records, by outcome (written to the sink, or dropped)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    logWriteErrors: new Counter({
      name: 'torchdog_prediction_log_write_errors_total',
      help: 'Failed writes to the prediction-log sink',
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
