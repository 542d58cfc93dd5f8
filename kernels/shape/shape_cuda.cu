/* Transpose, concat and slice on the GPU (shape.h). Each output element depends on exactly one input element and
 * each backward write has exactly one writer, so no atomics are needed and results are exact.
 *
 * Transpose simplifies the permutation as the CPU does (drop size-1 dimensions, merge output neighbours that are
 * input neighbours in the same order) and pads the walk to PERM_DIMS dimensions with leading size-1 ones, so that
 * the index arithmetic unrolls with constant indices. Then:
 *  - if the output's innermost dimension is contiguous in the input too, one thread per output element (reads and
 *    writes both coalesced along that dimension);
 *  - otherwise tiles of TILE x TILE elements between the input's contiguous dimension q and the output's last
 *    dimension go through shared memory: a block of TILE x TILE_ROWS threads reads the tile along q (contiguous
 *    in the input) and writes it along the last dimension (contiguous in the output); backward the reverse. */
#include "kernels/shape/shape.h"

#include "kernels/common/cuda_common.cuh"

#define PERM_DIMS LEAP_TRANSPOSE_MAX_DIMS
#define TILE 32
#define TILE_ROWS 8
#define COPY_THREADS 256
#define COPY_MAX_BLOCKS 65535

static_assert(TILE == LEAP_CUDA_WARP, "a warp moves one tile row");

typedef struct perm_plan {
  int64_t size[PERM_DIMS], ostride[PERM_DIMS], istride[PERM_DIMS];
} perm_plan;

typedef struct concat_args {
  void *parts[LEAP_CONCAT_MAX_INPUTS];
  int64_t sizes[LEAP_CONCAT_MAX_INPUTS], starts[LEAP_CONCAT_MAX_INPUTS];
  int n;
  int64_t total; /* the sum of sizes */
} concat_args;

static unsigned copy_blocks(int64_t n) {
  int64_t b = (n + COPY_THREADS - 1) / COPY_THREADS;
  return (unsigned)(b < 1 ? 1 : (b > COPY_MAX_BLOCKS ? COPY_MAX_BLOCKS : b));
}

#define GRID_STRIDE(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* The CPU's simplified walk (shape_cpu.c make_plan), right-aligned in PERM_DIMS dimensions. */
static perm_plan make_plan(const int64_t *in_shape, const int *perm, int ndim) {
  int64_t in_stride[PERM_DIMS], size[PERM_DIMS], istride[PERM_DIMS], st = 1;
  for (int d = ndim - 1; d >= 0; d--) in_stride[d] = st, st *= in_shape[d];
  int nd = 0;
  for (int i = 0; i < ndim; i++) {
    int64_t sz = in_shape[perm[i]], stride = in_stride[perm[i]];
    if (sz == 1) continue;
    if (nd > 0 && istride[nd - 1] == stride * sz) {
      size[nd - 1] *= sz;
      istride[nd - 1] = stride;
    } else {
      size[nd] = sz, istride[nd] = stride, nd++;
    }
  }
  if (nd == 0) size[0] = 1, istride[0] = 1, nd = 1;
  perm_plan p;
  int pad = PERM_DIMS - nd;
  for (int d = 0; d < PERM_DIMS; d++) {
    p.size[d] = d < pad ? 1 : size[d - pad];
    p.istride[d] = d < pad ? 0 : istride[d - pad];
  }
  st = 1;
  for (int d = PERM_DIMS - 1; d >= 0; d--) p.ostride[d] = st, st *= p.size[d];
  return p;
}

/* One thread per output element: out[o] = inp[in(o)], or backward inp[in(o)] += out[o] (out is then dout and inp
 * dinp). */
template <bool BACKWARD, typename T>
__global__ void permute_kernel(T *out, T *inp, perm_plan p, int64_t total) {
  GRID_STRIDE(o, total) {
    int64_t rem = o, in = 0;
#pragma unroll
    for (int d = PERM_DIMS - 1; d >= 0; d--) {
      int64_t c = rem % p.size[d];
      rem /= p.size[d];
      in += c * p.istride[d];
    }
    if (BACKWARD)
      leap_store(inp, (size_t)in, leap_load(inp, (size_t)in) + leap_load(out, (size_t)o));
    else
      leap_store(out, (size_t)o, leap_load(inp, (size_t)in));
  }
}

