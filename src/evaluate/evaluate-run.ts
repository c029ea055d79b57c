/**
 * Evaluating a trained run (the CLI's `ae test`): loss on a split, a picture of inputs and reconstructions, the
 * latent k-NN accuracy, a 2-D map of the latents with its quality metrics, the viewer's map data, the loss curve.
 * Writes RUN_DIR/vis_outputs/: reconstructions.png, latent_<method>.png, map_<method>.bin/.json (see
 * map-data.ts), loss.png, metrics.json. The steps live in test-steps.ts; this module composes them.
 */
import path from 'node:path';
import type { BackendName } from '../backend/index.js';
import type { EmbedMethod } from '../embed/index.js';
import type { WorkerEmbedOptions } from '../embed/worker.js';
import type { LegendEntry } from '../render/latent-map.js';
import type { ProjectorResult } from '../render/projector.js';
import { writeFileAtomic } from '../util/fs.js';
import { prepare, type Split, type TestMetrics } from './evaluation.js';
import {
  embedStep,
  latentStep,
  lossCurveStep,
  lossStep,
  mapDataStep,
  mapPictureStep,
  projectorStep,
  reconstructionsStep,
  variationalStep,
} from './test-steps.js';

export {
  type EmbeddingMetrics,
  type LatentMetrics,
  type LatentReduction,
  type Split,
  type TestMetrics,
  TRUSTWORTHINESS_SAMPLE,
} from './evaluation.js';

export interface EvaluateOptions {
  weights?: 'best' | 'last';
  /** Images in reconstructions.png. */
  count?: number;
  embed?: EmbedMethod;
  split?: Split;
  /** Evaluate only the first `limit` images of the split (quick looks, tests). */
  limit?: number;
  /** Images the latent metrics and the map cover at most (100,000 by default): a larger split is mapped through a seeded sample. */
  mapPoints?: number;
  /** Training latents used to fit the latent k-NN classifier (a seeded subsample when the set is larger). */
  knnTrainLimit?: number;
  embedOptions?: Omit<WorkerEmbedOptions, 'seed'>;
  onMessage?: (text: string) => void;
  /** Compute backend instead of the run's own (e.g. a GPU). */
  backend?: BackendName;
  /** Also write an Embedding Projector folder here (codes, metadata, sprite, our map as a bookmark). */
  projector?: string;
  /** Replace an existing projector folder. */
  force?: boolean;
  /** VAEs: importance samples per image for the negative log-likelihood estimate (0 or absent: not estimated). */
  nllSamples?: number;
}

export interface EvaluateResult {
  outputDir: string;
  /** Every file written, in the order the steps wrote them (the projector's too), metrics.json last. */
  files: string[];
  metrics: TestMetrics;
  /** latent_<method>.png's legend as drawn: one entry per class present (none for unlabelled images). */
  mapLegend: LegendEntry[];
  /** The projector export, when asked for. */
  projector?: ProjectorResult;
}

/** The run's split's loss: the value stored under `<split>_mse`. */
export function splitLoss(metrics: TestMetrics): number {
  return metrics[`${metrics.split}_mse`]!;
}

export async function evaluateRun(runDirPath: string, opts: EvaluateOptions = {}): Promise<EvaluateResult> {
  const ev = await prepare(runDirPath, opts);
  try {
    const loss = await lossStep(ev);
    const variational = await variationalStep(ev, opts.nllSamples);
    const pictures = await reconstructionsStep(ev, opts.count ?? 10, loss.loss);
    const latent = latentStep(ev, opts.knnTrainLimit);
    const map = await embedStep(ev, latent.latents, opts.embed ?? 'tsne', opts.embedOptions ?? {});
    const mapPicture = await mapPictureStep(ev, map);
    const mapData = mapDataStep(ev, latent.latents, map);
    const projector = opts.projector ? await projectorStep(ev, latent.latents, map, mapData.errors, opts.projector, opts.force) : undefined;
    const lossCurve = await lossCurveStep(ev);
    const metrics: TestMetrics = {
      run: ev.run.dir,
      weights: ev.weights,
      epoch: ev.epoch,
      split: ev.split,
      images: ev.set.count,
      map_sample: { images: ev.mapSet.count, of: ev.set.count, sampled: ev.mapSet !== ev.set },
      ...loss.metrics,
      classes: ev.classNames,
      ...latent.metrics,
      ...map.metrics,
      ...variational.metrics,
    } as TestMetrics;
    const metricsFile = path.join(ev.outDir, 'metrics.json');
    writeFileAtomic(metricsFile, `${JSON.stringify(metrics, null, 2)}\n`);
    const steps = [loss, variational, pictures, latent, map, mapPicture, mapData, ...(projector ? [projector] : []), lossCurve];
    return {
      outputDir: ev.outDir,
      files: [...steps.flatMap((s) => s.files), metricsFile],
      metrics,
      mapLegend: mapPicture.legend,
      ...(projector ? { projector: projector.projector } : {}),
    };
  } finally {
    ev.model.params.dispose();
  }
}
