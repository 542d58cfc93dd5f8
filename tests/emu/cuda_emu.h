/* A small CUDA execution-model emulator that runs the real kernel sources on the CPU, compiled as host C++ with
 * -DLEAP_CUDA_EMU: each emulated .cu file is #included by a wrapper translation unit in tests/emu/ after this
 * header. The emulated code is the sm_80 path (mma.sync, ldmatrix, cp.async); wgmma is not emulated.
 *
 * Model. A launch runs its blocks one after another (ascending, or descending under set_schedule(true)); the threads
 * of a block are cooperative fibers (ucontext), each running until it reaches a synchronisation point:
 * __syncthreads() or a warp collective (shuffles, __syncwarp, ldmatrix, mma.sync). When no fiber can run, the
 * waiting groups are resolved: a warp collective completes when all 32 lanes of the warp wait at the same kind of
 * collective (the results of every lane are computed at once, as the hardware exchanges registers), a barrier when
 * every thread of the block waits at the same __syncthreads call site. Anything else (a lane that exits or waits
 * at a barrier while its warp waits at a collective, threads at different barriers, an exited thread while others
 * wait at a barrier, a partial shuffle mask) is reported with what the emulator saw, and the program aborts, so the
 * test fails loudly.
 *
 * Shared memory. `__shared__` becomes `thread_local`: a block-scope static shared by every fiber of the block
 * (blocks run one at a time on one thread). The dynamic `extern __shared__` array of an emulated file is defined by
 * its wrapper (LEAP_EMU_DYNAMIC_SMEM). The program's whole thread-local block, which holds these arrays and nothing
 * else, is filled with 0xFF bytes (NaN in bf16 and fp32) before every block, so that a read of shared memory nobody
 * wrote shows up as NaN in the results.
 *
 * cp.async is a deferred copy: queued per thread at issue, grouped by commit_group, performed at wait_group N for
 * every group but the N most recent (zero-fill for the src-size 0 form). A kernel that reads its tile before
 * waiting therefore reads poison (or the previous tile). The emulator also aborts on: an ldmatrix of bytes whose
 * copy is still in flight; an ldmatrix of bytes another warp's cp.async wrote, or a cp.async over bytes another
 * warp read with ldmatrix, with no barrier between (races the deferred copies would otherwise hide); a cp.async or
 * ldmatrix address that is misaligned or not in shared memory; more than 48 KiB of dynamic shared memory without
 * the cudaFuncSetAttribute opt-in, or more than sm_80 allows.
 *
 * The PTX wrappers (kernels/attention/attention_flash.cuh, kernels/conv2d/conv2d_mma.cuh) call leap_emu:: in their
 * LEAP_CUDA_EMU branches; launch sites use LEAP_LAUNCH (kernels/common/cuda_common.cuh), which comes here and runs
 * the kernel to completion before returning. The CUDA runtime calls those files make are host stand-ins in
 * cuda_emu.cc (one device of compute capability 8.0; device pointers are host pointers). */
#ifndef LEAP_TESTS_EMU_CUDA_EMU_H
#define LEAP_TESTS_EMU_CUDA_EMU_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <functional>
#include <type_traits>
#include <utility>

/* What nvcc gives device code and g++ lacks. */
#undef __shared__
#define __shared__ thread_local
#undef __launch_bounds__
#define __launch_bounds__(...)
/* attention_tiles.h asserts with C11's keyword outside nvcc. */
#define _Static_assert static_assert

[[noreturn]] static inline void __trap() { abort(); }

