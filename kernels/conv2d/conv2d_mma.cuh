/* The sm_80 instructions the implicit-GEMM convolution kernels use, as inline PTX: cp.async (16 bytes, global to
 * shared, zero-filled when the source is predicated off), its commit/wait, ldmatrix.x4 (plain and .trans) and
 * mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32. Their operand layouts are those of conv2d_tiles.h, which
 * tests/kernels/conv2d/test_conv2d_tiles.c checks against the PTX ISA on the CPU. */
#ifndef LEAP_KERNELS_CONV2D_CONV2D_MMA_CUH
#define LEAP_KERNELS_CONV2D_CONV2D_MMA_CUH

#include <stdint.h>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "the implicit-GEMM convolution needs sm_80 or newer (cp.async, bf16 mma.sync)"
#endif

/* The 32-bit shared-memory address of a generic pointer into shared memory. */
__device__ __forceinline__ uint32_t leap_conv_smem_addr(const void *p) {
#ifdef LEAP_CUDA_EMU
  /* The emulated wrappers below take the generic pointer itself; this only checks that it is shared memory. */
  ::leap_emu::check_shared(p, "shared-memory address");
  return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p));
#else
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
#endif
}

/* 16 bytes from global src to shared dst, asynchronously; zeros instead when !valid (src is then not read, but
 * must still be a valid address). */
__device__ __forceinline__ void leap_conv_cp_async16(void *dst, const void *src, bool valid) {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::cp_async(dst, src, 16, valid ? 16 : 0);
#else
  uint32_t bytes = valid ? 16u : 0u;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(leap_conv_smem_addr(dst)), "l"(src),
               "r"(bytes)
               : "memory");
#endif
}

__device__ __forceinline__ void leap_conv_cp_async_commit() {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::cp_async_commit();
#else
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

/* Waits until at most `pending` of this thread's committed groups are still in flight. */
template <int pending>
__device__ __forceinline__ void leap_conv_cp_async_wait() {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::cp_async_wait(pending);
#else
  asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
#endif
}

/* Four 8x8 b16 matrices; lane l gives the address of row l % 8 of matrix l / 8. */
template <bool trans>
__device__ __forceinline__ void leap_conv_ldmatrix_x4(uint32_t (&r)[4], const void *row_addr) {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::ldmatrix_x4(r, row_addr, trans);
#else
  if (trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(leap_conv_smem_addr(row_addr)));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(leap_conv_smem_addr(row_addr)));
#endif
}

/* d += a (16x16 bf16, row) x b (16x8 bf16, col), fp32 accumulators. */
__device__ __forceinline__ void leap_conv_mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#ifdef LEAP_CUDA_EMU
  ::leap_emu::mma_bf16_16816(d, a, b0, b1);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

#endif
