/* Elementwise arithmetic on the GPU (elementwise.h): flat grid-stride loops, and the deterministic column sum
 * (leap_sum_rows_cuda) behind every broadcast gradient and bias gradient.
 *
 * Column sum. x (rows, cols) is cut into row blocks of rows_per_block(rows) rows. A thread block of
 * SUM_COLS x SUM_LANES threads owns SUM_COLS consecutive columns of one row block: thread (tx, ty) adds rows
 * ty, ty + SUM_LANES, ... of the row block for its column (the warp reads SUM_COLS consecutive values of a row, one
 * coalesced load), then the SUM_LANES partials are added in ty order. With one row block the result goes straight
 * into dst; otherwise each row block writes its partial row to the workspace and a second kernel adds the
 * partials in row-block order, one thread per column. The order of every addition depends on the shape only. */
#include "kernels/elementwise/elementwise.h"

#include "kernels/common/cuda_common.cuh"

/* Threads per block of the flat kernels, and the most blocks a grid-stride launch uses. */
#define FLAT_THREADS 256
#define FLAT_MAX_BLOCKS 65535
/* Column sum: columns per block (one warp wide), row lanes per block, rows per row block (at least). */
#define SUM_COLS 32
#define SUM_LANES 8
#define SUM_BLOCK_ROWS 256
#define SUM_MAX_ROW_BLOCKS 65535
/* Threads per block of the partial-combining kernel (one thread per column). */
#define SUM_FINISH_THREADS 256

static_assert(SUM_COLS == LEAP_CUDA_WARP, "a warp reads one row segment of the column sum");
static_assert(SUM_BLOCK_ROWS % SUM_LANES == 0, "row blocks split evenly over the row lanes");

static unsigned flat_blocks(int64_t n) {
  int64_t b = (n + FLAT_THREADS - 1) / FLAT_THREADS;
  return (unsigned)(b < 1 ? 1 : (b > FLAT_MAX_BLOCKS ? FLAT_MAX_BLOCKS : b));
}

#define GRID_STRIDE(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* Rows per row block: SUM_BLOCK_ROWS, grown (in multiples of SUM_LANES) so that the grid stays within its limit. */
static int64_t rows_per_block(int64_t rows) {
  int64_t per = SUM_BLOCK_ROWS, need = (rows + SUM_MAX_ROW_BLOCKS - 1) / SUM_MAX_ROW_BLOCKS;
  if (need > per) per = (need + SUM_LANES - 1) / SUM_LANES * SUM_LANES;
  return per;
}

/* One row block's column sums of x (or x * y): into dst (+=) when there is a single row block, else into its row of
 * the workspace. */
template <typename T, typename TD>
__global__ void sum_rows_partial_kernel(TD *dst, float *partial, const T *x, const T *y, int64_t rows, int64_t cols,
                                        int64_t per_block) {
  __shared__ float lanes[SUM_LANES][SUM_COLS + 1];
  int64_t c = (int64_t)blockIdx.x * SUM_COLS + threadIdx.x;
  int64_t r0 = (int64_t)blockIdx.y * per_block, r1 = r0 + per_block < rows ? r0 + per_block : rows;
  float acc = 0.0f;
  if (c < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += SUM_LANES) {
      size_t i = (size_t)(r * cols + c);
      acc += y ? leap_load(x, i) * leap_load(y, i) : leap_load(x, i);
    }
  lanes[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y != 0 || c >= cols) return;
  float s = lanes[0][threadIdx.x];
  for (int l = 1; l < SUM_LANES; l++) s += lanes[l][threadIdx.x];
  if (partial)
    partial[blockIdx.y * cols + c] = s;
  else
    leap_store(dst, (size_t)c, leap_load(dst, (size_t)c) + s);
}

/* dst[c] += the row blocks' partials of column c, added in row-block order. */
template <typename TD>
__global__ void sum_rows_finish_kernel(TD *dst, const float *partial, int64_t blocks, int64_t cols) {
  int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float s = partial[c];
  for (int64_t b = 1; b < blocks; b++) s += partial[b * cols + c];
  leap_store(dst, (size_t)c, leap_load(dst, (size_t)c) + s);
}

