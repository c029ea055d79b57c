/** Latent-quality metrics: k-NN classification accuracy and trustworthiness of a low-dimensional map. */
import { exactKnn, queryKnn } from '../embed/knn.js';
import { Rng } from '../util/rng.js';

/**
 * Accuracy of a k-NN majority vote (ties to the nearest neighbour's label): fit on (trainX, trainY), score on
 * (testX, testY). Distances are squared Euclidean; computed in blocks against the training set.
 */
export function knnAccuracy(trainX: Float32Array, trainY: Uint8Array, testX: Float32Array, testY: Uint8Array, dim: number, k = 5): number {
  const nb = queryKnn(trainX, trainY.length, testX, testY.length, dim, k);
  return voteAccuracy(nb.indices, k, trainY, testY);
}

/** Leave-one-out k-NN accuracy within one set of points (each point classified by its k nearest others). */
export function leaveOneOutKnnAccuracy(x: Float32Array, labels: Uint8Array, dim: number, k = 5): number {
  const nb = exactKnn(x, labels.length, dim, k);
  return voteAccuracy(nb.indices, k, labels, labels);
}

/** Share of queries whose k neighbours' majority label (ties: the nearest neighbour's) is their own label. */
function voteAccuracy(neighbours: Int32Array, k: number, refLabels: Uint8Array, queryLabels: Uint8Array): number {
  const votes = new Int32Array(256);
  let correct = 0;
  for (let q = 0; q < queryLabels.length; q++) {
    votes.fill(0);
    for (let r = 0; r < k; r++) votes[refLabels[neighbours[q * k + r]!]!]!++;
    let best = refLabels[neighbours[q * k]!]!;
    for (let label = 0; label < 256; label++) if (votes[label]! > votes[best]!) best = label;
    if (best === queryLabels[q]) correct++;
  }
  return correct / queryLabels.length;
}

/**
 * Trustworthiness (Venna & Kaski 2001) of an embedding: 1 - 2/(n k (2n - 3k - 1)) * sum over points of the
 * excess rank, in the original space, of each embedding neighbour that is not an original-space neighbour.
 * Computed on a seeded subsample of `sample` points (sample >= n: all of them). O(m^2 (dim + k)) time and O(m)
 * memory: each point's original-space distances are computed as a row, and the rank of each of its k embedding
 * neighbours is counted from that row (ties ordered by index, as a stable sort would).
 */
export function trustworthiness(
  high: Float32Array,
  highDim: number,
  low: Float32Array,
  lowDim: number,
  n: number,
  k = 10,
  sample = 2000,
  seed = 0,
): number {
  const m = Math.min(n, sample);
  const idx = m < n ? new Rng(seed).permutation(n).subarray(0, m) : Int32Array.from({ length: n }, (_, i) => i);
  const pick = (src: Float32Array, dim: number) => {
    const out = new Float32Array(m * dim);
    for (let i = 0; i < m; i++) out.set(src.subarray(idx[i]! * dim, (idx[i]! + 1) * dim), i * dim);
    return out;
  };
  const h = pick(high, highDim),
    l = pick(low, lowDim);
  const lowNb = exactKnn(l, m, lowDim, k);
  const dist = new Float64Array(m);
  let penalty = 0;
  for (let i = 0; i < m; i++) {
    const hi = i * highDim;
    for (let j = 0; j < m; j++) {
      let d = 0;
      for (let t = 0, hj = j * highDim; t < highDim; t++) {
        const v = h[hi + t]! - h[hj + t]!;
        d += v * v;
      }
      dist[j] = d;
    }
    for (let t = 0; t < k; t++) {
      const j = lowNb.indices[i * k + t]!,
        dj = dist[j]!;
      let closer = 0; // points other than i ranked before j: the rank of j, counting i itself as rank 0
      for (let q = 0; q < m; q++) if (q !== i && (dist[q]! < dj || (dist[q] === dj && q < j))) closer++;
      const r = closer + 1;
      if (r > k) penalty += r - k;
    }
  }
  return 1 - (2 / (m * k * (2 * m - 3 * k - 1))) * penalty;
}

/**
 * Area under the ROC curve of `scores` for telling positives (anomalies) from negatives: the probability that a
 * random positive scores higher than a random negative, ties counted half (the Mann-Whitney U statistic).
 */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSumPos = 0,
    nPos = 0;
  for (let start = 0; start < n; ) {
    let end = start;
    while (end + 1 < n && scores[order[end + 1]!] === scores[order[start]!]) end++;
    const midRank = (start + end) / 2 + 1; // ranks from 1; tied scores share their mean rank
    for (let k = start; k <= end; k++) {
      if (positive[order[k]!]) {
        rankSumPos += midRank;
        nPos++;
      }
    }
    start = end + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) throw new Error('ROC-AUC needs both positives and negatives');
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}
