// t-SNE's sparse affinity matrix after the per-point Gaussians (tsne.hpp's ConditionalP):
//   Symmetrize: P = (P_j|i + P_i|j) / 2n as CSR, the same entries in the same order as affinities.ts's loop
//               (each (i, j) pair goes to rows i and j, then duplicates within a row merge in order of arrival),
//               so the two give the same bits. At 1M points and 90 neighbours that is 189M entries to place and
//               merge: about a minute in TypeScript.
//   Permute:    P with its points renumbered (new point r is old point order[r]), rows in parallel.
//   Narrow:     P's values in single precision for the optimiser's loops (attraction.hpp), rows in parallel.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>
#include "memory.hpp"
#include "parallel.hpp"

namespace affinities {

// Writes rowPtr (n + 1) and the merged entries to the front of cols and vals (capacity 2nk each, also the work
// space); returns the number of entries.
inline int64_t Symmetrize(const int32_t* indices, const double* cond, int n, int k, int32_t* rowPtr, int32_t* cols, double* vals,
                          int threads) {
  // Raw rows: row r holds, in the loop's order, its reverse entries from rows i < r, its own k neighbours, then
  // its reverse entries from rows i > r. Count both kinds of reverse entry per row.
  const size_t nk = static_cast<size_t>(n) * k;
  std::vector<int64_t> start(static_cast<size_t>(n) + 1, 0);
  std::vector<int32_t> before(static_cast<size_t>(n), 0);  // reverse entries from rows i < r
  for (int i = 0; i < n; i++) {
    for (int t = 0; t < k; t++) {
      const int32_t j = indices[static_cast<size_t>(i) * k + t];
      start[static_cast<size_t>(j) + 1]++;
      before[j] += i < j;
    }
  }
  for (int i = 0; i < n; i++) start[i + 1] += start[i] + k;
  // Scattering 2nk entries straight into a 2 GB array (at 1M points) misses cache and TLB on every write. Instead
  // the reverse entries go first into buckets of kBucketRows consecutive rows, kept in the loop's order (writes to
  // a few thousand sequential streams), and each bucket is then placed into its rows' range, which fits in cache;
  // buckets in parallel.
  constexpr int kBucketShift = 10, kBucketRows = 1 << kBucketShift;
  const int buckets = (n + kBucketRows - 1) / kBucketRows;
  struct Reverse {
    int32_t row, col;
    double value;
  };
  std::vector<int64_t> bucketStart(static_cast<size_t>(buckets) + 1, 0);
  for (int b = 0; b < buckets; b++) {
    const int r1 = std::min(n, (b + 1) * kBucketRows);
    bucketStart[b + 1] = (start[r1] - start[static_cast<size_t>(b) * kBucketRows]) - static_cast<int64_t>(r1 - b * kBucketRows) * k;
  }
  for (int b = 0; b < buckets; b++) bucketStart[b + 1] += bucketStart[b];
  // Not zero-filled (every slot is written below); its pages and the outputs' mapped in one call each (memory.hpp).
  std::unique_ptr<Reverse[]> reverse(new Reverse[nk]);
  memory::Populate(reverse.get(), sizeof(Reverse) * nk);
  memory::Populate(cols, sizeof(int32_t) * 2 * nk);
  memory::Populate(vals, sizeof(double) * 2 * nk);
  {
    std::vector<int64_t> head(bucketStart.begin(), bucketStart.end() - 1);
    const double twoN = 2.0 * n;
    for (int i = 0; i < n; i++) {
      for (int t = 0; t < k; t++) {
        const size_t e = static_cast<size_t>(i) * k + t;
        const int32_t j = indices[e];
        reverse[head[j >> kBucketShift]++] = Reverse{j, i, cond[e] / twoN};
      }
    }
  }
  parallel::For(buckets, threads, [&](int, int b0, int b1) {
    const double twoN = 2.0 * n;
    std::vector<int64_t> cursor;
    for (int b = b0; b < b1; b++) {
      const int r0 = b * kBucketRows, r1 = std::min(n, r0 + kBucketRows);
      cursor.assign(start.begin() + r0, start.begin() + r1);
      for (int r = r0; r < r1; r++) {  // the row's own neighbours, after its reverse entries from rows i < r
        const int64_t at = start[r] + before[r];
        for (int t = 0; t < k; t++) {
          const size_t e = static_cast<size_t>(r) * k + t;
          cols[at + t] = indices[e];
          vals[at + t] = cond[e] / twoN;
        }
      }
      for (int64_t q = bucketStart[b]; q < bucketStart[b + 1]; q++) {
        const Reverse& rev = reverse[q];
        int64_t& at = cursor[rev.row - r0];
        if (at == start[rev.row] + before[rev.row]) at += k;  // skip the row's own block
        cols[at] = rev.col;
        vals[at++] = rev.value;
      }
    }
  }, 1);
  // Merge duplicates within each row, compacting to the row's front (rows are independent: one position table
  // per thread); then close the gaps between rows in order.
  std::vector<int32_t> count(static_cast<size_t>(n));
  parallel::For(n, threads, [&](int, int r0, int r1) {
    std::vector<int32_t> pos(static_cast<size_t>(n), -1);
    for (int i = r0; i < r1; i++) {
      const int64_t s = start[i];
      int64_t w = s;
      for (int64_t c = s; c < start[i + 1]; c++) {
        const int32_t j = cols[c];
        if (pos[j] >= 0) {
          vals[s + pos[j]] += vals[c];
          continue;
        }
        pos[j] = static_cast<int32_t>(w - s);
        cols[w] = j;
        vals[w++] = vals[c];
      }
      for (int64_t c = s; c < w; c++) pos[cols[c]] = -1;
      count[i] = static_cast<int32_t>(w - s);
    }
  }, 1024);
  int64_t w = 0;
  rowPtr[0] = 0;
  for (int i = 0; i < n; i++) {
    if (w != start[i]) {
      std::memmove(cols + w, cols + start[i], sizeof(int32_t) * count[i]);
      std::memmove(vals + w, vals + start[i], sizeof(double) * count[i]);
    }
    w += count[i];
    rowPtr[i + 1] = static_cast<int32_t>(w);
  }
  return w;
}

// out[c] = vals[c] in single precision, into pages mapped first (as huge pages where allowed: the attraction
// streams these values every iteration, and a 2 MiB TLB entry covers what 512 small ones did).
inline void Narrow(const double* vals, size_t count, float* out, int threads) {
  memory::Populate(out, sizeof(float) * count);
  constexpr size_t kChunk = size_t{1} << 16;
  const int chunks = static_cast<int>((count + kChunk - 1) / kChunk);
  parallel::For(chunks, threads, [&](int, int c0, int c1) {
    for (size_t c = static_cast<size_t>(c0) * kChunk; c < std::min(count, static_cast<size_t>(c1) * kChunk); c++) out[c] = static_cast<float>(vals[c]);
  }, 1);
}

// out = P with point order[r] renumbered r: rows taken in the new order, columns mapped through the inverse.
inline void Permute(int n, const int32_t* rowPtr, const int32_t* cols, const double* vals, const int32_t* order, int32_t* outRowPtr,
                    int32_t* outCols, double* outVals, int threads) {
  std::vector<int32_t> rank(static_cast<size_t>(n));
  for (int r = 0; r < n; r++) rank[order[r]] = r;
  memory::Populate(outCols, sizeof(int32_t) * rowPtr[n]);
  memory::Populate(outVals, sizeof(double) * rowPtr[n]);
  outRowPtr[0] = 0;
  for (int r = 0; r < n; r++) outRowPtr[r + 1] = outRowPtr[r] + (rowPtr[order[r] + 1] - rowPtr[order[r]]);
  parallel::For(n, threads, [&](int, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
      const int32_t i = order[r];
      int32_t out = outRowPtr[r];
      for (int32_t c = rowPtr[i]; c < rowPtr[i + 1]; c++, out++) {
        outCols[out] = rank[cols[c]];
        outVals[out] = vals[c];
      }
    }
  }, 1024);
}

}  // namespace affinities