template <typename T, typename TD>
static void sum_rows(TD *dst, float *ws, const T *x, const T *y, int64_t rows, int64_t cols, cudaStream_t st) {
  int64_t per = rows_per_block(rows), blocks = (rows + per - 1) / per;
  dim3 grid((unsigned)((cols + SUM_COLS - 1) / SUM_COLS), (unsigned)blocks), block(SUM_COLS, SUM_LANES);
  sum_rows_partial_kernel<T, TD><<<grid, block, 0, st>>>(dst, blocks > 1 ? ws : NULL, x, y, rows, cols, per);
  LEAP_CUDA_LAUNCH_CHECK();
  if (blocks > 1) {
    unsigned g = (unsigned)((cols + SUM_FINISH_THREADS - 1) / SUM_FINISH_THREADS);
    sum_rows_finish_kernel<TD><<<g, SUM_FINISH_THREADS, 0, st>>>(dst, ws, blocks, cols);
    LEAP_CUDA_LAUNCH_CHECK();
  }
}

typedef enum binary_op { BINARY_ADD, BINARY_MUL, BINARY_MUL_ACC } binary_op;

/* out[i] = a[i] + b[i % nb], a[i] * b[i % nb], or out[i] += a[i] * b[i % nb]: one thread per element, grid-stride.
 * out may be a (in-place): each element is read before it is written, by the same thread. */
template <binary_op OP, typename T, typename TB>
__global__ void binary_kernel(T *out, const T *a, const TB *b, int64_t n, int64_t nb) {
  GRID_STRIDE(i, n) {
    float av = leap_load(a, (size_t)i), bv = leap_load(b, (size_t)(nb == n ? i : i % nb));
    if (OP == BINARY_ADD) leap_store(out, (size_t)i, av + bv);
    if (OP == BINARY_MUL) leap_store(out, (size_t)i, av * bv);
    if (OP == BINARY_MUL_ACC) leap_store(out, (size_t)i, leap_load(out, (size_t)i) + av * bv);
  }
}

/* out[i] = alpha * a[i] (acc false) or out[i] += alpha * a[i] (acc true), or out[i] = a[i] + s (shift). */
template <typename T>
__global__ void scale_kernel(T *out, const T *a, float alpha, float shift, bool acc, int64_t n) {
  GRID_STRIDE(i, n) {
    float v = alpha == 1.0f ? leap_load(a, (size_t)i) : alpha * leap_load(a, (size_t)i);
    if (acc)
      leap_store(out, (size_t)i, leap_load(out, (size_t)i) + v);
    else
      leap_store(out, (size_t)i, shift == 0.0f ? v : v + shift);
  }
}

/* dst[i] = src[i] converted (round to nearest even into bf16): one thread per element, grid-stride. */
template <typename TD, typename TS>
__global__ void cast_kernel(TD *dst, const TS *src, int64_t n) {
  GRID_STRIDE(i, n) leap_store(dst, (size_t)i, leap_load(src, (size_t)i));
}

template <binary_op OP>
static void binary(void *out, const void *a, const void *b, int64_t n, int64_t nb, leap_dtype act, leap_dtype bt,
                   cudaStream_t st) {
  if (n <= 0 || nb <= 0) return;
  LEAP_DISPATCH_ACT(act, T, LEAP_DISPATCH_ACT(bt, TB, {
                      binary_kernel<OP, T, TB>
                          <<<flat_blocks(n), FLAT_THREADS, 0, st>>>((T *)out, (const T *)a, (const TB *)b, n, nb);
                      LEAP_CUDA_LAUNCH_CHECK();
                    }));
}

