/**
 * The model types: one line per type, its spec in its own folder. The config's `model_type` values, their order
 * in the docs, and every fact other modules ask about a type come from here; the networks themselves are built
 * through registry.ts.
 */
import { aeSpec } from './ae/spec.js';
import { bottleneckCaeSpec } from './bottleneck-cae/spec.js';
import { caeSpec } from './cae/spec.js';
import { convVaeSpec } from './conv-vae/spec.js';
import type { ModelSpec } from './spec.js';
import { vaeSpec } from './vae/spec.js';

export const MODEL_SPECS = [aeSpec, caeSpec, bottleneckCaeSpec, vaeSpec, convVaeSpec] as const;

export type ModelKind = (typeof MODEL_SPECS)[number]['kind'];

/** The `model_type` values, in the order above. */
export const MODEL_KINDS = MODEL_SPECS.map((s) => s.kind) as [ModelKind, ...ModelKind[]];

/** The spec of a model type. */
export function specOf(kind: ModelKind): ModelSpec {
  return MODEL_SPECS.find((s) => s.kind === kind)!;
}

/** The variational model types, for messages. */
export function variationalKinds(): ModelKind[] {
  return MODEL_SPECS.filter((s) => s.variational).map((s) => s.kind);
}
