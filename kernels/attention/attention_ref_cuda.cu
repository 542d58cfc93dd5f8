/* The REFERENCE attention on CUDA: exactly the op of attention_cpu.c (strided (B,T,H,D) q/k/v/out with row strides,
 * bottom-right aligned causal mask, cross-attention Tq != Tk, key_len padding, lse saved), fp32 or bf16 inputs with
 * fp32 arithmetic. Simple, correct and deterministic, not fast: the flash kernels (attention_cuda.cu and the files
 * it dispatches to) are what the engine runs; this path is what they are tested against on the device, for the
 * shapes whose CPU reference would take too long, and what leap_attention_use_reference() selects in the op layer.
 *
 * Parallelisation: one warp per row, ATTN_WARPS rows per block. Lane l holds elements l, l+32, ... of a head's D
 * (NCH = ceil(D/32) rounded up to 2, 4 or 8 of them, so D <= ATTN_MAX_D); a dot product is the lanes' partial sums
 * added by leap_warp_sum, which every lane receives.
 *   forward   a warp per query row walks the keys the row sees in order with the online softmax (running maximum m,
 *             running sum l, output accumulator rescaled when m grows), then writes out = acc / l and
 *             lse = m + log l. A row that sees no key gets out = 0 and lse = -INFINITY, as on the CPU.
 *   backward  first D_i = rowsum(dO_i * O_i) per query row into the workspace; then a warp per query row computes
 *             dQ_i += scale * sum_j dS_ij k_j over its visible keys, and a warp per key row computes
 *             dV_j += sum_i P_ij dO_i and dK_j += scale * sum_i dS_ij q_i over the queries that see it, with
 *             P_ij = exp(scale q_i.k_j - lse_i) recomputed and dS_ij = P_ij (dO_i.v_j - D_i).
 * Every output element is written by one warp, which adds its terms in index order: no atomics, bit-identical
 * results from run to run. The probabilities are computed twice in backward (once per side), the price of
 * having no cross-row reduction. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/attention/attention.h"
#include "kernels/common/cuda_common.cuh"

/* Everything up to the C entry points is private to this file: the flash kernels' files use some of the same
 * names, and template kernels would otherwise merge across files at link time. */