/* Tiles between dimension q (input stride 1) and the last dimension (output stride 1); see the file comment. */
template <bool BACKWARD, typename T>
__global__ void permute_tiled_kernel(T *out, T *inp, perm_plan p, int q, int64_t tiles_q, int64_t tiles_l,
                                     int64_t ntiles) {
  __shared__ float buf[TILE][TILE + 1];
  const int l = PERM_DIMS - 1, tx = threadIdx.x, ty = threadIdx.y;
  const int64_t oq = p.ostride[q], il = p.istride[l];
  for (int64_t t = blockIdx.x; t < ntiles; t += gridDim.x) {
    int64_t jl = t % tiles_l * TILE, jq = t / tiles_l % tiles_q * TILE, idx = t / (tiles_l * tiles_q);
    int64_t o = 0, i = 0;
#pragma unroll
    for (int d = PERM_DIMS - 2; d >= 0; d--) {
      if (d == q) continue;
      int64_t c = idx % p.size[d];
      idx /= p.size[d];
      o += c * p.ostride[d];
      i += c * p.istride[d];
    }
    o += jq * oq + jl;
    i += jq + jl * il;
    int nq = (int)(p.size[q] - jq < TILE ? p.size[q] - jq : TILE);
    int nl = (int)(p.size[l] - jl < TILE ? p.size[l] - jl : TILE);
    __syncthreads(); /* the previous tile's buffer has been consumed */
    if (!BACKWARD) {
      for (int b = ty; b < nl; b += TILE_ROWS)
        if (tx < nq) buf[b][tx] = leap_load(inp, (size_t)(i + tx + b * il));
      __syncthreads();
      for (int a = ty; a < nq; a += TILE_ROWS)
        if (tx < nl) leap_store(out, (size_t)(o + a * oq + tx), buf[tx][a]);
    } else {
      for (int a = ty; a < nq; a += TILE_ROWS)
        if (tx < nl) buf[tx][a] = leap_load(out, (size_t)(o + a * oq + tx));
      __syncthreads();
      for (int b = ty; b < nl; b += TILE_ROWS)
        if (tx < nq) {
          size_t k = (size_t)(i + tx + b * il);
          leap_store(inp, k, leap_load(inp, k) + buf[b][tx]);
        }
    }
  }
}

template <bool BACKWARD, typename T>
static void permute(T *out, T *inp, const int64_t *in_shape, const int *perm, int ndim, cudaStream_t st) {
  int64_t total = 1;
  for (int d = 0; d < ndim; d++) total *= in_shape[d];
  if (total == 0) return;
  perm_plan p = make_plan(in_shape, perm, ndim);
  if (p.istride[PERM_DIMS - 1] == 1) {
    permute_kernel<BACKWARD, T><<<copy_blocks(total), COPY_THREADS, 0, st>>>(out, inp, p, total);
    LEAP_CUDA_LAUNCH_CHECK();
    return;
  }
  int q = 0;
  while (p.istride[q] != 1) q++;
  int64_t tq = (p.size[q] + TILE - 1) / TILE, tl = (p.size[PERM_DIMS - 1] + TILE - 1) / TILE;
  int64_t ntiles = total / (p.size[q] * p.size[PERM_DIMS - 1]) * tq * tl;
  unsigned grid = (unsigned)(ntiles > COPY_MAX_BLOCKS ? COPY_MAX_BLOCKS : ntiles);
  permute_tiled_kernel<BACKWARD, T><<<grid, dim3(TILE, TILE_ROWS), 0, st>>>(out, inp, p, q, tq, tl, ntiles);
  LEAP_CUDA_LAUNCH_CHECK();
}

/* One thread per element of the concatenation: forward out[e] = part k's element; backward part k's gradient
 * element += dout[e] (skipped when that gradient is NULL). */
template <bool BACKWARD, typename T>
__global__ void concat_kernel(T *whole, concat_args a, int64_t outer, int64_t inner) {
  int64_t row = a.total * inner;
  GRID_STRIDE(e, outer * row) {
    int64_t o = e / row, r = e % row, j = r / inner, w = r % inner;
    int k = 0;
#pragma unroll
    for (int m = 1; m < LEAP_CONCAT_MAX_INPUTS; m++)
      if (m < a.n && a.starts[m] <= j) k = m;
    T *part = (T *)a.parts[k];
    if (!part) continue;
    size_t pi = (size_t)((o * a.sizes[k] + (j - a.starts[k])) * inner + w);
    if (BACKWARD)
      leap_store(part, pi, leap_load(part, pi) + leap_load(whole, (size_t)e));
    else
      leap_store(whole, (size_t)e, leap_load(part, pi));
  }
}

