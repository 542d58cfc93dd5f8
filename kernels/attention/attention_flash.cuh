/* What the flash-attention kernel files share (CUDA only, internal to kernels/attention/): the arguments of one
 * call as the kernels see them, the PTX wrappers (cp.async, ldmatrix, mma.sync), the swizzled tile copy from
 * global to shared memory, and the launchers that attention_cuda.cu dispatches to. The index arithmetic lives in
 * attention_tiles.h, where the host-side tests check it; docs/attention-kernels.md describes the design. */
#ifndef LEAP_KERNELS_ATTENTION_ATTENTION_FLASH_CUH
#define LEAP_KERNELS_ATTENTION_ATTENTION_FLASH_CUH

#include <cuda_bf16.h>
#include <stdint.h>

#include "kernels/attention/attention.h"
#include "kernels/attention/attention_tiles.h"
#include "kernels/common/cuda_common.cuh"

/* log2(e) and ln(2): the kernels keep scores in base 2 (exp2 is one instruction) and give lse back in base e. */
#define LEAP_ATTN_LOG2E 1.4426950408889634f
#define LEAP_ATTN_LN2 0.6931471805599453f

/* One forward call. Pointers are of the activation type; lse fp32. */
struct leap__attn_fwd_args {
  void *out;
  float *lse;
  const void *q, *k, *v;
  const int32_t *key_len;
  leap_attention_shape s;
};

/* One backward call; Dvec (B,H,Tq) is the workspace that holds rowsum(dO * O) per query row. */
struct leap__attn_bwd_args {
  void *dq, *dk, *dv;
  const void *dout, *q, *k, *v, *out;
  const float *lse;
  float *Dvec;
  const int32_t *key_len;
  leap_attention_shape s;
};

/* Launchers (attention_fwd_cuda.cu, attention_bwd_cuda.cu, attention_generic_cuda.cu). The mma ones need bf16,
 * D = 64 or 128, and the alignment attention_cuda.cu checks; the generic ones take anything up to
 * LEAP_ATTN_MAX_D. The forward's products use wgmma when `wgmma` is set and the running code was compiled for
 * sm_90a, mma.sync otherwise. leap__attn_row_dot fills a.Dvec and must run before either backward. */
void leap__attn_forward_mma(const leap__attn_fwd_args &a, bool wgmma, cudaStream_t stream);
void leap__attn_forward_generic(const leap__attn_fwd_args &a, leap_dtype act, cudaStream_t stream);
void leap__attn_row_dot(const leap__attn_bwd_args &a, leap_dtype act, cudaStream_t stream);
void leap__attn_backward_mma(const leap__attn_bwd_args &a, cudaStream_t stream);
void leap__attn_backward_generic(const leap__attn_bwd_args &a, leap_dtype act, cudaStream_t stream);

/* The block of a (batch, head) pair's tiles that blockIdx.x stands for, with the pairs innermost: the first
 * B*H blocks take tile `first` of every pair, the next B*H the following one, and so on. The launchers order the
 * tiles so that the longest ones (the last query tiles under a causal mask) start first. */
__device__ __forceinline__ void leap__attn_block_tile(const leap_attention_shape &s, int64_t &bh, int64_t &tile) {
  const int64_t pairs = s.B * s.H;
  bh = (int64_t)blockIdx.x % pairs;
  tile = (int64_t)blockIdx.x / pairs;
}

/* Keys batch b exposes. */
__device__ __forceinline__ int64_t leap__attn_klim(const leap_attention_shape &s, const int32_t *key_len, int64_t b) {
  return leap__attn_key_limit(key_len ? (int64_t)key_len[b] : s.Tk, s.Tk);
}

/* ---- PTX wrappers --------------------------------------------------------------------------------------------- */

__device__ __forceinline__ uint32_t leap__attn_smem(const void *p) {
#ifdef LEAP_CUDA_EMU
  /* The emulated wrappers below take the generic pointer itself; this only checks that it is shared memory. */
  ::leap_emu::check_shared(p, "shared-memory address");
  return (uint32_t)reinterpret_cast<uintptr_t>(p);
#else
  return (uint32_t)__cvta_generic_to_shared(p);
#endif
}

/* 16 bytes global -> shared without a trip through registers; zero-filled when !valid (src is then not read, but
 * must still be a valid address: callers pass the tensor's first row). */
__device__ __forceinline__ void leap__attn_cp16(void *smem, const void *gmem, bool valid) {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::cp_async(smem, gmem, 16, valid ? 16 : 0);
#else
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(leap__attn_smem(smem)), "l"(gmem),
               "r"(valid ? 16 : 0)
               : "memory");
#endif
}

/* 4 bytes global -> shared (the per-row lse and D_i of the dK/dV kernel), zero-filled when !valid. */
__device__ __forceinline__ void leap__attn_cp4(void *smem, const void *gmem, bool valid) {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::cp_async(smem, gmem, 4, valid ? 4 : 0);
#else
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(leap__attn_smem(smem)), "l"(gmem),
               "r"(valid ? 4 : 0)
               : "memory");
#endif
}

__device__ __forceinline__ void leap__attn_cp_commit() {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::cp_async_commit();
#else
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

/* Waits until at most N of this thread's committed copy groups are still in flight. */
template <int N>
__device__ __forceinline__ void leap__attn_cp_wait() {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::cp_async_wait(N);
#else
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

/* ldmatrix.x4: four 8x8 bf16 matrices, lane 8m + r giving the address of row r of matrix m (attention_tiles.h). */
__device__ __forceinline__ void leap__attn_ldsm(uint32_t (&r)[4], const void *smem) {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::ldmatrix_x4(r, smem, false);
#else
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(leap__attn_smem(smem))
               : "memory");
#endif
}

__device__ __forceinline__ void leap__attn_ldsm_trans(uint32_t (&r)[4], const void *smem) {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::ldmatrix_x4(r, smem, true);
#else
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(leap__attn_smem(smem))
               : "memory");
#endif
}

/* c += a * b for one 16x8x16 bf16 tile with fp32 accumulation. */
__device__ __forceinline__ void leap__attn_mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::mma_bf16_16816(c, a, b0, b1);
#else
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

/* Two floats as one register of two bf16, lo in the low half (the lower column of a fragment). */
__device__ __forceinline__ uint32_t leap__attn_pack(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

/* The sum over the four lanes of a quad (the lanes that share a fragment row), the same bits on all four. */
__device__ __forceinline__ float leap__attn_quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

__device__ __forceinline__ float leap__attn_quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

/* Starts the copy of a ROWS x D bf16 tile into the swizzled shared tile `sm`: row r from base + r * ld, rows from
 * `valid` on zero-filled (so that no garbage, NaN included, can reach an MMA). All NT threads take part; the copy
 * joins the calling thread's current cp.async group. */
template <int D, int ROWS, int NT>
__device__ __forceinline__ void leap__attn_load_tile(__nv_bfloat16 *sm, const __nv_bfloat16 *base, int64_t ld,
                                                     int64_t valid) {
  constexpr int CPR = D / LEAP_ATTN_CHUNK;
  static_assert((ROWS * CPR) % NT == 0, "every thread copies the same number of chunks");
#pragma unroll
  for (int it = 0; it < ROWS * CPR / NT; it++) {
    const int c = (int)threadIdx.x + it * NT, r = c / CPR, col = (c % CPR) * LEAP_ATTN_CHUNK;
    const bool ok = r < valid;
    leap__attn_cp16(sm + leap__attn_swizzle(r, col, ROWS), base + (ok ? (int64_t)r * ld : 0) + col, ok);
  }
}

#endif
