/* Transpose, concat and slice (shape.h).
 *
 * Transpose first simplifies the permutation: it drops dimensions of size 1 and merges neighbouring output
 * dimensions that are also neighbours, in the same order, in the input (a (B,T,H,D) -> (B,H,T,D) transpose becomes
 * a 4-d walk with rows of D contiguous floats; (N,C) -> (C,N) stays 2-d). Then, walking the output in order:
 *  - if the output's innermost dimension is contiguous in the input too, it copies whole rows;
 *  - otherwise the input's contiguous dimension lies elsewhere in the output, and it transposes tiles of
 *    TRANSPOSE_TILE x TRANSPOSE_TILE between those two dimensions through a local buffer, so that both sides are
 *    read and written in contiguous runs of whole cache lines.
 * The backward pass walks the same way with the roles swapped: dinp[input index] += dout[output index]. */
#include "kernels/shape/shape.h"

#include <stdbool.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/vec_cpu.h"

#define TRANSPOSE_TILE 32

/* dst = src, or dst += src when add, over n contiguous floats. */
static void copy_run(float *LEAP_RESTRICT dst, const float *LEAP_RESTRICT src, int64_t n, bool add) {
  if (add)
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
  else
    memcpy(dst, src, (size_t)n * sizeof(float));
}

/* The simplified walk: nd output dimensions with their sizes, their (contiguous) output strides and the input
 * strides of the same dimensions. */
typedef struct perm_plan {
  int nd;
  int64_t size[LEAP_TRANSPOSE_MAX_DIMS], ostride[LEAP_TRANSPOSE_MAX_DIMS], istride[LEAP_TRANSPOSE_MAX_DIMS];
} perm_plan;

static perm_plan make_plan(const int64_t *in_shape, const int *perm, int ndim) {
  int64_t in_stride[LEAP_TRANSPOSE_MAX_DIMS];
  int64_t st = 1;
  for (int d = ndim - 1; d >= 0; d--) in_stride[d] = st, st *= in_shape[d];
  perm_plan p = {0};
  for (int i = 0; i < ndim; i++) {
    int64_t size = in_shape[perm[i]], stride = in_stride[perm[i]];
    if (size == 1) continue;
    if (p.nd > 0 && p.istride[p.nd - 1] == stride * size) {
      p.size[p.nd - 1] *= size;
      p.istride[p.nd - 1] = stride;
    } else {
      p.size[p.nd] = size, p.istride[p.nd] = stride, p.nd++;
    }
  }
  if (p.nd == 0) p.size[0] = 1, p.istride[0] = 1, p.nd = 1;
  st = 1;
  for (int d = p.nd - 1; d >= 0; d--) p.ostride[d] = st, st *= p.size[d];
  return p;
}

/* Offsets in output and input of the idx-th combination of the dimensions other than skip_a and skip_b. */
static void unravel(const perm_plan *p, int64_t idx, int skip_a, int skip_b, int64_t *out_off, int64_t *in_off) {
  int64_t o = 0, i = 0;
  for (int d = p->nd - 1; d >= 0; d--) {
    if (d == skip_a || d == skip_b) continue;
    int64_t c = idx % p->size[d];
    idx /= p->size[d];
    o += c * p->ostride[d];
    i += c * p->istride[d];
  }
  *out_off = o, *in_off = i;
}

/* Output rows are contiguous input runs: copy (or, backward, add) them one by one. */
static void permute_rows(float *out, float *inp, const perm_plan *p, bool backward) {
  int64_t len = p->size[p->nd - 1], rows = p->ostride[0] * p->size[0] / len;
  LEAP_VEC_OMP_FOR_IF(rows > 1 && rows * len >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t o, i;
    unravel(p, r, p->nd - 1, -1, &o, &i);
    if (backward)
      copy_run(inp + i, out + o, len, true);
    else
      copy_run(out + o, inp + i, len, false);
  }
}

/* One tile between output dimension q (contiguous in the input) and the last output dimension (strided in it),
 * staged through a local buffer so that both sides are read and written in contiguous runs: walking the strided
 * side element by element would touch nl cache lines per step, and with a power-of-two stride those lines fall in
 * one cache set and evict each other. */
static void permute_tile(float *LEAP_RESTRICT out, float *LEAP_RESTRICT inp, int64_t oq, int64_t il, int64_t nq,
                         int64_t nl, bool backward) {
  float buf[TRANSPOSE_TILE][TRANSPOSE_TILE];
  if (!backward) {
    for (int64_t b = 0; b < nl; b++)
      for (int64_t a = 0; a < nq; a++) buf[b][a] = inp[a + b * il];
    for (int64_t a = 0; a < nq; a++)
      for (int64_t b = 0; b < nl; b++) out[a * oq + b] = buf[b][a];
  } else {
    for (int64_t a = 0; a < nq; a++)
      for (int64_t b = 0; b < nl; b++) buf[b][a] = out[a * oq + b];
    for (int64_t b = 0; b < nl; b++)
      for (int64_t a = 0; a < nq; a++) inp[a + b * il] += buf[b][a];
  }
}