namespace leap_emu {

/* The most dynamic shared memory a launch may ask for: sm_80's per-block limit (sm_90 allows 227 KiB). */
constexpr size_t MAX_DYNAMIC_SMEM = 163 * 1024;

/* The running fiber's coordinates, set on every switch. */
extern uint3 g_thread_idx, g_block_idx;
extern dim3 g_block_dim, g_grid_dim;

/* Registers a dynamic shared-memory array (the wrapper TUs do it at static initialisation). */
bool register_dynamic_smem(void *base, size_t bytes);

/* Runs kernel body `body` over the grid; `smem` dynamic bytes. `kernel` identifies the kernel for the
 * cudaFuncSetAttribute check (more than 48 KiB of dynamic shared memory needs the attribute). */
void launch(const void *kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()> &body);

void syncthreads(const void *site);
void syncwarp(unsigned mask);
uint64_t shfl(unsigned mask, uint64_t v, int kind, int arg, int width);
void ldmatrix_x4(uint32_t (&r)[4], const void *row_addr, bool trans);
void mma_bf16_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
void cp_async(void *dst, const void *src, int bytes, int src_bytes);
void cp_async_commit();
void cp_async_wait(int pending);
/* Aborts unless p points into a shared-memory array the emulator knows (the dynamic one of the running launch). */
void check_shared(const void *p, const char *what);

/* The order in which blocks start and fibers take turns: ascending (the default) or descending. A kernel whose
 * result depends on it has a race (between threads of a block on plain shared-memory accesses, or between blocks
 * on global memory): the tests run each kernel once each way and require the same bits. */
void set_schedule(bool reverse);

/* What the emulator has executed since the program started (the tests print it as evidence). */
struct stats {
  uint64_t blocks, mma, ldmatrix, cp_async, barriers;
};
stats get_stats();

enum { SHFL_IDX = 0, SHFL_UP, SHFL_DOWN, SHFL_XOR };

template <typename T>
T shfl_t(unsigned mask, T v, int kind, int arg, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffled values are registers");
  uint64_t bits = 0;
  memcpy(&bits, &v, sizeof(T));
  bits = shfl(mask, bits, kind, arg, width);
  T out;
  memcpy(&out, &bits, sizeof(T));
  return out;
}

/* The object LEAP_LAUNCH builds: called with the kernel's arguments, it copies them (as a launch does) and runs. */
template <typename... P>
struct launcher {
  void (*kernel)(P...);
  dim3 grid, block;
  size_t smem;
  template <typename... A>
  void operator()(A &&...args) const {
    auto params = std::tuple<typename std::decay<P>::type...>(std::forward<A>(args)...);
    void (*k)(P...) = kernel;
    launch(reinterpret_cast<const void *>(k), grid, block, smem, [&params, k]() { std::apply(k, params); });
  }
};

template <typename... P>
launcher<P...> make_launcher(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem) {
  return launcher<P...>{kernel, grid, block, smem};
}

}  // namespace leap_emu

/* The runtime's templated overload (nvcc only): a kernel's attribute, set through its address. */
template <typename... P>
static inline cudaError_t cudaFuncSetAttribute(void (*entry)(P...), cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void *>(entry), attr, value);
}

#define threadIdx (::leap_emu::g_thread_idx)
#define blockIdx (::leap_emu::g_block_idx)
#define blockDim (::leap_emu::g_block_dim)
#define gridDim (::leap_emu::g_grid_dim)

__attribute__((noinline)) inline void __syncthreads() { ::leap_emu::syncthreads(__builtin_return_address(0)); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) { ::leap_emu::syncwarp(mask); }

template <typename T>
static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return ::leap_emu::shfl_t(mask, v, ::leap_emu::SHFL_IDX, src, width);
}
template <typename T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::leap_emu::shfl_t(mask, v, ::leap_emu::SHFL_UP, (int)delta, width);
}
template <typename T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::leap_emu::shfl_t(mask, v, ::leap_emu::SHFL_DOWN, (int)delta, width);
}
template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::leap_emu::shfl_t(mask, v, ::leap_emu::SHFL_XOR, lane_mask, width);
}

/* The definition of an emulated file's dynamic shared-memory array, in its wrapper translation unit before the
 * #include of the .cu file (the kernel's block-scope `extern __shared__` declaration then names it). Such files are
 * compiled with -fno-extern-tls-init: the array needs no dynamic initialisation, and without the flag g++ would
 * call a TLS init function through the block-scope extern declaration that it never emits. */
#define LEAP_EMU_DYNAMIC_SMEM(type, name)                                                        \
  namespace {                                                                                    \
  alignas(1024) thread_local type name[(::leap_emu::MAX_DYNAMIC_SMEM + 1024) / sizeof(type)];    \
  const bool leap_emu_registered_##name = ::leap_emu::register_dynamic_smem(name, sizeof(name)); \
  }

#endif
