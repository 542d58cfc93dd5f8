/* Hopper (sm_90a) warpgroup MMA for the flash-attention forward: the shared-memory matrix descriptor and the
 * wgmma.mma_async instructions it uses, m64nNk16 with bf16 inputs and fp32 accumulators. The instructions exist
 * only in code compiled for sm_90a (__CUDA_ARCH_FEAT_SM90_ALL); elsewhere these functions trap, and the forward
 * never calls them there (attention_fwd_cuda.cu, use_wgmma).
 *
 * The accumulator of m64nNk16 spreads over the warpgroup's 128 threads exactly as N / 8 mma.sync m16n8k16 C
 * fragments per warp (warp w holds rows 16w .. 16w + 15; element e of n-tile j at row g + 8 (e / 2), column
 * 8j + 2t + e % 2), and a register A operand is each warp's m16n8k16 A fragment. So the softmax code and the
 * attention_tiles.h mappings of the mma.sync path apply unchanged to wgmma results.
 *
 * Descriptors. The shared tiles are stored in 64-column panels of 128-byte rows with the 16-byte chunks XORed by
 * row % 8 (attention_tiles.h), which is the hardware's 128-byte swizzle when every tile starts on a 1024-byte
 * boundary. In the canonical layouts of that mode (CUTLASS, cute/atom/mma_traits_sm90_gmma.hpp, make_gmma_desc:
 * K-major ((8,m),2):((8,SBO),1) and MN-major ((8,n),(8,k)):((1,LBO),(8,SBO)) in 16-byte units):
 *   K-major (Q and K: rows = M or N, the 16 k-elements of one instruction inside a 128-byte row): 8-row groups
 *   1024 bytes apart (stride byte offset), a leading byte offset of 16 bytes (what CUTLASS writes; the hardware
 *   does not use it in this mode); the k-step moves the start address by 32 bytes within the row, or to the next
 *   panel every 64 elements.
 *   MN-major (V as B of P V: rows = k = keys, N = the head elements along the row): 8-key groups 1024 bytes apart
 *   (stride byte offset), the next 64 head elements one panel further (leading byte offset = the tile's rows x
 *   128 bytes); the k-step of 16 keys moves the start address by 16 rows. */
#ifndef LEAP_KERNELS_ATTENTION_ATTENTION_WGMMA_CUH
#define LEAP_KERNELS_ATTENTION_ATTENTION_WGMMA_CUH

#include <stdint.h>

#include "kernels/attention/attention_flash.cuh"

/* Bytes between 8-row groups of a 128-byte-swizzled tile, and the descriptor's code for that swizzle mode. */
#define LEAP_ATTN_WGMMA_GROUP_BYTES 1024
#define LEAP_ATTN_WGMMA_SWIZZLE_128B 1ull
#define LEAP_ATTN_WGMMA_KMAJOR_LEADING 16

/* A shared-memory matrix descriptor: start address, leading and stride byte offsets (all in 16-byte units), the
 * 128-byte swizzle mode in bits 62-63. The start must lie in a tile that begins on a 1024-byte boundary (base
 * offset 0). */
__device__ __forceinline__ uint64_t leap__attn_wgmma_desc(const void *smem, uint32_t leading_bytes,
                                                          uint32_t stride_bytes) {
  const uint64_t addr = leap__attn_smem(smem);
  return ((addr & 0x3FFFF) >> 4) | ((uint64_t)((leading_bytes >> 4) & 0x3FFF) << 16) |
         ((uint64_t)((stride_bytes >> 4) & 0x3FFF) << 32) | (LEAP_ATTN_WGMMA_SWIZZLE_128B << 62);
}

/* Orders this thread's earlier register writes (accumulators, A fragments) before the next wgmma reads them. */
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define LEAP_ATTN_SM90A_ASM(text) asm volatile(text ::: "memory")
#else
#define LEAP_ATTN_SM90A_ASM(text) __trap()
#endif
__device__ __forceinline__ void leap__attn_wgmma_fence() { LEAP_ATTN_SM90A_ASM("wgmma.fence.sync.aligned;\n"); }
__device__ __forceinline__ void leap__attn_wgmma_commit() { LEAP_ATTN_SM90A_ASM("wgmma.commit_group.sync.aligned;\n"); }
/* Waits until every committed wgmma group of this warpgroup has finished. */
__device__ __forceinline__ void leap__attn_wgmma_wait() { LEAP_ATTN_SM90A_ASM("wgmma.wait_group.sync.aligned 0;\n"); }
/* Makes this thread's writes to shared memory (cp.async copies included) visible to the async proxy that wgmma
 * reads through; followed by a barrier, the whole tile is. */
__device__ __forceinline__ void leap__attn_fence_async_shared() {
  LEAP_ATTN_SM90A_ASM("fence.proxy.async.shared::cta;\n");
}

/* d (64 x 64, fp32) += A B, A = 64 x 16 and B = 16 x 64 bf16 both in shared memory, K-major (no transpose). */
__device__ __forceinline__ void leap__attn_wgmma_ss_n64(float (&d)[8][4], uint64_t desc_a, uint64_t desc_b) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "%32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "l"(desc_a), "l"(desc_b), "r"(1));
#else
  __trap();
#endif
}

/* d (64 x 64, fp32) += A B, A = 64 x 16 bf16 in registers (each warp's 16 rows as an mma.sync A fragment) and
 * B = 16 x 64 bf16 in shared memory, MN-major (transposed: tnspB = 1). */
__device__ __forceinline__ void leap__attn_wgmma_rs_n64(float (&d)[8][4], const uint32_t (&a)[4],
                                                        uint64_t desc_b) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
#else
  __trap();
#endif
}

/* d (64 x 128, fp32) += A B, A = 64 x 16 bf16 in registers (each warp's 16 rows as an mma.sync A fragment) and
 * B = 16 x 128 bf16 in shared memory, MN-major (transposed: tnspB = 1). */
__device__ __forceinline__ void leap__attn_wgmma_rs_n128(float (&d)[16][4], const uint32_t (&a)[4],
                                                         uint64_t desc_b) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]),
        "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]),
        "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]),
        "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]),
        "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]),
        "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]),
        "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]),
        "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]),
        "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
#else
  __trap();
#endif
}

#endif
