/* The flash-attention kernels run on the CUDA emulator through the real entry points (leap_attention_forward_cuda,
 * leap_attention_backward_cuda), against the CPU reference on the same inputs (bf16-rounded in bf16 mode): the
 * tensor-core kernels (attention_fwd_cuda.cu, attention_bwd_cuda.cu) for bf16 with D = 64 or 128 and aligned views,
 * the generic fp32-FMA kernels (attention_generic_cuda.cu) for fp32, other head sizes and unaligned strides. Each
 * case also checks which of the two ran (by the emulator's mma.sync count).
 *
 * Each case: q, k, v (separate tensors, or one fused (B,T,3,H,D) buffer), forward with out and lse poisoned, then
 * backward into dq, dk, dv that start from random values (the kernels accumulate), compared with start + the CPU
 * gradients. Every kernel runs twice, the second time in the emulator's reverse schedule (blocks and threads in
 * descending order), and the two results must be bit-identical. The CPU backward gets the CPU forward's out and
 * lse, the emulated one the emulated forward's: the differences that makes are within the tolerances below. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "tests/emu/cuda_emu.h"
extern "C" {
#include "kernels/attention/attention.h"
#include "kernels/common/kernel_common.h"
}
#include "tests/emu/emu_util.h"

using namespace emu_util;

namespace {

struct tcase {
  int64_t B, H, Tq, Tk, D;
  bool causal;
  bool fused;  /* q, k, v (and dq, dk, dv) interleaved in one (B,T,3,H,D) buffer; needs Tq == Tk */
  int key_len; /* 0: none; 1: per batch b, Tk, 0, Tk / 3 + 1 for b % 3 = 0, 1, 2; 2: random in 0 .. Tk */
  int64_t pad; /* extra elements at the end of every token's row (a padded view) */
  leap_dtype act;
};

constexpr leap_dtype BF = LEAP_BF16, F32 = LEAP_F32;

const tcase CASES[] = {
    /* the tensor-core kernels */
    {1, 1, 1, 1, 64, false, false, false, 0, BF},
    {1, 2, 17, 17, 64, true, false, false, 0, BF},
    {2, 1, 100, 100, 128, true, false, false, 0, BF},
    {1, 1, 130, 130, 64, false, false, false, 0, BF},
    {1, 1, 17, 100, 64, true, false, false, 0, BF},
    {1, 1, 130, 33, 128, false, false, false, 0, BF},
    {1, 1, 100, 17, 64, true, false, false, 0, BF},
    {3, 1, 70, 70, 64, false, false, true, 0, BF},
    {3, 1, 70, 70, 128, true, false, true, 0, BF},
    {2, 2, 65, 65, 64, true, true, false, 0, BF},
    {2, 1, 40, 40, 128, false, true, true, 0, BF},
    {2, 2, 33, 150, 64, true, false, true, 0, BF},
    {1, 1, 200, 200, 128, true, false, false, 0, BF},
    {1, 2, 77, 77, 64, false, false, false, 8, BF},
    {2, 1, 17, 0, 64, true, false, false, 0, BF},
    /* the generic kernels: fp32, a head size without tensor-core kernels, an unaligned stride */
    {1, 2, 17, 17, 64, true, false, false, 0, F32},
    {3, 1, 70, 45, 32, false, false, true, 0, F32},
    {2, 1, 65, 65, 128, true, true, false, 0, F32},
    {1, 1, 100, 100, 80, true, false, false, 0, BF},
    {1, 1, 40, 40, 64, false, false, false, 2, BF},
};

/* A strided (B,T,H,D) view at `base` (row stride ld) as a dense (B,T,H,D) array of floats. */
std::vector<float> gather(const void *base, leap_dtype act, int64_t B, int64_t T, int64_t H, int64_t D, int64_t ld) {
  std::vector<float> out((size_t)(B * T * H * D));
  for (int64_t bt = 0; bt < B * T; bt++)
    for (int64_t i = 0; i < H * D; i++) {
      const size_t src = (size_t)(bt * ld + i), dst = (size_t)(bt * H * D + i);
      out[dst] = act == LEAP_BF16 ? from_bf16(static_cast<const uint16_t *>(base)[src])
                                  : static_cast<const float *>(base)[src];
    }
  return out;
}