namespace {

/* Rows (warps) per block, and the largest head size (8 elements per lane). */
#define ATTN_WARPS 4
#define ATTN_THREADS (ATTN_WARPS * LEAP_CUDA_WARP)
#define ATTN_MAX_D (8 * LEAP_CUDA_WARP)

/* Keys batch b exposes: Tk, cut to key_len[b] when given. */
__device__ __forceinline__ int64_t key_limit(const leap_attention_shape &s, const int32_t *key_len, int64_t b) {
  if (!key_len) return s.Tk;
  int64_t n = key_len[b];
  return n < 0 ? 0 : (n > s.Tk ? s.Tk : n);
}

/* Number of leading keys query i sees. */
__device__ __forceinline__ int64_t visible_keys(const leap_attention_shape &s, int64_t klim, int64_t i) {
  if (!s.causal) return klim;
  int64_t n = i + (s.Tk - s.Tq) + 1;
  return n < 0 ? 0 : (n > klim ? klim : n);
}

/* This lane's elements of a head row (zero past D). */
template <typename T, int NCH>
__device__ __forceinline__ void load_row(float (&x)[NCH], const T *p, int64_t D, int lane) {
#pragma unroll
  for (int t = 0; t < NCH; t++) {
    int64_t d = lane + t * LEAP_CUDA_WARP;
    x[t] = d < D ? leap_load(p, d) : 0.0f;
  }
}

/* This lane's part of the dot product of x with a head row. */
template <typename T, int NCH>
__device__ __forceinline__ float dot_part(const float (&x)[NCH], const T *p, int64_t D, int lane) {
  float acc = 0.0f;
#pragma unroll
  for (int t = 0; t < NCH; t++) {
    int64_t d = lane + t * LEAP_CUDA_WARP;
    if (d < D) acc += x[t] * leap_load(p, d);
  }
  return acc;
}

/* p[d] += f * x[d] over this lane's elements (p an activation row of type T). */
template <typename T, int NCH>
__device__ __forceinline__ void add_row(T *p, const float (&x)[NCH], float f, int64_t D, int lane) {
#pragma unroll
  for (int t = 0; t < NCH; t++) {
    int64_t d = lane + t * LEAP_CUDA_WARP;
    if (d < D) leap_store(p, d, leap_load(p, d) + f * x[t]);
  }
}

/* The warp's row index over `rows`, or -1 past the end (the same for the whole warp). */
__device__ __forceinline__ int64_t warp_row(int64_t rows) {
  int64_t r = (int64_t)blockIdx.x * ATTN_WARPS + threadIdx.x / LEAP_CUDA_WARP;
  return r < rows ? r : -1;
}

/* Offset of token t, head h of batch b in a (B,T,H,D) tensor with row stride ld. */
__device__ __forceinline__ int64_t token_offset(const leap_attention_shape &s, int64_t b, int64_t T, int64_t t,
                                                int64_t h, int64_t ld) {
  return (b * T + t) * ld + h * s.D;
}

/* Query row = (b*H + h)*Tq + i: the online-softmax forward of the file comment. */
template <typename T, int NCH>
__global__ void __launch_bounds__(ATTN_THREADS)
    attn_forward_kernel(T *out, float *lse, const T *q, const T *k, const T *v, const int32_t *key_len,
                        leap_attention_shape s) {
  const int lane = threadIdx.x % LEAP_CUDA_WARP;
  const int64_t row = warp_row(s.B * s.H * s.Tq);
  if (row < 0) return;
  const int64_t i = row % s.Tq, bh = row / s.Tq, h = bh % s.H, b = bh / s.H;
  const int64_t nk = visible_keys(s, key_limit(s, key_len, b), i);
  float qv[NCH], acc[NCH];
  load_row(qv, q + token_offset(s, b, s.Tq, i, h, s.ldq), s.D, lane);
#pragma unroll
  for (int t = 0; t < NCH; t++) acc[t] = 0.0f;
  const T *k0 = k + token_offset(s, b, s.Tk, 0, h, s.ldk), *v0 = v + token_offset(s, b, s.Tk, 0, h, s.ldv);
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = 0; j < nk; j++) {
    float score = leap_warp_sum(dot_part(qv, k0 + j * s.ldk, s.D, lane)) * s.scale;
    float m_new = fmaxf(m, score);
    float corr = expf(m - m_new), p = expf(score - m_new);
    l = l * corr + p;
    const T *vj = v0 + j * s.ldv;
#pragma unroll
    for (int t = 0; t < NCH; t++) {
      int64_t d = lane + t * LEAP_CUDA_WARP;
      acc[t] = acc[t] * corr + (d < s.D ? p * leap_load(vj, d) : 0.0f);
    }
    m = m_new;
  }
  T *o = out + token_offset(s, b, s.Tq, i, h, s.ldo);
  const float inv = nk > 0 ? 1.0f / l : 0.0f;
#pragma unroll
  for (int t = 0; t < NCH; t++) {
    int64_t d = lane + t * LEAP_CUDA_WARP;
    if (d < s.D) leap_store(o, d, acc[t] * inv);
  }
  if (lane == 0) lse[row] = nk > 0 ? m + logf(l) : -INFINITY;
}

/* Dvec[row] = dO_i . O_i for query row = (b*H + h)*Tq + i. */
template <typename T, int NCH>
__global__ void __launch_bounds__(ATTN_THREADS)
    attn_row_dot_kernel(float *Dvec, const T *dout, const T *out, leap_attention_shape s) {
  const int lane = threadIdx.x % LEAP_CUDA_WARP;
  const int64_t row = warp_row(s.B * s.H * s.Tq);
  if (row < 0) return;
  const int64_t i = row % s.Tq, bh = row / s.Tq, h = bh % s.H, b = bh / s.H;
  float g[NCH];
  load_row(g, dout + token_offset(s, b, s.Tq, i, h, s.ldo), s.D, lane);
  float d = leap_warp_sum(dot_part(g, out + token_offset(s, b, s.Tq, i, h, s.ldo), s.D, lane));
  if (lane == 0) Dvec[row] = d;
}

