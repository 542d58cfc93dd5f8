/* The implicit-GEMM convolution kernels (conv2d_cuda.cu) run on the CUDA emulator through the real entry points
 * (leap_conv2d_forward_cuda, leap_conv2d_forward_relu_cuda, leap_conv2d_backward_cuda), bf16 on the tensor cores
 * and fp32 with FMAs, against the CPU reference on the same inputs (bf16-rounded in bf16 mode).
 *
 * Each case runs: forward without bias, with bias, with bias and the fused ReLU, the ReLU mask, backward-data,
 * backward-filter with the bias gradient (all accumulating into random starting values), each twice with bit-identical
 * results required. In bf16 mode the weight is given both as its bf16 copy and as fp32 only (rounded on the way into
 * the tensor cores); the fp32 weights are bf16-representable so both must match the same reference. Outputs are
 * poisoned (NaN). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "tests/emu/cuda_emu.h"
extern "C" {
#include "kernels/common/kernel_common.h"
#include "kernels/conv2d/conv2d.h"
}
#include "kernels/conv2d/conv2d_tiles.h"
#include "tests/emu/emu_util.h"

using namespace emu_util;

namespace {

struct ccase {
  int64_t N, H, W, C, K, R, S, stride, pad; /* the same stride and padding in both directions */
};

const ccase CASES[] = {
    {2, 9, 7, 16, 24, 3, 3, 1, 1},   /* 3x3 pad 1, C and K multiples of 8: the cp.async path */
    {2, 11, 9, 8, 16, 3, 3, 2, 1},   /* stride 2: backward-data's predicated taps */
    {1, 8, 8, 32, 40, 1, 1, 1, 0},   /* 1x1 */
    {1, 15, 13, 3, 16, 7, 7, 2, 3},  /* a stem: 7x7 stride 2, C = 3 (element gathers) */
    {2, 7, 5, 12, 10, 3, 3, 1, 1},   /* C and K not multiples of 8, odd H and W */
    {4, 20, 18, 8, 8, 3, 3, 1, 1},   /* a long backward-filter reduction (split into slices) */
    {1, 6, 6, 16, 72, 3, 3, 1, 1},   /* K over one block column tile */
    {2, 9, 9, 16, 32, 1, 1, 2, 0},   /* a strided 1x1 shortcut: input pixels no output reads get no gradient */
    {1, 2, 3, 5, 7, 3, 3, 1, 1},     /* an image smaller than the kernel's reach */
    {1, 10, 10, 8, 16, 5, 5, 1, 2},  /* 5x5 pad 2 */
    {1, 12, 11, 16, 16, 3, 3, 3, 0}, /* stride 3 */
};

std::vector<float> random_vec(rng &r, size_t n, float lo, float hi, bool bf16) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = bf16 ? round_bf16(r.uniform(lo, hi)) : r.uniform(lo, hi);
  return v;
}

/* A device activation tensor of dtype act holding v. */
void upload(dbuf &d, const std::vector<float> &v, leap_dtype act) {
  for (size_t i = 0; i < v.size(); i++)
    if (act == LEAP_BF16)
      d.h()[i] = to_bf16(v[i]);
    else
      d.f()[i] = v[i];
}

std::vector<float> download(dbuf &d, size_t n, leap_dtype act) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = act == LEAP_BF16 ? from_bf16(d.h()[i]) : d.f()[i];
  return v;
}

float max_abs(const std::vector<float> &v) {
  float m = 0.0f;
  for (float x : v) m = fmaxf(m, fabsf(x));
  return m;
}

/* got against start + grad (or grad alone) within tol * max |reference| + rtol |want|. */
void check(checker &chk, const std::string &what, const std::vector<float> &got, const std::vector<float> &want,
           float tol) {
  chk.close(what.c_str(), got.data(), want.data(), want.size(), tol * fmaxf(max_abs(want), 1e-3f), tol);
}

