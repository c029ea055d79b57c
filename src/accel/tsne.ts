/**
 * t-SNE's native functions (native/tsne.hpp, affinities.hpp, fft_repulsion.hpp, knn.hpp, nndescent.hpp) with the thread count bound: what
 * src/embed/ builds its native GradientKernels, neighbour search and perplexity search from.
 */
import type { NativeAddon } from './addon.js';
import { accelThreads, nativeAddon } from './context.js';

type WithoutThreads<F> = F extends (o: infer O) => infer R ? (o: Omit<O, 'threads'>) => R : never;

export type TsneNative = {
  [K in
    | 'repulsion'
    | 'repulsionFft'
    | 'placeOnto'
    | 'attraction'
    | 'klTerm'
    | 'descend'
    | 'conditionalP'
    | 'symmetrize'
    | 'permuteP'
    | 'toFloat32'
    | 'knn'
    | 'knnQuery'
    | 'approxKnn']: WithoutThreads<NativeAddon[K]>;
} & { threads: number };

/** The native t-SNE functions on `threads` threads, or null where the addon is not built or not allowed here. */
export function tsneNative(threads = accelThreads()): TsneNative | null {
  const native = nativeAddon();
  if (!native) return null;
  return {
    threads,
    repulsion: (o) => native.repulsion({ ...o, threads }),
    repulsionFft: (o) => native.repulsionFft({ ...o, threads }),
    placeOnto: (o) => native.placeOnto({ ...o, threads }),
    attraction: (o) => native.attraction({ ...o, threads }),
    klTerm: (o) => native.klTerm({ ...o, threads }),
    descend: (o) => native.descend(o),
    conditionalP: (o) => native.conditionalP({ ...o, threads }),
    symmetrize: (o) => native.symmetrize({ ...o, threads }),
    permuteP: (o) => native.permuteP({ ...o, threads }),
    toFloat32: (o) => native.toFloat32({ ...o, threads }),
    knn: (o) => native.knn({ ...o, threads }),
    knnQuery: (o) => native.knnQuery({ ...o, threads }),
    approxKnn: (o) => native.approxKnn({ ...o, threads }),
  };
}