/* dQ_i += scale * sum over visible keys j of dS_ij k_j, for query row = (b*H + h)*Tq + i. */
template <typename T, int NCH>
__global__ void __launch_bounds__(ATTN_THREADS)
    attn_dq_kernel(T *dq, const T *dout, const T *q, const T *k, const T *v, const float *lse, const float *Dvec,
                   const int32_t *key_len, leap_attention_shape s) {
  const int lane = threadIdx.x % LEAP_CUDA_WARP;
  const int64_t row = warp_row(s.B * s.H * s.Tq);
  if (row < 0) return;
  const int64_t i = row % s.Tq, bh = row / s.Tq, h = bh % s.H, b = bh / s.H;
  const int64_t nk = visible_keys(s, key_limit(s, key_len, b), i);
  if (nk == 0) return;
  float qv[NCH], g[NCH], acc[NCH];
  load_row(qv, q + token_offset(s, b, s.Tq, i, h, s.ldq), s.D, lane);
  load_row(g, dout + token_offset(s, b, s.Tq, i, h, s.ldo), s.D, lane);
#pragma unroll
  for (int t = 0; t < NCH; t++) acc[t] = 0.0f;
  const T *k0 = k + token_offset(s, b, s.Tk, 0, h, s.ldk), *v0 = v + token_offset(s, b, s.Tk, 0, h, s.ldv);
  const float L = lse[row], Di = Dvec[row];
  for (int64_t j = 0; j < nk; j++) {
    const T *kj = k0 + j * s.ldk;
    float score = leap_warp_sum(dot_part(qv, kj, s.D, lane)) * s.scale;
    float dp = leap_warp_sum(dot_part(g, v0 + j * s.ldv, s.D, lane));
    float ds = expf(score - L) * (dp - Di);
#pragma unroll
    for (int t = 0; t < NCH; t++) {
      int64_t d = lane + t * LEAP_CUDA_WARP;
      if (d < s.D) acc[t] += ds * leap_load(kj, d);
    }
  }
  add_row(dq + token_offset(s, b, s.Tq, i, h, s.ldq), acc, s.scale, s.D, lane);
}

/* dV_j += sum_i P_ij dO_i and dK_j += scale * sum_i dS_ij q_i over the queries i that see key j, for key
 * row = (b*H + h)*Tk + j. Either of dk, dv may be NULL. */
template <typename T, int NCH>
__global__ void __launch_bounds__(ATTN_THREADS)
    attn_dkv_kernel(T *dk, T *dv, const T *dout, const T *q, const T *k, const T *v, const float *lse,
                    const float *Dvec, const int32_t *key_len, leap_attention_shape s) {
  const int lane = threadIdx.x % LEAP_CUDA_WARP;
  const int64_t row = warp_row(s.B * s.H * s.Tk);
  if (row < 0) return;
  const int64_t j = row % s.Tk, bh = row / s.Tk, h = bh % s.H, b = bh / s.H;
  if (j >= key_limit(s, key_len, b)) return;
  /* Query i sees key j iff j <= i + (Tk - Tq) under the causal mask. */
  int64_t i0 = s.causal ? j - (s.Tk - s.Tq) : 0;
  if (i0 < 0) i0 = 0;
  float kv[NCH], vv[NCH], acc_k[NCH], acc_v[NCH];
  load_row(kv, k + token_offset(s, b, s.Tk, j, h, s.ldk), s.D, lane);
  load_row(vv, v + token_offset(s, b, s.Tk, j, h, s.ldv), s.D, lane);
#pragma unroll
  for (int t = 0; t < NCH; t++) acc_k[t] = 0.0f, acc_v[t] = 0.0f;
  for (int64_t i = i0; i < s.Tq; i++) {
    const T *qi = q + token_offset(s, b, s.Tq, i, h, s.ldq), *gi = dout + token_offset(s, b, s.Tq, i, h, s.ldo);
    float score = leap_warp_sum(dot_part(kv, qi, s.D, lane)) * s.scale;
    float dp = leap_warp_sum(dot_part(vv, gi, s.D, lane));
    float p = expf(score - lse[bh * s.Tq + i]);
    float ds = p * (dp - Dvec[bh * s.Tq + i]);
#pragma unroll
    for (int t = 0; t < NCH; t++) {
      int64_t d = lane + t * LEAP_CUDA_WARP;
      if (d < s.D) {
        acc_v[t] += p * leap_load(gi, d);
        acc_k[t] += ds * leap_load(qi, d);
      }
    }
  }
  if (dv) add_row(dv + token_offset(s, b, s.Tk, j, h, s.ldv), acc_v, 1.0f, s.D, lane);
  if (dk) add_row(dk + token_offset(s, b, s.Tk, j, h, s.ldk), acc_k, s.scale, s.D, lane);
}

static unsigned warp_blocks(int64_t rows) { return (unsigned)((rows + ATTN_WARPS - 1) / ATTN_WARPS); }

