/** `ae test` with a `projector` folder: the split's codes, labels, reconstruction errors, thumbnails and our map as an Embedding Projector folder. */
import type { Config } from '../config/schema.js';
import { type ImageSet, imageAt } from '../data/dataset.js';
import type { EmbedMethod } from '../embed/index.js';
import type { Autoencoder } from '../models/registry.js';
import { exportProjector, type ProjectorResult } from '../render/projector.js';
import { type Latents, latentSize } from './latents.js';

export interface ProjectorStep {
  config: Config;
  model: Autoencoder;
  set: ImageSet;
  split: string;
  classNames: string[] | null;
  latents: Latents;
  coords: Float32Array;
  /** Per-image reconstruction errors, already computed for the map (map-data.ts). */
  errors: Float32Array;
  embedding: { method: EmbedMethod; description: string; perplexity?: number };
  dir: string;
  force?: boolean;
  say: (text: string) => void;
}

export async function exportToProjector(step: ProjectorStep): Promise<ProjectorResult> {
  const { set, latents, config } = step;
  const { errors } = step;
  const points = Array.from({ length: set.count }, (_, i) => ({
    label: step.classNames ? (step.classNames[set.labels[i]!] ?? String(set.labels[i])) : '',
    split: step.split,
    reconstructionError: errors[i]!,
    path: '',
  }));
  // Wide codes (the CAE's 12,544 numbers) go out as their principal components, as the maps use them: the
  // Projector loads the whole tensor into the browser.
  const reduced = latents.reduction ? `, ${latents.reduction} of ${latentSize(step.model)}` : '';
  const result = await exportProjector(
    step.dir,
    {
      codes: latents.codes,
      dim: latents.dim,
      points,
      images: imageAt(set),
      height: set.height,
      width: set.width,
      channels: set.channels,
      map: {
        coords: step.coords,
        method: step.embedding.method,
        description: step.embedding.description,
        perplexity: step.embedding.perplexity,
      },
      tensorName: `${config.model_type} ${config.name} latents (${step.split})${reduced}`,
      seed: config.seed,
    },
    step.force,
  );
  if (result.note) step.say(result.note);
  step.say(`Embedding Projector folder: ${step.dir} (${result.exported} points)`);
  return result;
}