void run_case(const ccase &c, leap_dtype act, bool lowp, checker &chk) {
  const bool bf = act == LEAP_BF16;
  const size_t esz = bf ? 2 : 4;
  leap_conv2d_shape s;
  leap_conv2d_shape_init(&s, c.N, c.H, c.W, c.C, c.K, c.R, c.S, c.stride, c.stride, c.pad, c.pad);
  const size_t ni = (size_t)(s.N * s.H * s.W * s.C), nw = (size_t)(s.K * s.R * s.S * s.C);
  const size_t no = (size_t)(s.N * s.P * s.Q * s.K), nb = (size_t)s.K;
  rng r((uint64_t)(c.N * 3 + c.H * 5 + c.W * 7 + c.C * 11 + c.K * 13 + c.R * 17 + c.stride * 19 + bf + 2 * lowp));
  /* Values are bf16-representable in both modes, so the two modes share references up to accumulation. */
  const std::vector<float> inp = random_vec(r, ni, -1.0f, 1.0f, true), w = random_vec(r, nw, -0.5f, 0.5f, true);
  const std::vector<float> bias = random_vec(r, nb, -0.5f, 0.5f, false), dout = random_vec(r, no, -1.0f, 1.0f, true);
  const std::vector<float> dinp0 = random_vec(r, ni, -0.5f, 0.5f, true), dw0 = random_vec(r, nw, -0.5f, 0.5f, false);
  const std::vector<float> db0 = random_vec(r, nb, -0.5f, 0.5f, false);

  /* CPU references. */
  std::vector<float> ws(leap_conv2d_workspace_floats(&s, leap_kernels_threads()) + 16);
  std::vector<float> out_ref(no), out_bias_ref(no), dinp_ref(dinp0), dw_ref(dw0), db_ref(db0);
  leap_conv2d_forward_cpu(out_ref.data(), inp.data(), w.data(), NULL, &s, ws.data());
  leap_conv2d_forward_cpu(out_bias_ref.data(), inp.data(), w.data(), bias.data(), &s, ws.data());
  leap_conv2d_backward_cpu(dinp_ref.data(), dw_ref.data(), db_ref.data(), dout.data(), inp.data(), w.data(), &s,
                           ws.data());

  /* Device tensors. */
  dbuf d_inp(ni, esz), d_w(nw, 4), d_wl(nw, 2), d_bias(nb, 4), d_dout(no, esz), d_out(no, esz), d_out2(no, esz);
  upload(d_inp, inp, act);
  upload(d_dout, dout, act);
  memcpy(d_w.p, w.data(), nw * 4);
  memcpy(d_bias.p, bias.data(), nb * 4);
  for (size_t i = 0; i < nw; i++) d_wl.h()[i] = to_bf16(w[i]);
  const void *wl = bf && lowp ? d_wl.p : NULL;
  char buf[200];
  snprintf(buf, sizeof buf, "N%lld H%lld W%lld C%lld K%lld %lldx%lld s%lld p%lld %s%s", (long long)c.N, (long long)c.H,
           (long long)c.W, (long long)c.C, (long long)c.K, (long long)c.R, (long long)c.S, (long long)c.stride,
           (long long)c.pad, bf ? "bf16" : "fp32", bf ? (lowp ? " lowp" : " fp32-weight") : "");
  const std::string name(buf);
  const int fails0 = chk.failures;
  /* bf16: the output is stored in bf16 (2^-8 relative); fp32: summation order only. */
  const float tol = bf ? 1e-2f : 1e-4f;

  /* Forward without bias, with bias, with bias and the fused ReLU. */
  std::vector<float> out_relu_ref(out_bias_ref);
  for (float &x : out_relu_ref) x = fmaxf(x, 0.0f);
  const char *fwd_names[3] = {" forward", " forward+bias", " forward+bias+relu"};
  const std::vector<float> *fwd_refs[3] = {&out_ref, &out_bias_ref, &out_relu_ref};
  for (int kind = 0; kind < 3; kind++) {
    memset(d_out.p, 0xFF, d_out.bytes), memset(d_out2.p, 0xFF, d_out2.bytes);
    const float *b = kind ? d_bias.f() : NULL;
    for (int run = 0; run < 2; run++) {
      leap_emu::set_schedule(run == 1);
      (kind == 2 ? leap_conv2d_forward_relu_cuda : leap_conv2d_forward_cuda)(run ? d_out2.p : d_out.p, d_inp.p, d_w.f(),
                                                                             wl, b, &s, act, nullptr);
    }
    leap_emu::set_schedule(false);
    check(chk, name + fwd_names[kind], download(d_out, no, act), *fwd_refs[kind], tol);
    chk.same_bits((name + fwd_names[kind]).c_str(), d_out.p, d_out2.p, d_out.bytes);
  }

  /* The gradient through the fused ReLU, from its output (d_out holds relu(conv + bias) now). */
  {
    dbuf masked(no, esz);
    memset(masked.p, 0xFF, masked.bytes);
    leap_conv2d_relu_mask_cuda(masked.p, d_dout.p, d_out.p, (int64_t)no, act, nullptr);
    const std::vector<float> outv = download(d_out, no, act);
    std::vector<float> want(no);
    for (size_t i = 0; i < no; i++) want[i] = outv[i] > 0.0f ? dout[i] : 0.0f;
    chk.close((name + " relu mask").c_str(), download(masked, no, act).data(), want.data(), no, 0.0f, 0.0f);
  }

  dbuf ws_cuda(leap_conv2d_workspace_floats_cuda(&s), 4);
  dbuf g_inp[2] = {dbuf(ni, esz), dbuf(ni, esz)}, g_w[2] = {dbuf(nw, 4), dbuf(nw, 4)},
       g_b[2] = {dbuf(nb, 4), dbuf(nb, 4)};
  for (int run = 0; run < 2; run++) {
    upload(g_inp[run], dinp0, act);
    memcpy(g_w[run].p, dw0.data(), nw * 4);
    memcpy(g_b[run].p, db0.data(), nb * 4);
    memset(ws_cuda.p, 0xFF, ws_cuda.bytes);
    leap_emu::set_schedule(run == 1);
    leap_conv2d_backward_cuda(g_inp[run].p, g_w[run].f(), g_b[run].f(), d_dout.p, d_inp.p, d_w.f(), wl, &s, ws_cuda.f(),
                              act, nullptr);
    leap_emu::set_schedule(false);
  }
  check(chk, name + " dinp", download(g_inp[0], ni, act), dinp_ref, tol);
  check(chk, name + " dweight", std::vector<float>(g_w[0].f(), g_w[0].f() + nw), dw_ref, bf ? 1e-2f : 1e-4f);
  check(chk, name + " dbias", std::vector<float>(g_b[0].f(), g_b[0].f() + nb), db_ref, bf ? 1e-3f : 1e-5f);
  chk.same_bits((name + " dinp").c_str(), g_inp[0].p, g_inp[1].p, g_inp[0].bytes);
  chk.same_bits((name + " dweight").c_str(), g_w[0].p, g_w[1].p, g_w[0].bytes);
  chk.same_bits((name + " dbias").c_str(), g_b[0].p, g_b[1].p, g_b[0].bytes);

  const leap_conv_geom g = {(int32_t)s.N,     (int32_t)s.H, (int32_t)s.W,        (int32_t)s.C,        (int32_t)s.K,
                            (int32_t)s.R,     (int32_t)s.S, (int32_t)s.stride_h, (int32_t)s.stride_w, (int32_t)s.pad_h,
                            (int32_t)s.pad_w, (int32_t)s.P, (int32_t)s.Q};
  int32_t slice;
  const int32_t splits = leap_conv_wgrad_splits(&g, &slice);
  printf("%s %s (backward-filter slices: %d, guard page %s)\n", chk.failures == fails0 ? "ok  " : "FAIL", name.c_str(),
         (int)splits, guard_front() ? "before" : "after");
  fflush(stdout);
}

}  // namespace