/* Runs the statement with NCH, the elements per lane that head size D needs, as a compile-time constant. */
#define ATTN_DISPATCH_NCH(D, NCH, ...)                                                                   \
  do {                                                                                                   \
    if ((D) <= 2 * LEAP_CUDA_WARP) {                                                                     \
      constexpr int NCH = 2;                                                                             \
      __VA_ARGS__;                                                                                       \
    } else if ((D) <= 4 * LEAP_CUDA_WARP) {                                                              \
      constexpr int NCH = 4;                                                                             \
      __VA_ARGS__;                                                                                       \
    } else {                                                                                             \
      constexpr int NCH = 8;                                                                             \
      __VA_ARGS__;                                                                                       \
    }                                                                                                    \
  } while (0)

static void check_head_size(const leap_attention_shape *s) {
  if (s->D < 1 || s->D > ATTN_MAX_D) {
    fprintf(stderr, "leap: fatal at %s:%d: attention head size %lld outside 1..%d\n", __FILE__, __LINE__,
            (long long)s->D, ATTN_MAX_D);
    abort();
  }
}

template <typename T, int NCH>
static void forward(void *out, float *lse, const void *q, const void *k, const void *v, const int32_t *key_len,
                    const leap_attention_shape *s, cudaStream_t stream) {
  attn_forward_kernel<T, NCH><<<warp_blocks(s->B * s->H * s->Tq), ATTN_THREADS, 0, stream>>>(
      static_cast<T *>(out), lse, static_cast<const T *>(q), static_cast<const T *>(k), static_cast<const T *>(v),
      key_len, *s);
  LEAP_CUDA_LAUNCH_CHECK();
}

template <typename T, int NCH>
static void backward(void *dq, void *dk, void *dv, const void *dout, const void *q, const void *k, const void *v,
                     const void *out, const float *lse, const int32_t *key_len, const leap_attention_shape *s,
                     float *workspace, cudaStream_t stream) {
  const T *g = static_cast<const T *>(dout), *qq = static_cast<const T *>(q), *kk = static_cast<const T *>(k);
  const T *vv = static_cast<const T *>(v);
  const int64_t qrows = s->B * s->H * s->Tq, krows = s->B * s->H * s->Tk;
  attn_row_dot_kernel<T, NCH><<<warp_blocks(qrows), ATTN_THREADS, 0, stream>>>(workspace, g,
                                                                               static_cast<const T *>(out), *s);
  LEAP_CUDA_LAUNCH_CHECK();
  if (dq) {
    attn_dq_kernel<T, NCH><<<warp_blocks(qrows), ATTN_THREADS, 0, stream>>>(static_cast<T *>(dq), g, qq, kk, vv, lse,
                                                                            workspace, key_len, *s);
    LEAP_CUDA_LAUNCH_CHECK();
  }
  if ((dk || dv) && krows > 0) {
    attn_dkv_kernel<T, NCH><<<warp_blocks(krows), ATTN_THREADS, 0, stream>>>(
        static_cast<T *>(dk), static_cast<T *>(dv), g, qq, kk, vv, lse, workspace, key_len, *s);
    LEAP_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace

LEAP_EXTERN_C_BEGIN

size_t leap_attention_workspace_floats_ref_cuda(const leap_attention_shape *s) {
  int64_t n = s->B * s->H * s->Tq;
  return (size_t)(n > 0 ? n : 0);
}

void leap_attention_forward_ref_cuda(void *out, float *lse, const void *q, const void *k, const void *v,
                                     const int32_t *key_len, const leap_attention_shape *s, leap_dtype act,
                                     leap_cuda_stream stream) {
  if (s->B <= 0 || s->H <= 0 || s->Tq <= 0) return;
  check_head_size(s);
  LEAP_DISPATCH_ACT(act, T, ATTN_DISPATCH_NCH(s->D, NCH, forward<T, NCH>(out, lse, q, k, v, key_len, s, stream)));
}

void leap_attention_backward_ref_cuda(void *dq, void *dk, void *dv, const void *dout, const void *q,
                                      const void *k, const void *v, const void *out, const float *lse,
                                      const int32_t *key_len, const leap_attention_shape *s, float *workspace,
                                      leap_dtype act, leap_cuda_stream stream) {
  if ((!dq && !dk && !dv) || s->B <= 0 || s->H <= 0 || s->Tq <= 0) return;
  check_head_size(s);
  LEAP_DISPATCH_ACT(act, T,
                    ATTN_DISPATCH_NCH(s->D, NCH,
                                      backward<T, NCH>(dq, dk, dv, dout, q, k, v, out, lse, key_len, s, workspace,
                                                       stream)));
}

LEAP_EXTERN_C_END