static void scale(void *out, const void *a, float alpha, float shift, bool acc, int64_t n, leap_dtype act,
                  cudaStream_t st) {
  if (n <= 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    scale_kernel<T><<<flat_blocks(n), FLAT_THREADS, 0, st>>>((T *)out, (const T *)a, alpha, shift, acc, n);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

LEAP_EXTERN_C_BEGIN

size_t leap_sum_rows_workspace_floats_cuda(int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return 0;
  int64_t per = rows_per_block(rows), blocks = (rows + per - 1) / per;
  return blocks > 1 ? (size_t)(blocks * cols) : 0;
}

void leap_sum_rows_cuda(void *dst, leap_dtype dst_dtype, float *workspace, const void *x, const void *y, int64_t rows,
                        int64_t cols, leap_dtype act, leap_cuda_stream stream) {
  if (rows <= 0 || cols <= 0) return;
  LEAP_DISPATCH_ACT(act, T, LEAP_DISPATCH_ACT(dst_dtype, TD, {
                      sum_rows<T, TD>((TD *)dst, workspace, (const T *)x, (const T *)y, rows, cols,
                                      (cudaStream_t)stream);
                    }));
}

void leap_add_forward_cuda(void *out, const void *a, const void *b, int64_t n, int64_t nb, leap_dtype act,
                           leap_dtype b_dtype, leap_cuda_stream stream) {
  binary<BINARY_ADD>(out, a, b, n, nb, act, b_dtype, (cudaStream_t)stream);
}

void leap_add_backward_cuda(void *da, void *db, float *workspace, const void *dout, int64_t n, int64_t nb,
                            leap_dtype act, leap_dtype b_dtype, leap_cuda_stream stream) {
  if (n <= 0 || nb <= 0) return;
  if (da) scale(da, dout, 1.0f, 0.0f, true, n, act, (cudaStream_t)stream);
  if (db) leap_sum_rows_cuda(db, b_dtype, workspace, dout, NULL, n / nb, nb, act, stream);
}

void leap_mul_forward_cuda(void *out, const void *a, const void *b, int64_t n, int64_t nb, leap_dtype act,
                           leap_dtype b_dtype, leap_cuda_stream stream) {
  binary<BINARY_MUL>(out, a, b, n, nb, act, b_dtype, (cudaStream_t)stream);
}

void leap_mul_backward_cuda(void *da, void *db, float *workspace, const void *dout, const void *a, const void *b,
                            int64_t n, int64_t nb, leap_dtype act, leap_dtype b_dtype, leap_cuda_stream stream) {
  if (n <= 0 || nb <= 0) return;
  if (da) binary<BINARY_MUL_ACC>(da, dout, b, n, nb, act, b_dtype, (cudaStream_t)stream);
  if (db) leap_sum_rows_cuda(db, b_dtype, workspace, dout, a, n / nb, nb, act, stream);
}

void leap_scale_forward_cuda(void *out, const void *a, float alpha, int64_t n, leap_dtype act,
                             leap_cuda_stream stream) {
  scale(out, a, alpha, 0.0f, false, n, act, (cudaStream_t)stream);
}

void leap_scale_backward_cuda(void *da, const void *dout, float alpha, int64_t n, leap_dtype act,
                              leap_cuda_stream stream) {
  scale(da, dout, alpha, 0.0f, true, n, act, (cudaStream_t)stream);
}

void leap_add_scalar_forward_cuda(void *out, const void *a, float s, int64_t n, leap_dtype act,
                                  leap_cuda_stream stream) {
  scale(out, a, 1.0f, s, false, n, act, (cudaStream_t)stream);
}

void leap_cast_cuda(void *dst, leap_dtype dst_dtype, const void *src, leap_dtype src_dtype, int64_t n,
                    leap_cuda_stream stream) {
  if (n <= 0) return;
  cudaStream_t st = (cudaStream_t)stream;
  LEAP_DISPATCH_ACT(dst_dtype, TD, LEAP_DISPATCH_ACT(src_dtype, TS, {
                      cast_kernel<TD, TS><<<flat_blocks(n), FLAT_THREADS, 0, st>>>((TD *)dst, (const TS *)src, n);
                      LEAP_CUDA_LAUNCH_CHECK();
                    }));
}

LEAP_EXTERN_C_END