int main(void) {
  leap_kernels_set_threads(1);
  checker chk;
  /* Every case with the guard page after each tensor, then before it. */
  for (int front = 0; front < 2; front++) {
    guard_front() = front == 1;
    for (const ccase &c : CASES) {
      run_case(c, LEAP_BF16, true, chk);
      run_case(c, LEAP_BF16, false, chk);
      run_case(c, LEAP_F32, false, chk);
    }
  }
  /* LEAP_EMU_RANDOM=n adds n random shapes (a longer hunt than ctest's; the seed is n). */
  const char *env = getenv("LEAP_EMU_RANDOM");
  const int nrandom = env ? atoi(env) : 0;
  rng rc((uint64_t)nrandom);
  for (int i = 0; i < nrandom; i++) {
    auto pick = [&rc](int lo, int hi) { return lo + (int)(rc.uniform(0.0f, 1.0f) * (float)(hi - lo + 1) * 0.9999f); };
    ccase c;
    const int ks[4] = {1, 3, 5, 7};
    c.N = pick(1, 3), c.H = pick(1, 20), c.W = pick(1, 20);
    c.C = pick(0, 1) ? 8 * pick(1, 5) : pick(1, 40), c.K = pick(0, 1) ? 8 * pick(1, 10) : pick(1, 80);
    c.R = ks[pick(0, 3)], c.S = ks[pick(0, 3)], c.stride = pick(1, 3), c.pad = pick(0, 3);
    if (c.H + 2 * c.pad < c.R || c.W + 2 * c.pad < c.S) continue;
    guard_front() = pick(0, 1);
    const int mode = pick(0, 2);
    run_case(c, mode == 2 ? LEAP_F32 : LEAP_BF16, mode == 0, chk);
  }
  const leap_emu::stats st = leap_emu::get_stats();
  printf("emulated: %llu blocks, %llu mma.sync, %llu ldmatrix, %llu cp.async, %llu barriers\n",
         (unsigned long long)st.blocks, (unsigned long long)st.mma, (unsigned long long)st.ldmatrix,
         (unsigned long long)st.cp_async, (unsigned long long)st.barriers);
  if (chk.failures) {
    fprintf(stderr, "%d checks failed\n", chk.failures);
    return 1;
  }
  printf("all emulated conv2d cases passed\n");
  return 0;
}
