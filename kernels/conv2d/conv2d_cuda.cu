/* conv2d on CUDA: implicit-GEMM kernels for forward, backward-data and backward-filter over NHWC, bf16 operands on
 * the tensor cores (mma.sync m16n8k16, fp32 accumulation), and the same tiling with fp32 FMAs in fp32 mode.
 *
 * Algorithm. Each pass is one matrix product C (M,Ng) = A (M,Kg) x B (Kg,Ng) whose operands are gathered straight
 * from the tensors (no im2col buffer): forward M = N*P*Q, Ng = K, Kg = R*S*C; backward-data M = N*H*W, Ng = C,
 * Kg = R*S*K (strides by predicated gathers: a tap that no output pixel reads contributes zero); backward-filter
 * M = K, Ng = R*S*C, Kg = N*P*Q. conv2d_tiles.h defines every index (the operands' decoding, the shared-memory
 * layouts and swizzle, the loader slots, the ldmatrix addresses and the mma fragments) and says how each maps; the
 * host test tests/kernels/conv2d/test_conv2d_tiles.c runs those functions through these same loops on the CPU.
 *
 * Tiling. A block of LEAP_CONV_THREADS = 128 threads (2 x 2 warps) computes a 128 x 64 tile of C; each warp a 64 x 32
 * warp tile as 4 x 4 mma tiles of 16 x 8, 64 fp32 accumulators per thread. The reduction runs in stages of
 * BK = 32 (bf16) or 16 (fp32) indices; LEAP_CONV_STAGES = 3 stages of both operands' tiles are in shared memory at
 * once (36 KB in either precision), filled by cp.async two stages ahead of the one being multiplied:
 *
 *   prologue: stages 0, 1 in flight
 *   step t:   wait for stage t; barrier; start stage t + 2 (into the buffer step t - 1 read); multiply stage t
 *
 * Loading. Each thread fills fixed chunk slots of each tile (leap_conv_slot): 16 bytes, 8 bf16 or 4 floats, along
 * the operand's contiguous channel dim. When C and K are multiples of the chunk and the tensors 16-byte aligned
 * (leap_conv_vector_ok), a chunk is one cp.async (zero-filled in the padding); otherwise (C = 3, odd K, or the fp32
 * master weight read in bf16 mode) each element is gathered, converted and stored on its own, through the same
 * pipeline. The operand rows a thread loads are decoded once per block, the reduction index once per stage.
 *
 * Multiplying (bf16). Per k16 step a warp loads its four A fragments with ldmatrix.x4 (.trans for MN-major tiles)
 * and two pairs of B fragments with ldmatrix.x4, then issues 16 mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32.
 * Fragment layouts (g = lane / 4, t = lane % 4): A reg j holds rows g + 8 (j & 1), columns 2t + 8 (j >> 1) + {0,1};
 * B reg j holds rows 2t + 8 j + {0,1} of column g; accumulator e holds row g + 8 (e >> 1), column 2t + (e & 1).
 * In fp32 mode each lane computes the same accumulator elements with FMAs from shared memory, in reduction order.
 *
 * Epilogue. Each accumulator goes to its C element: forward adds the bias (and clamps at 0 for the fused ReLU) and
 * stores the activation; backward-data adds into dinp; backward-filter adds into dweight, or, when its reduction is
 * split into slices (leap_conv_wgrad_splits, a function of the shape), writes the slice's partial to the workspace,
 * and a second kernel adds the slices into dweight in slice order. The bias gradient is a fixed-order column sum of
 * dout (conv2d_reduce.cuh). No atomics: results are bit-identical from run to run. */
#include <cuda_bf16.h>
#include <stdint.h>
#include <stdio.h>

#include <type_traits>

#include "kernels/common/cuda_common.cuh"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_mma.cuh"
#include "kernels/conv2d/conv2d_reduce.cuh"
#include "kernels/conv2d/conv2d_tiles.h"

typedef __nv_bfloat16 bf16;

