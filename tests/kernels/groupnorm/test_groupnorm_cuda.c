/* Group normalisation CUDA kernels (groupnorm_cuda.cu) against the CPU reference leap_groupnorm_*_cpu: forward
 * (output, saved mean and rstd) and backward into gradients that start at random values (accumulation), with and
 * without gamma/beta, one group per channel, one group for all channels, single-pixel images and images spanning
 * several row blocks. Each call runs twice from the same state, outputs and workspace poisoned (NaN) first, and
 * must give the same bits; fp32 and bf16 (against the CPU on the same bf16-rounded inputs). Backward takes the
 * CPU forward's mean and rstd, so both sides see the same inputs.
 *
 * Tolerances: rtol 1e-4 in fp32 and 1e-2 in bf16; atol 1e-4 for outputs, input gradients and statistics (values
 * of order 1), 1e-3 for dgamma and dbeta (sums over every image and row). Without a CUDA device the test prints
 * "skipped" and exits 77. */
#include <cuda_runtime.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/groupnorm/groupnorm.h"
#include "tests/common/leap_test.h"

#include "tests/common/leap_test_cuda.h"

typedef struct gn_case {
  const char *name;
  int64_t N, HW, C, G;
  bool affine;
} gn_case;

static const gn_case CASES[] = {
    {"7x7 C12 G3", 2, 49, 12, 3, true},
    {"HW130 C32 G8 no affine", 3, 130, 32, 8, false},
    {"one channel per group", 1, 7, 6, 6, true},
    {"one group", 2, 300, 20, 1, true},
    {"one pixel", 5, 1, 8, 2, true},
};

#define GN_EPS 1e-5f

typedef struct gn_data {
  const gn_case *c;
  leap_dtype act;
  int64_t n, ng;
  float *inp, *gamma, *beta, *dout, *dinp0, *dgamma0, *dbeta0;
  float *out, *mean, *rstd, *dinp, *dgamma, *dbeta;
  void *d_inp, *d_dout, *d_out, *d_dinp;
  float *d_gamma, *d_beta, *d_mean, *d_rstd, *d_dgamma, *d_dbeta, *d_ws;
  int64_t ws_floats;
} gn_data;

static float *fill(int64_t n, float lo, float hi, uint64_t seed) {
  float *x = tc_host(n);
  leap_test_fill_uniform(x, n, lo, hi, seed);
  return x;
}

static void data_init(gn_data *g, const gn_case *c, leap_dtype act, uint64_t seed) {
  memset(g, 0, sizeof *g);
  g->c = c, g->act = act, g->n = c->N * c->HW * c->C, g->ng = c->N * c->G;
  const int64_t C = c->C;
  g->inp = fill(g->n, -1.0f, 2.0f, seed), g->dout = fill(g->n, -1.0f, 1.0f, seed + 1);
  g->dinp0 = fill(g->n, -1.0f, 1.0f, seed + 2);
  g->gamma = fill(C, 0.5f, 1.5f, seed + 3), g->beta = fill(C, -0.5f, 0.5f, seed + 4);
  g->dgamma0 = fill(C, -1.0f, 1.0f, seed + 5), g->dbeta0 = fill(C, -1.0f, 1.0f, seed + 6);
  tc_round(g->inp, g->n, act), tc_round(g->dout, g->n, act), tc_round(g->dinp0, g->n, act);

  const float *gm = c->affine ? g->gamma : NULL, *bt = c->affine ? g->beta : NULL;
  float *ws = tc_host((int64_t)leap_groupnorm_workspace_floats(c->N, c->HW, C));
  g->out = tc_host(g->n), g->mean = tc_host(g->ng), g->rstd = tc_host(g->ng);
  leap_groupnorm_forward_cpu(g->out, g->mean, g->rstd, g->inp, gm, bt, c->N, c->HW, C, c->G, GN_EPS, ws);
  g->dinp = tc_dup(g->dinp0, g->n), g->dgamma = tc_dup(g->dgamma0, C), g->dbeta = tc_dup(g->dbeta0, C);
  leap_groupnorm_backward_cpu(g->dinp, g->dgamma, g->dbeta, g->dout, g->inp, gm, g->mean, g->rstd, c->N, c->HW, C,
                              c->G, ws);
  free(ws);

  g->d_inp = tc_upload(g->inp, g->n, act), g->d_dout = tc_upload(g->dout, g->n, act);
  g->d_out = tc_alloc(g->n, act), g->d_dinp = tc_alloc(g->n, act);
  g->d_gamma = c->affine ? tc_upload(g->gamma, C, LEAP_F32) : NULL;
  g->d_beta = c->affine ? tc_upload(g->beta, C, LEAP_F32) : NULL;
  g->d_mean = tc_alloc(g->ng, LEAP_F32), g->d_rstd = tc_alloc(g->ng, LEAP_F32);
  g->d_dgamma = tc_alloc(C, LEAP_F32), g->d_dbeta = tc_alloc(C, LEAP_F32);
  g->ws_floats = (int64_t)leap_groupnorm_workspace_floats_cuda(c->N, c->HW, C);
  g->d_ws = tc_alloc(g->ws_floats, LEAP_F32);
}