/* Fills n elements of a device buffer with uniform values in [lo, hi), bf16-representable in either dtype. */
void fill(dbuf &d, size_t n, leap_dtype act, rng &r, float lo, float hi) {
  for (size_t i = 0; i < n; i++) {
    const float v = round_bf16(r.uniform(lo, hi));
    if (act == LEAP_BF16)
      d.h()[i] = to_bf16(v);
    else
      d.f()[i] = v;
  }
}

void *at(dbuf &d, leap_dtype act, int64_t offset) {
  return static_cast<char *>(d.p) + offset * (act == LEAP_BF16 ? 2 : 4);
}

float max_abs(const std::vector<float> &v) {
  float m = 0.0f;
  for (float x : v) m = fmaxf(m, fabsf(x));
  return m;
}

void run_case(const tcase &c, checker &chk) {
  const int64_t B = c.B, H = c.H, Tq = c.Tq, Tk = c.Tk, D = c.D, HD = H * D;
  const leap_dtype act = c.act;
  const bool bf = act == LEAP_BF16;
  const size_t esz = bf ? 2 : 4;
  leap_attention_shape s;
  memset(&s, 0, sizeof s);
  s.B = B, s.H = H, s.Tq = Tq, s.Tk = Tk, s.D = D, s.causal = c.causal, s.scale = 1.0f / sqrtf((float)D);
  const int64_t ldin = (c.fused ? 3 * HD : HD) + c.pad;
  s.ldq = s.ldk = s.ldv = ldin, s.ldo = HD + c.pad;
  std::vector<int32_t> key_len_v((size_t)B);
  rng rk((uint64_t)(B * 31 + Tq * 37 + Tk));
  for (int64_t b = 0; b < B; b++)
    key_len_v[(size_t)b] = c.key_len == 2 ? (int32_t)(rk.uniform(0.0f, 1.0f) * (float)(Tk + 1) * 0.999f)
                           : b % 3 == 0   ? (int32_t)Tk
                           : b % 3 == 1   ? 0
                                          : (int32_t)(Tk / 3 + 1);
  dbuf key_len(B, sizeof(int32_t));
  memcpy(key_len.p, key_len_v.data(), (size_t)B * sizeof(int32_t));
  const int32_t *kl = c.key_len ? static_cast<const int32_t *>(key_len.p) : nullptr;
  char name[256];
  snprintf(name, sizeof name, "%s B%lld H%lld Tq%lld Tk%lld D%lld%s%s%s%s", bf ? "bf16" : "fp32", (long long)B,
           (long long)H, (long long)Tq, (long long)Tk, (long long)D, c.causal ? " causal" : "", c.fused ? " fused" : "",
           c.key_len == 2 ? " random key_len"
           : c.key_len    ? " key_len"
                          : "",
           c.pad ? " padded" : "");
  const std::string base(name);
  const int fails0 = chk.failures;

  /* Inputs: one buffer per tensor, or one fused buffer with q, k, v at offsets 0, HD, 2 HD of each token. The
   * last token's row ends after its H*D elements, as a view's would, so that a read past it faults. */
  const size_t nq = (size_t)((B * Tq - 1) * ldin + (c.fused ? 3 : 1) * HD),
               nk = Tk > 0 ? (size_t)((B * Tk - 1) * ldin + HD) : 0;
  const size_t no = (size_t)((B * Tq - 1) * s.ldo + HD);
  rng r(1000 + (uint64_t)(B * 7 + H * 13 + Tq * 17 + Tk * 19 + D * 23 + c.causal + 2 * c.fused + 4 * c.key_len +
                          8 * c.pad + 16 * bf));
  dbuf qb(nq, esz), kb(c.fused ? 0 : nk, esz), vb(c.fused ? 0 : nk, esz);
  fill(qb, nq, act, r, -2.0f, 2.0f);
  if (!c.fused) fill(kb, nk, act, r, -2.0f, 2.0f), fill(vb, nk, act, r, -1.0f, 1.0f);
  const void *q = qb.p, *k = c.fused ? at(qb, act, HD) : kb.p, *v = c.fused ? at(qb, act, 2 * HD) : vb.p;
  const std::vector<float> qf = gather(q, act, B, Tq, H, D, ldin), kf = gather(k, act, B, Tk, H, D, ldin);
  const std::vector<float> vf = gather(v, act, B, Tk, H, D, ldin);

  /* The CPU reference on dense copies. */
  leap_attention_shape sd = s;
  sd.ldq = sd.ldk = sd.ldv = sd.ldo = HD;
  std::vector<float> ws(leap_attention_workspace_floats(&sd, leap_kernels_threads()) + 16);
  std::vector<float> out_ref((size_t)(B * Tq * HD)), lse_ref((size_t)(B * H * Tq));
  leap_attention_forward_cpu(out_ref.data(), lse_ref.data(), qf.data(), kf.data(), vf.data(), kl, &sd, ws.data());

  /* The emulated forward, twice (the second time in reverse schedule), outputs poisoned. */
  const bool want_mma = bf && (D == 64 || D == 128) && c.pad % 8 == 0;
  const uint64_t mma0 = leap_emu::get_stats().mma;
  dbuf out(no, esz), lse((size_t)(B * H * Tq), 4), out2(no, esz), lse2((size_t)(B * H * Tq), 4);
  memset(out.p, 0xFF, out.bytes), memset(lse.p, 0xFF, lse.bytes);
  memset(out2.p, 0xFF, out2.bytes), memset(lse2.p, 0xFF, lse2.bytes);
  leap_attention_forward_cuda(out.p, lse.f(), q, k, v, kl, &s, act, nullptr);
  leap_emu::set_schedule(true);
  leap_attention_forward_cuda(out2.p, lse2.f(), q, k, v, kl, &s, act, nullptr);
  leap_emu::set_schedule(false);
  /* (With no visible key at all the tensor-core kernels issue no mma.sync: nothing to tell the paths apart by.) */
  bool any_key = Tk > 0;
  if (kl) {
    any_key = false;
    for (int32_t n : key_len_v) any_key |= n > 0;
  }
  if (any_key && (leap_emu::get_stats().mma > mma0) != want_mma) {
    fprintf(stderr, "FAIL %s: the %s path ran\n", name, want_mma ? "generic" : "tensor-core");
    chk.failures++;
  }
  /* bf16: the output's own rounding (2^-9 relative) and P rounded to bf16 for the product; fp32: exp2 against exp
   * and the order of the sums. */
  const float otol = bf ? 1.5e-2f : 2e-5f;
  chk.close((base + " out").c_str(), gather(out.p, act, B, Tq, H, D, s.ldo).data(), out_ref.data(), out_ref.size(),
            otol, otol);
  chk.close((base + " lse").c_str(), lse.f(), lse_ref.data(), lse_ref.size(), bf ? 2e-3f : 2e-5f, bf ? 1e-3f : 1e-5f);
  chk.same_bits((base + " out").c_str(), out.p, out2.p, out.bytes);
  chk.same_bits((base + " lse").c_str(), lse.p, lse2.p, lse.bytes);

  /* Backward: dout random, gradients starting from random values. */
  dbuf dout(no, esz);
  fill(dout, no, act, r, -1.0f, 1.0f);
  const std::vector<float> doutf = gather(dout.p, act, B, Tq, H, D, s.ldo);
  std::vector<float> dq_ref(qf.size(), 0.0f), dk_ref(kf.size(), 0.0f), dv_ref(vf.size(), 0.0f);
  leap_attention_backward_cpu(dq_ref.data(), dk_ref.data(), dv_ref.data(), doutf.data(), qf.data(), kf.data(),
                              vf.data(), out_ref.data(), lse_ref.data(), kl, &sd, ws.data());
  dbuf gq[2] = {dbuf(nq, esz), dbuf(nq, esz)};
  dbuf gk[2] = {dbuf(c.fused ? 0 : nk, esz), dbuf(c.fused ? 0 : nk, esz)};
  dbuf gv[2] = {dbuf(c.fused ? 0 : nk, esz), dbuf(c.fused ? 0 : nk, esz)};
  rng rg = r;
  for (int run = 0; run < 2; run++) {
    rng rr = rg; /* the same starting values in both runs */
    fill(gq[run], nq, act, rr, -0.5f, 0.5f);
    if (!c.fused) fill(gk[run], nk, act, rr, -0.5f, 0.5f), fill(gv[run], nk, act, rr, -0.5f, 0.5f);
  }
  void *dq0p = gq[0].p, *dk0p = c.fused ? at(gq[0], act, HD) : gk[0].p,
       *dv0p = c.fused ? at(gq[0], act, 2 * HD) : gv[0].p;
  const std::vector<float> dq0 = gather(dq0p, act, B, Tq, H, D, ldin), dk0 = gather(dk0p, act, B, Tk, H, D, ldin);
  const std::vector<float> dv0 = gather(dv0p, act, B, Tk, H, D, ldin);
  dbuf ws_cuda(leap_attention_workspace_floats_cuda(&s), 4);
  for (int run = 0; run < 2; run++) {
    void *dq = gq[run].p, *dk = c.fused ? at(gq[run], act, HD) : gk[run].p;
    void *dv = c.fused ? at(gq[run], act, 2 * HD) : gv[run].p;
    memset(ws_cuda.p, 0xFF, ws_cuda.bytes);
    leap_emu::set_schedule(run == 1);
    leap_attention_backward_cuda(dq, dk, dv, dout.p, q, k, v, out.p, lse.f(), kl, &s, ws_cuda.f(), act, nullptr);
    leap_emu::set_schedule(false);
  }
  auto check_grad = [&](const char *what, const void *got, int64_t T, const std::vector<float> &start,
                        const std::vector<float> &grad) {
    std::vector<float> want(grad.size());
    for (size_t i = 0; i < grad.size(); i++) want[i] = start[i] + grad[i];
    /* bf16: the result's storage (2^-9 relative) plus P and dS rounded to bf16 for the products. */
    const float scale = fmaxf(max_abs(grad), 0.25f);
    chk.close((base + " " + what).c_str(), gather(got, act, B, T, H, D, ldin).data(), want.data(), want.size(),
              (bf ? 2e-2f : 5e-5f) * scale, bf ? 1e-2f : 1e-5f);
  };
  check_grad("dq", dq0p, Tq, dq0, dq_ref);
  check_grad("dk", dk0p, Tk, dk0, dk_ref);
  check_grad("dv", dv0p, Tk, dv0, dv_ref);
  chk.same_bits((base + " dq/dk/dv").c_str(), gq[0].p, gq[1].p, gq[0].bytes);
  if (!c.fused) {
    chk.same_bits((base + " dk").c_str(), gk[0].p, gk[1].p, gk[0].bytes);
    chk.same_bits((base + " dv").c_str(), gv[0].p, gv[1].p, gv[0].bytes);
  }
  printf("%s %s (%s, guard page %s)\n", chk.failures == fails0 ? "ok  " : "FAIL", name,
         want_mma ? "tensor cores" : "generic", guard_front() ? "before" : "after");
  fflush(stdout);
}

}  // namespace