/* Depth of a stage and elements per 16-byte chunk, by the shared-memory element type. */
template <typename E>
struct conv_stage;
template <>
struct conv_stage<bf16> {
  static constexpr int BK = LEAP_CONV_BK_BF16, CH = LEAP_CONV_CH_BF16;
};
template <>
struct conv_stage<float> {
  static constexpr int BK = LEAP_CONV_BK_F32, CH = LEAP_CONV_CH_F32;
};

static_assert(LEAP_CONV_STAGES >= 2, "the pipeline overlaps loading a stage with multiplying another");
static_assert(LEAP_CONV_STAGES * (LEAP_CONV_BM + LEAP_CONV_BN) * LEAP_CONV_BK_BF16 * sizeof(bf16) <= 48 * 1024,
              "the stages fit the static shared memory of a block");
static_assert(LEAP_CONV_THREADS == 128 && LEAP_CONV_MI == 4 && LEAP_CONV_NI == 4,
              "the header comment describes 2 x 2 warps of 4 x 4 mma tiles");
/* Threads per block of the element-wise ReLU mask. */
#define CONV_MASK_THREADS 256

/* What one launch computes: the pass's GEMM sizes, its operands' and result's tensors, its epilogue. */
struct conv_params {
  leap_conv_geom g;
  int32_t M, N, Kg;   /* GEMM sizes */
  int32_t slice;      /* reduction indices per blockIdx.z */
  const void *a, *b;  /* A's and B's tensors */
  void *c;            /* out (act), dinp (act), dweight (f32) or the backward-filter partials (f32) */
  const float *bias;  /* forward: (K) or NULL */
  bool relu;          /* forward: clamp at 0 */
  bool partial;       /* backward-filter: c holds one plane of M*N partials per slice */
};

template <typename E>
__device__ __forceinline__ E conv_elem(float v);
template <>
__device__ __forceinline__ bf16 conv_elem<bf16>(float v) {
  return __float2bfloat16(v);
}
template <>
__device__ __forceinline__ float conv_elem<float>(float v) {
  return v;
}

/* One operand's loader for one thread: the rows it decoded once, and how it fills a stage. TS is the tensor's
 * element type, E the tile's. */
template <int PASS, int OP, typename E, typename TS, bool VEC>
struct conv_operand {
  static constexpr bool KMAJOR = leap_conv_kmajor(PASS, OP);
  static constexpr int BK = conv_stage<E>::BK, CH = conv_stage<E>::CH;
  static constexpr int CPR = leap_conv_cpr(PASS, OP, BK, CH);
  static constexpr int SLOTS = leap_conv_slots(OP, BK, CH);
  static_assert(LEAP_CONV_THREADS % CPR == 0, "a thread's slots share one chunk column");
  static_assert(!VEC || std::is_same<E, TS>::value, "cp.async copies the tensor's elements unconverted");

  /* K-major: the operand row of each slot; MN-major: the first operand row of the thread's chunk column. */
  leap_conv_ix rows[KMAJOR ? SLOTS : 1];
  int32_t row0, extent;

  __device__ __forceinline__ void init(const conv_params &p, int32_t tile_row0) {
    row0 = tile_row0;
    extent = OP == LEAP_CONV_A ? p.M : p.N;
#pragma unroll
    for (int s = 0; s < (KMAJOR ? SLOTS : 1); s++) {
      int srow, chunk;
      int32_t row, kk;
      leap_conv_slot(threadIdx.x, s, CPR, &srow, &chunk);
      leap_conv_stored_element(KMAJOR, srow, chunk * CH, row0, 0, &row, &kk);
      rows[s] = leap_conv_decode_row(&p.g, PASS, OP, row, extent);
    }
  }