static void data_free(gn_data *g) {
  float *h[] = {g->inp, g->gamma, g->beta, g->dout, g->dinp0, g->dgamma0, g->dbeta0,
                g->out, g->mean,  g->rstd, g->dinp, g->dgamma, g->dbeta};
  for (size_t i = 0; i < sizeof h / sizeof *h; i++) free(h[i]);
  void *d[] = {g->d_inp,  g->d_dout, g->d_out,    g->d_dinp,   g->d_gamma, g->d_beta,
               g->d_mean, g->d_rstd, g->d_dgamma, g->d_dbeta, g->d_ws};
  for (size_t i = 0; i < sizeof d / sizeof *d; i++)
    if (d[i]) TC_CHECK(cudaFree(d[i]));
}

static void launch_forward(void *user) {
  gn_data *g = user;
  const gn_case *c = g->c;
  leap_groupnorm_forward_cuda(g->d_out, g->d_mean, g->d_rstd, g->d_inp, g->d_gamma, g->d_beta, c->N, c->HW, c->C,
                              c->G, GN_EPS, g->d_ws, g->act, g_stream);
}

/* Backward reads the CPU forward's statistics, uploaded into d_mean and d_rstd. */
static void launch_backward(void *user) {
  gn_data *g = user;
  const gn_case *c = g->c;
  leap_groupnorm_backward_cuda(g->d_dinp, g->d_dgamma, g->d_dbeta, g->d_dout, g->d_inp, g->d_gamma, g->d_mean,
                               g->d_rstd, c->N, c->HW, c->C, c->G, g->d_ws, g->act, g_stream);
}

static void check_case(const gn_case *c, leap_dtype act, uint64_t seed) {
  gn_data g;
  data_init(&g, c, act, seed);
  const double a_out = act == LEAP_BF16 ? 1e-3 : 1e-4, a_stat = 1e-4, a_param = 1e-3;
  tc_result ws = {"workspace", g.d_ws, LEAP_F32, g.ws_floats, NULL, NULL, 0.0};
  tc_result fwd[] = {
      {"forward out", g.d_out, act, g.n, NULL, g.out, a_out},
      {"forward mean", g.d_mean, LEAP_F32, g.ng, NULL, g.mean, a_stat},
      {"forward rstd", g.d_rstd, LEAP_F32, g.ng, NULL, g.rstd, a_stat},
      ws,
  };
  tc_check_runs(c->name, act, fwd, 4, launch_forward, &g);
  tc_set(g.d_mean, g.mean, g.ng, LEAP_F32), tc_set(g.d_rstd, g.rstd, g.ng, LEAP_F32);
  tc_result bwd[] = {
      {"backward dinp", g.d_dinp, act, g.n, g.dinp0, g.dinp, a_out},
      {"backward dgamma", g.d_dgamma, LEAP_F32, c->C, g.dgamma0, g.dgamma, a_param},
      {"backward dbeta", g.d_dbeta, LEAP_F32, c->C, g.dbeta0, g.dbeta, a_param},
      ws,
  };
  tc_check_runs(c->name, act, bwd, 4, launch_backward, &g);
  data_free(&g);
}

int main(void) {
  if (!tc_init()) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  const leap_dtype acts[2] = {LEAP_F32, LEAP_BF16};
  for (int a = 0; a < 2; a++)
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) check_case(&CASES[i], acts[a], 70 + 10 * i);
  TC_CHECK(cudaStreamDestroy(g_stream));
  return leap_test_finish();
}