int main(void) {
  leap_kernels_set_threads(1);
  checker chk;
  /* Every case with the guard page after each tensor, then before it. */
  for (int front = 0; front < 2; front++) {
    guard_front() = front == 1;
    for (const tcase &c : CASES) run_case(c, chk);
  }
  /* LEAP_EMU_RANDOM=n adds n random cases (a longer hunt than ctest's; the seed is n). */
  const char *env = getenv("LEAP_EMU_RANDOM");
  const int nrandom = env ? atoi(env) : 0;
  rng rc((uint64_t)nrandom);
  for (int i = 0; i < nrandom; i++) {
    auto pick = [&rc](int lo, int hi) { return lo + (int)(rc.uniform(0.0f, 1.0f) * (float)(hi - lo + 1) * 0.9999f); };
    tcase c;
    c.act = pick(0, 9) == 0 ? F32 : BF;
    c.D = pick(0, 9) == 0 ? 8 * pick(1, 16) : pick(0, 1) ? 64 : 128;
    c.B = pick(1, 3), c.H = pick(1, 2), c.Tq = pick(1, 260), c.Tk = pick(0, 9) == 0 ? 0 : pick(1, 260);
    c.causal = pick(0, 1), c.fused = pick(0, 3) == 0, c.key_len = pick(0, 2);
    if (c.fused) c.Tk = c.Tq;
    c.pad = pick(0, 2) == 0 ? 8 * pick(1, 3) : pick(0, 9) == 0 ? pick(1, 7) : 0;
    guard_front() = pick(0, 1);
    run_case(c, chk);
  }
  const leap_emu::stats st = leap_emu::get_stats();
  printf("emulated: %llu blocks, %llu mma.sync, %llu ldmatrix, %llu cp.async, %llu barriers\n",
         (unsigned long long)st.blocks, (unsigned long long)st.mma, (unsigned long long)st.ldmatrix,
         (unsigned long long)st.cp_async, (unsigned long long)st.barriers);
  if (chk.failures) {
    fprintf(stderr, "%d checks failed\n", chk.failures);
    return 1;
  }
  printf("all emulated attention cases passed\n");
  return 0;
}