static void permute_tiled(float *out, float *inp, const perm_plan *p, int q, bool backward) {
  int l = p->nd - 1;
  int64_t tq = (p->size[q] + TRANSPOSE_TILE - 1) / TRANSPOSE_TILE,
          tl = (p->size[l] + TRANSPOSE_TILE - 1) / TRANSPOSE_TILE;
  int64_t total = p->ostride[0] * p->size[0], outer = total / (p->size[q] * p->size[l]);
  LEAP_VEC_OMP_FOR_IF(total >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t t = 0; t < outer * tq * tl; t++) {
    int64_t o, i, jq = (t / tl) % tq * TRANSPOSE_TILE, jl = t % tl * TRANSPOSE_TILE;
    unravel(p, t / (tq * tl), q, l, &o, &i);
    o += jq * p->ostride[q] + jl;
    i += jq + jl * p->istride[l];
    permute_tile(out + o, inp + i, p->ostride[q], p->istride[l], leap_vec_min(TRANSPOSE_TILE, p->size[q] - jq),
                 leap_vec_min(TRANSPOSE_TILE, p->size[l] - jl), backward);
  }
}

/* The one walk behind both directions: forward copies inp into out and never writes inp; backward adds out (then
 * dout) into inp (then dinp). */
static void permute(float *out, float *inp, const int64_t *in_shape, const int *perm, int ndim, bool backward) {
  for (int d = 0; d < ndim; d++)
    if (in_shape[d] == 0) return;
  perm_plan p = make_plan(in_shape, perm, ndim);
  if (p.istride[p.nd - 1] == 1) {
    permute_rows(out, inp, &p, backward);
    return;
  }
  int q = 0;
  while (p.istride[q] != 1) q++;
  permute_tiled(out, inp, &p, q, backward);
}

void leap_transpose_forward_cpu(float *out, const float *inp, const int64_t *in_shape, const int *perm, int ndim) {
  permute(out, (float *)inp, in_shape, perm, ndim, false);
}

void leap_transpose_backward_cpu(float *dinp, const float *dout, const int64_t *in_shape, const int *perm, int ndim) {
  permute((float *)dout, dinp, in_shape, perm, ndim, true);
}

/* Moves input i's part of the concatenation; backward adds it back into input i's gradient. As in permute(), the
 * forward direction never writes through parts, nor the backward one through out. */
static void concat_walk(float *out, float *const *parts, const int64_t *sizes, int n, int64_t outer, int64_t inner,
                        bool backward) {
  int64_t total = 0;
  for (int k = 0; k < n; k++) total += sizes[k];
  LEAP_VEC_OMP_FOR_IF(outer * n > 1 && outer * total * inner >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t t = 0; t < outer * n; t++) {
    int64_t o = t / n;
    int k = (int)(t % n);
    if (!parts[k]) continue;
    int64_t before = 0;
    for (int j = 0; j < k; j++) before += sizes[j];
    float *whole = out + (o * total + before) * inner, *part = parts[k] + o * sizes[k] * inner;
    if (backward)
      copy_run(part, whole, sizes[k] * inner, true);
    else
      copy_run(whole, part, sizes[k] * inner, false);
  }
}

void leap_concat_forward_cpu(float *out, const float *const *inps, const int64_t *sizes, int n, int64_t outer,
                             int64_t inner) {
  concat_walk(out, (float *const *)inps, sizes, n, outer, inner, false);
}

void leap_concat_backward_cpu(float *const *dinps, const float *dout, const int64_t *sizes, int n, int64_t outer,
                              int64_t inner) {
  concat_walk((float *)dout, dinps, sizes, n, outer, inner, true);
}

void leap_slice_forward_cpu(float *out, const float *inp, int64_t outer, int64_t dim, int64_t inner, int64_t start,
                            int64_t end) {
  int64_t len = (end - start) * inner;
  LEAP_VEC_OMP_FOR_IF(outer > 1 && outer * len >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t o = 0; o < outer; o++) copy_run(out + o * len, inp + (o * dim + start) * inner, len, false);
}

void leap_slice_backward_cpu(float *dinp, const float *dout, int64_t outer, int64_t dim, int64_t inner, int64_t start,
                             int64_t end) {
  int64_t len = (end - start) * inner;
  LEAP_VEC_OMP_FOR_IF(outer > 1 && outer * len >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t o = 0; o < outer; o++) copy_run(dinp + (o * dim + start) * inner, dout + o * len, len, true);
}