template <bool BACKWARD>
static void concat(void *whole, void *const *parts, const int64_t *sizes, int n, int64_t outer, int64_t inner,
                   leap_dtype act, cudaStream_t st) {
  if (n < 1 || n > LEAP_CONCAT_MAX_INPUTS) {
    fprintf(stderr, "leap: fatal: concat of %d inputs (1 to %d allowed)\n", n, LEAP_CONCAT_MAX_INPUTS);
    abort();
  }
  concat_args a = {};
  a.n = n;
  for (int k = 0; k < n; k++) a.parts[k] = parts[k], a.sizes[k] = sizes[k], a.starts[k] = a.total, a.total += sizes[k];
  int64_t total = outer * a.total * inner;
  if (total <= 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    concat_kernel<BACKWARD, T><<<copy_blocks(total), COPY_THREADS, 0, st>>>((T *)whole, a, outer, inner);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

/* One thread per element of the slice: out[e] = inp[o, start + j, w], or backward dinp[...] += dout[e]. */
template <bool BACKWARD, typename T>
__global__ void slice_kernel(T *part, T *whole, int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t len) {
  GRID_STRIDE(e, outer * len) {
    int64_t o = e / len, r = e % len;
    size_t wi = (size_t)((o * dim + start) * inner + r);
    if (BACKWARD)
      leap_store(whole, wi, leap_load(whole, wi) + leap_load(part, (size_t)e));
    else
      leap_store(part, (size_t)e, leap_load(whole, wi));
  }
}

template <bool BACKWARD>
static void slice(void *part, void *whole, int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end,
                  leap_dtype act, cudaStream_t st) {
  int64_t len = (end - start) * inner;
  if (outer <= 0 || len <= 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    slice_kernel<BACKWARD, T>
        <<<copy_blocks(outer * len), COPY_THREADS, 0, st>>>((T *)part, (T *)whole, outer, dim, inner, start, len);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

LEAP_EXTERN_C_BEGIN

void leap_transpose_forward_cuda(void *out, const void *inp, const int64_t *in_shape, const int *perm, int ndim,
                                 leap_dtype act, leap_cuda_stream stream) {
  LEAP_DISPATCH_ACT(act, T, permute<false, T>((T *)out, (T *)inp, in_shape, perm, ndim, (cudaStream_t)stream));
}

void leap_transpose_backward_cuda(void *dinp, const void *dout, const int64_t *in_shape, const int *perm, int ndim,
                                  leap_dtype act, leap_cuda_stream stream) {
  LEAP_DISPATCH_ACT(act, T, permute<true, T>((T *)dout, (T *)dinp, in_shape, perm, ndim, (cudaStream_t)stream));
}

void leap_concat_forward_cuda(void *out, const void *const *inps, const int64_t *sizes, int n, int64_t outer,
                              int64_t inner, leap_dtype act, leap_cuda_stream stream) {
  concat<false>(out, (void *const *)inps, sizes, n, outer, inner, act, (cudaStream_t)stream);
}

void leap_concat_backward_cuda(void *const *dinps, const void *dout, const int64_t *sizes, int n, int64_t outer,
                               int64_t inner, leap_dtype act, leap_cuda_stream stream) {
  concat<true>((void *)dout, dinps, sizes, n, outer, inner, act, (cudaStream_t)stream);
}

void leap_slice_forward_cuda(void *out, const void *inp, int64_t outer, int64_t dim, int64_t inner, int64_t start,
                             int64_t end, leap_dtype act, leap_cuda_stream stream) {
  slice<false>(out, (void *)inp, outer, dim, inner, start, end, act, (cudaStream_t)stream);
}

void leap_slice_backward_cuda(void *dinp, const void *dout, int64_t outer, int64_t dim, int64_t inner, int64_t start,
                              int64_t end, leap_dtype act, leap_cuda_stream stream) {
  slice<true>((void *)dout, dinp, outer, dim, inner, start, end, act, (cudaStream_t)stream);
}

LEAP_EXTERN_C_END
