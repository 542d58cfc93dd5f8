/* The CUDA attention entry points (attention.h): the flash kernels, with the choice between the tensor-core path
 * and the generic one.
 *
 *   bf16, D = 64 or 128, every pointer 16-byte aligned and every row stride a multiple of 8 elements
 *       -> attention_fwd_cuda.cu / attention_bwd_cuda.cu: mma.sync m16n8k16 with ldmatrix and cp.async double
 *          buffering (wgmma for the forward's products on sm_90a);
 *   anything else (fp32, D = 80, odd strides, ...)
 *       -> attention_generic_cuda.cu: the same tiling with fp32 FMA.
 * The alignment rule exists because the mma kernels copy 16-byte chunks with cp.async and store bf16 pairs; a
 * view that breaks it is still computed, only without tensor cores.
 *
 * The forward asks for the wgmma products on a device of compute capability 9.0, unless the environment sets
 * LEAP_ATTENTION_WGMMA=0: the switch that lets the tests (and a user who suspects the Hopper path) run the
 * mma.sync kernel on Hopper too. It is read on every call, so nothing is cached.
 *
 * Backward first computes D_i = rowsum(dO * O) into the workspace (B*H*Tq floats), then the dK/dV and dQ kernels;
 * docs/attention-kernels.md describes them. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention/attention_flash.cuh"

namespace {

/* Whether the forward should use wgmma: a cc 9.0 device (the kernel itself falls back to mma.sync where no sm_90a
 * code was compiled) and no LEAP_ATTENTION_WGMMA=0. */
bool want_wgmma() {
  const char *env = getenv("LEAP_ATTENTION_WGMMA");
  if (env && strcmp(env, "0") == 0) return false;
  int dev = 0, major = 0, minor = 0;
  LEAP_CUDA_CHECK(cudaGetDevice(&dev));
  LEAP_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  LEAP_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  return major == 9 && minor == 0;
}

bool aligned16(const void *p) { return p == NULL || (uintptr_t)p % 16 == 0; }

/* Whether the tensor-core kernels can take this call: the dtype, the head size and the alignment of every view. */
bool mma_fits(const leap_attention_shape *s, leap_dtype act, const void *const *ptrs, int n) {
  if (act != LEAP_BF16 || (s->D != 64 && s->D != 128)) return false;
  const int64_t lds[4] = {s->ldq, s->ldk, s->ldv, s->ldo};
  for (int i = 0; i < 4; i++)
    if (lds[i] % LEAP_ATTN_CHUNK != 0) return false;
  for (int i = 0; i < n; i++)
    if (!aligned16(ptrs[i])) return false;
  return true;
}

void check_shape(const leap_attention_shape *s) {
  const int64_t rows = s->B * s->H * (s->Tq > s->Tk ? s->Tq : s->Tk);
  if (s->D < 1 || s->D > LEAP_ATTN_MAX_D || rows / LEAP_ATTN_DKV_BQ >= INT_MAX) {
    fprintf(stderr,
            "leap: fatal at %s:%d: attention shape B=%lld H=%lld T=%lld/%lld D=%lld outside the kernels' range\n",
            __FILE__, __LINE__, (long long)s->B, (long long)s->H, (long long)s->Tq, (long long)s->Tk, (long long)s->D);
    abort();
  }
}

}  // namespace

LEAP_EXTERN_C_BEGIN

size_t leap_attention_workspace_floats_cuda(const leap_attention_shape *s) {
  int64_t n = s->B * s->H * s->Tq;
  return (size_t)(n > 0 ? n : 0);
}

void leap_attention_forward_cuda(void *out, float *lse, const void *q, const void *k, const void *v,
                                 const int32_t *key_len, const leap_attention_shape *s, leap_dtype act,
                                 leap_cuda_stream stream) {
  if (s->B <= 0 || s->H <= 0 || s->Tq <= 0) return;
  check_shape(s);
  const leap__attn_fwd_args a = {out, lse, q, k, v, key_len, *s};
  const void *views[4] = {out, q, k, v};
  if (mma_fits(s, act, views, 4))
    leap__attn_forward_mma(a, want_wgmma(), stream);
  else
    leap__attn_forward_generic(a, act, stream);
}

void leap_attention_backward_cuda(void *dq, void *dk, void *dv, const void *dout, const void *q, const void *k,
                                  const void *v, const void *out, const float *lse, const int32_t *key_len,
                                  const leap_attention_shape *s, float *workspace, leap_dtype act,
                                  leap_cuda_stream stream) {
  if ((!dq && !dk && !dv) || s->B <= 0 || s->H <= 0 || s->Tq <= 0) return;
  check_shape(s);
  const leap__attn_bwd_args a = {dq, dk, dv, dout, q, k, v, out, lse, workspace, key_len, *s};
  leap__attn_row_dot(a, act, stream);
  const void *views[8] = {dq, dk, dv, dout, q, k, v, out};
  if (mma_fits(s, act, views, 8))
    leap__attn_backward_mma(a, stream);
  else
    leap__attn_backward_generic(a, act, stream);
}

LEAP_EXTERN_C_END