  /* Fills one stage's tile with reduction indices [k0, k0 + BK); indices from k_end on read as zero. */
  __device__ __forceinline__ void load(E *tile, const TS *src, const conv_params &p, int32_t k0, int32_t k_end) const {
#pragma unroll
    for (int s = 0; s < SLOTS; s++) {
      int srow, chunk;
      leap_conv_slot(threadIdx.x, s, CPR, &srow, &chunk);
      E *dst = tile + leap_conv_smem_index(srow, chunk * CH, CPR, CH);
      if constexpr (VEC) {
        int32_t row, kk;
        leap_conv_stored_element(KMAJOR, srow, chunk * CH, row0, k0, &row, &kk);
        leap_conv_ix kd = leap_conv_decode_k(&p.g, PASS, OP, kk, k_end);
        int64_t off = leap_conv_offset(&p.g, PASS, OP, rows[KMAJOR ? s : 0], kd);
        leap_conv_cp_async16(dst, off >= 0 ? src + off : src, off >= 0);
      } else {
#pragma unroll
        for (int e = 0; e < CH; e++) {
          int32_t row, kk;
          leap_conv_stored_element(KMAJOR, srow, chunk * CH + e, row0, k0, &row, &kk);
          leap_conv_ix rd = KMAJOR ? rows[s] : leap_conv_decode_row(&p.g, PASS, OP, row, extent);
          int64_t off = leap_conv_offset(&p.g, PASS, OP, rd, leap_conv_decode_k(&p.g, PASS, OP, kk, k_end));
          dst[e] = conv_elem<E>(off >= 0 ? leap_load(src, (size_t)off) : 0.0f);
        }
      }
    }
  }
};

typedef float conv_acc[LEAP_CONV_MI][LEAP_CONV_NI][4];

/* acc += the warp's share of one bf16 stage, on the tensor cores. */
template <int PASS>
__device__ __forceinline__ void conv_multiply(conv_acc &acc, const bf16 *As, const bf16 *Bs, int lane, int wm0,
                                              int wn0) {
  constexpr bool KA = leap_conv_kmajor(PASS, LEAP_CONV_A), KB = leap_conv_kmajor(PASS, LEAP_CONV_B);
  constexpr int BK = conv_stage<bf16>::BK, CH = conv_stage<bf16>::CH;
  constexpr int CPRA = leap_conv_cpr(PASS, LEAP_CONV_A, BK, CH), CPRB = leap_conv_cpr(PASS, LEAP_CONV_B, BK, CH);
#pragma unroll
  for (int ks = 0; ks < BK; ks += LEAP_CONV_MMA_K) {
    uint32_t af[LEAP_CONV_MI][4], bfr[LEAP_CONV_NI][2];
#pragma unroll
    for (int mi = 0; mi < LEAP_CONV_MI; mi++) {
      int sr, sc;
      leap_conv_ldsm_a(lane, KA, wm0 + mi * LEAP_CONV_MMA_M, ks, &sr, &sc);
      leap_conv_ldmatrix_x4<!KA>(af[mi], As + leap_conv_smem_index(sr, sc, CPRA, CH));
    }
#pragma unroll
    for (int nj = 0; nj < LEAP_CONV_NI / 2; nj++) {
      int sr, sc;
      uint32_t r[4];
      leap_conv_ldsm_b(lane, KB, wn0 + nj * 2 * LEAP_CONV_MMA_N, ks, &sr, &sc);
      leap_conv_ldmatrix_x4<!KB>(r, Bs + leap_conv_smem_index(sr, sc, CPRB, CH));
      bfr[2 * nj][0] = r[0], bfr[2 * nj][1] = r[1], bfr[2 * nj + 1][0] = r[2], bfr[2 * nj + 1][1] = r[3];
    }
#pragma unroll
    for (int mi = 0; mi < LEAP_CONV_MI; mi++)
#pragma unroll
      for (int ni = 0; ni < LEAP_CONV_NI; ni++) leap_conv_mma_bf16(acc[mi][ni], af[mi], bfr[ni][0], bfr[ni][1]);
  }
}

/* acc += the warp's share of one fp32 stage: each lane computes its accumulator elements (the mma C fragment's)
 * with FMAs in reduction order. */
template <int PASS>
__device__ __forceinline__ void conv_multiply(conv_acc &acc, const float *As, const float *Bs, int lane, int wm0,
                                              int wn0) {
  constexpr bool KA = leap_conv_kmajor(PASS, LEAP_CONV_A), KB = leap_conv_kmajor(PASS, LEAP_CONV_B);
  constexpr int BK = conv_stage<float>::BK, CH = conv_stage<float>::CH;
  constexpr int CPRA = leap_conv_cpr(PASS, LEAP_CONV_A, BK, CH), CPRB = leap_conv_cpr(PASS, LEAP_CONV_B, BK, CH);
#pragma unroll 4
  for (int kk = 0; kk < BK; kk++) {
    float a[LEAP_CONV_MI][2], b[LEAP_CONV_NI][2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
      int r, c;
      leap_conv_frag_c(lane, 2 * h, &r, &c);
#pragma unroll
      for (int mi = 0; mi < LEAP_CONV_MI; mi++) {
        int row = wm0 + mi * LEAP_CONV_MMA_M + r;
        a[mi][h] = As[KA ? leap_conv_smem_index(row, kk, CPRA, CH) : leap_conv_smem_index(kk, row, CPRA, CH)];
      }
      leap_conv_frag_c(lane, h, &r, &c);
#pragma unroll
      for (int ni = 0; ni < LEAP_CONV_NI; ni++) {
        int col = wn0 + ni * LEAP_CONV_MMA_N + c;
        b[ni][h] = Bs[KB ? leap_conv_smem_index(col, kk, CPRB, CH) : leap_conv_smem_index(kk, col, CPRB, CH)];
      }
    }
#pragma unroll
    for (int mi = 0; mi < LEAP_CONV_MI; mi++)
#pragma unroll
      for (int ni = 0; ni < LEAP_CONV_NI; ni++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[mi][ni][e] = fmaf(a[mi][e >> 1], b[ni][e & 1], acc[mi][ni][e]);
  }
}

/* Each accumulator into its C element, through the pass's epilogue. */
template <int PASS, typename E>
__device__ __forceinline__ void conv_epilogue(const conv_params &p, const conv_acc &acc, int lane, int32_t m0,
                                              int32_t n0) {
#pragma unroll
  for (int mi = 0; mi < LEAP_CONV_MI; mi++)
#pragma unroll
    for (int ni = 0; ni < LEAP_CONV_NI; ni++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int r, c;
        leap_conv_frag_c(lane, e, &r, &c);
        int32_t row = m0 + mi * LEAP_CONV_MMA_M + r, col = n0 + ni * LEAP_CONV_MMA_N + c;
        if (row >= p.M || col >= p.N) continue;
        size_t i = (size_t)row * (size_t)p.N + (size_t)col;
        float v = acc[mi][ni][e];
        if constexpr (PASS == LEAP_CONV_FWD) {
          if (p.bias) v += p.bias[col];
          if (p.relu) v = v < 0.0f ? 0.0f : v;
          leap_store(static_cast<E *>(p.c), i, v);
        } else if constexpr (PASS == LEAP_CONV_DGRAD) {
          E *d = static_cast<E *>(p.c);
          leap_store(d, i, leap_load(d, i) + v);
        } else if (p.partial) {
          static_cast<float *>(p.c)[(size_t)blockIdx.z * (size_t)p.M * (size_t)p.N + i] = v;
        } else {
          static_cast<float *>(p.c)[i] += v;
        }
      }
}

/* One block tile of one pass: blockIdx.x the M tile, blockIdx.y the Ng tile, blockIdx.z the reduction slice. A's
 * tensor holds activations (E); B's is the weight (TB: bf16, or fp32 converted on the way in bf16 mode) or the
 * input. VEC: every chunk is one cp.async. */
template <int PASS, typename E, typename TB, bool VEC>
__global__ void __launch_bounds__(LEAP_CONV_THREADS) conv_igemm_kernel(const conv_params p) {
  constexpr int BK = conv_stage<E>::BK;
  constexpr int A_ELEMS = LEAP_CONV_BM * BK, STAGE_ELEMS = (LEAP_CONV_BM + LEAP_CONV_BN) * BK;
  __shared__ __align__(128) unsigned char smem_bytes[LEAP_CONV_STAGES * STAGE_ELEMS * sizeof(E)];
  E *smem = reinterpret_cast<E *>(smem_bytes);
  const int lane = threadIdx.x % LEAP_CONV_WARP_SIZE, warp = threadIdx.x / LEAP_CONV_WARP_SIZE;
  const int32_t m0 = (int32_t)blockIdx.x * LEAP_CONV_BM, n0 = (int32_t)blockIdx.y * LEAP_CONV_BN;
  const int32_t kbeg = (int32_t)blockIdx.z * p.slice;
  const int32_t kend = p.Kg - kbeg < p.slice ? p.Kg : kbeg + p.slice;
  const int ntiles = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;
  const E *asrc = static_cast<const E *>(p.a);
  const TB *bsrc = static_cast<const TB *>(p.b);

  conv_operand<PASS, LEAP_CONV_A, E, E, VEC> la;
  conv_operand<PASS, LEAP_CONV_B, E, TB, VEC> lb;
  la.init(p, m0);
  lb.init(p, n0);
  conv_acc acc;
#pragma unroll
  for (int mi = 0; mi < LEAP_CONV_MI; mi++)
#pragma unroll
    for (int ni = 0; ni < LEAP_CONV_NI; ni++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[mi][ni][e] = 0.0f;

#pragma unroll
  for (int s = 0; s < LEAP_CONV_STAGES - 1; s++) {
    if (s < ntiles) {
      la.load(smem + s * STAGE_ELEMS, asrc, p, kbeg + s * BK, kend);
      lb.load(smem + s * STAGE_ELEMS + A_ELEMS, bsrc, p, kbeg + s * BK, kend);
    }
    leap_conv_cp_async_commit();
  }
  int wm0, wn0;
  leap_conv_warp_origin(warp, &wm0, &wn0);
  for (int t = 0; t < ntiles; t++) {
    /* Stage t has landed for this thread; after the barrier, for every thread, and every warp is done with the
     * buffer of stage t - 1, which the loads for stage t + STAGES - 1 now overwrite. */
    leap_conv_cp_async_wait<LEAP_CONV_STAGES - 2>();
    __syncthreads();
    const int next = t + LEAP_CONV_STAGES - 1;
    if (next < ntiles) {
      E *st = smem + (next % LEAP_CONV_STAGES) * STAGE_ELEMS;
      la.load(st, asrc, p, kbeg + next * BK, kend);
      lb.load(st + A_ELEMS, bsrc, p, kbeg + next * BK, kend);
    }
    leap_conv_cp_async_commit();
    const E *st = smem + (t % LEAP_CONV_STAGES) * STAGE_ELEMS;
    conv_multiply<PASS>(acc, st, st + A_ELEMS, lane, wm0, wn0);
  }
  leap_conv_cp_async_wait<0>();
  conv_epilogue<PASS, E>(p, acc, lane, m0 + wm0, n0 + wn0);
}

/* masked[i] = dout[i] where out[i] > 0, else 0: the gradient through a fused ReLU, from its output. */
template <typename T>
__global__ void conv_relu_mask_kernel(T *masked, const T *dout, const T *out, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    leap_store(masked, (size_t)i, leap_load(out, (size_t)i) > 0.0f ? leap_load(dout, (size_t)i) : 0.0f);
}

static void conv_fail(const char *what, const leap_conv2d_shape *s) {
  fprintf(stderr,
          "leap: fatal: conv2d_cuda: %s (N %lld, H %lld, W %lld, C %lld, K %lld, R %lld, S %lld): the implicit-GEMM "
          "kernels index in 32 bits\n",
          what, (long long)s->N, (long long)s->H, (long long)s->W, (long long)s->C, (long long)s->K, (long long)s->R,
          (long long)s->S);
  abort();
}

/* The shape in 32-bit integers; every GEMM extent must fit too (offsets into the tensors are 64-bit). */
static leap_conv_geom make_geom(const leap_conv2d_shape *s) {
  const int64_t dims[] = {s->N, s->H, s->W, s->C, s->K, s->R, s->S, s->stride_h, s->stride_w, s->pad_h, s->pad_w,
                          s->P, s->Q, s->N * s->P * s->Q, s->N * s->H * s->W, s->R * s->S * s->C, s->R * s->S * s->K,
                          s->H + 2 * s->pad_h, s->W + 2 * s->pad_w};
  for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
    if (dims[i] < 0 || dims[i] > INT32_MAX) conv_fail("a size is out of range", s);
  leap_conv_geom g = {(int32_t)s->N,        (int32_t)s->H,        (int32_t)s->W,     (int32_t)s->C,
                      (int32_t)s->K,        (int32_t)s->R,        (int32_t)s->S,     (int32_t)s->stride_h,
                      (int32_t)s->stride_w, (int32_t)s->pad_h,    (int32_t)s->pad_w, (int32_t)s->P,
                      (int32_t)s->Q};
  return g;
}

static bool aligned16(const void *p) { return ((uintptr_t)p & (LEAP_CONV_CHUNK_BYTES - 1)) == 0; }

/* The pass's parameters with everything but the tensors and the epilogue filled in. */
static conv_params make_params(const leap_conv_geom &g, int pass) {
  conv_params p = {};
  p.g = g;
  p.M = leap_conv_gemm_m(&g, pass);
  p.N = leap_conv_gemm_n(&g, pass);
  p.Kg = leap_conv_gemm_k(&g, pass);
  p.slice = p.Kg;
  return p;
}

template <int PASS, typename E, typename TB>
static void launch(const conv_params &p, int32_t splits, cudaStream_t stream) {
  if (p.M == 0 || p.N == 0) return;
  const int64_t tiles_n = ((int64_t)p.N + LEAP_CONV_BN - 1) / LEAP_CONV_BN;
  if (tiles_n > 65535 || splits > 65535) {
    fprintf(stderr, "leap: fatal: conv2d_cuda: %lld column tiles, %d slices: over the grid's limits\n",
            (long long)tiles_n, (int)splits);
    abort();
  }
  dim3 grid((unsigned)(((int64_t)p.M + LEAP_CONV_BM - 1) / LEAP_CONV_BM), (unsigned)tiles_n, (unsigned)splits);
  if constexpr (std::is_same<E, TB>::value) {
    if (leap_conv_vector_ok(&p.g, PASS, conv_stage<E>::CH) && aligned16(p.a) && aligned16(p.b)) {
      LEAP_LAUNCH(grid, LEAP_CONV_THREADS, 0, stream, conv_igemm_kernel<PASS, E, TB, true>)(p);
      LEAP_CUDA_LAUNCH_CHECK();
      return;
    }
  }
  LEAP_LAUNCH(grid, LEAP_CONV_THREADS, 0, stream, conv_igemm_kernel<PASS, E, TB, false>)(p);
  LEAP_CUDA_LAUNCH_CHECK();
}

/* A pass that reads the weight as B: its bf16 copy in bf16 mode when there is one, else the fp32 weight (converted
 * to bf16 as it is loaded, in bf16 mode). */
template <int PASS, typename E>
static void launch_with_weight(conv_params p, const float *weight, const void *weight_lowp, cudaStream_t stream) {
  if constexpr (std::is_same<E, bf16>::value) {
    if (weight_lowp) {
      p.b = weight_lowp;
      launch<PASS, bf16, bf16>(p, 1, stream);
      return;
    }
  }
  p.b = weight;
  launch<PASS, E, float>(p, 1, stream);
}

/* Floats of backward-filter partials: none when the reduction is not split. */
static int64_t wgrad_partial_floats(const leap_conv_geom &g) {
  int32_t slice;
  int32_t splits = leap_conv_wgrad_splits(&g, &slice);
  return splits > 1 ? (int64_t)splits * g.K * g.R * g.S * g.C : 0;
}

template <typename E>
static void forward(void *out, const void *inp, const float *weight, const void *weight_lowp, const float *bias,
                    bool relu, const leap_conv2d_shape *s, cudaStream_t stream) {
  conv_params p = make_params(make_geom(s), LEAP_CONV_FWD);
  p.a = inp;
  p.c = out;
  p.bias = bias;
  p.relu = relu;
  launch_with_weight<LEAP_CONV_FWD, E>(p, weight, weight_lowp, stream);
}

template <typename E>
static void backward(void *dinp, float *dweight, float *dbias, const void *dout, const void *inp, const float *weight,
                     const void *weight_lowp, const leap_conv2d_shape *s, float *workspace, cudaStream_t stream) {
  const leap_conv_geom g = make_geom(s);
  if (dinp) {
    conv_params p = make_params(g, LEAP_CONV_DGRAD);
    p.a = dout;
    p.c = dinp;
    launch_with_weight<LEAP_CONV_DGRAD, E>(p, weight, weight_lowp, stream);
  }
  if (dweight) {
    conv_params p = make_params(g, LEAP_CONV_WGRAD);
    int32_t splits = leap_conv_wgrad_splits(&g, &p.slice);
    p.a = dout;
    p.b = inp;
    p.partial = splits > 1;
    p.c = p.partial ? (void *)workspace : (void *)dweight;
    launch<LEAP_CONV_WGRAD, E, E>(p, splits, stream);
    if (p.partial) leap_conv_sum_splits(dweight, workspace, (int64_t)p.M * p.N, splits, stream);
  }
  if (dbias)
    leap_conv_bias_grad<E>(dbias, workspace + wgrad_partial_floats(g), static_cast<const E *>(dout),
                           s->N * s->P * s->Q, s->K, stream);
}

LEAP_EXTERN_C_BEGIN

size_t leap_conv2d_workspace_floats_cuda(const leap_conv2d_shape *s) {
  if (s->N * s->P * s->Q * s->K == 0) return 0;
  return (size_t)(wgrad_partial_floats(make_geom(s)) + leap_conv_bias_chunks(s->N * s->P * s->Q) * s->K);
}

void leap_conv2d_forward_cuda(void *out, const void *inp, const float *weight, const void *weight_lowp,
                              const float *bias, const leap_conv2d_shape *s, leap_dtype act,
                              leap_cuda_stream stream) {
  if (s->N * s->P * s->Q * s->K == 0) return;
  LEAP_DISPATCH_ACT(act, T, forward<T>(out, inp, weight, weight_lowp, bias, false, s, stream));
}

void leap_conv2d_forward_relu_cuda(void *out, const void *inp, const float *weight, const void *weight_lowp,
                                   const float *bias, const leap_conv2d_shape *s, leap_dtype act,
                                   leap_cuda_stream stream) {
  if (s->N * s->P * s->Q * s->K == 0) return;
  LEAP_DISPATCH_ACT(act, T, forward<T>(out, inp, weight, weight_lowp, bias, true, s, stream));
}

void leap_conv2d_backward_cuda(void *dinp, float *dweight, float *dbias, const void *dout, const void *inp,
                               const float *weight, const void *weight_lowp, const leap_conv2d_shape *s,
                               float *workspace, leap_dtype act, leap_cuda_stream stream) {
  if (s->N * s->P * s->Q * s->K == 0) return;
  LEAP_DISPATCH_ACT(act, T,
                    backward<T>(dinp, dweight, dbias, dout, inp, weight, weight_lowp, s, workspace, stream));
}

void leap_conv2d_relu_mask_cuda(void *masked, const void *dout, const void *out, int64_t n, leap_dtype act,
                                leap_cuda_stream stream) {
  if (n <= 0) return;
  const int64_t max_blocks = 65535;
  int64_t blocks = (n + CONV_MASK_THREADS - 1) / CONV_MASK_THREADS;
  unsigned grid = (unsigned)(blocks < max_blocks ? blocks : max_blocks);
  LEAP_DISPATCH_ACT(act, T, {
    LEAP_LAUNCH(grid, CONV_MASK_THREADS, 0, stream, conv_relu_mask_kernel<T>)(
        static_cast<T *>(masked), static_cast<const T *>(dout), static_cast<const T *>(out), n);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

LEAP_EXTERN_C_END
