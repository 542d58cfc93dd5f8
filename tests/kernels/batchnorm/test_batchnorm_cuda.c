/* Batch normalisation CUDA kernels (batchnorm_cuda.cu) against the CPU reference leap_batchnorm_*_cpu: training
 * forward (output, saved mean and invstd, running statistics updated in place), evaluation forward, and both
 * backward passes into gradients that start at random values (accumulation), with and without gamma/beta. Each
 * call runs twice from the same state, outputs and workspace poisoned (NaN) first, and must give the same bits;
 * fp32 and bf16 (against the CPU on the same bf16-rounded inputs). The backward passes take the CPU forward's
 * mean and invstd, so both sides see the same inputs. Row counts are odd and span one and many row blocks.
 *
 * Tolerances: rtol 1e-4 in fp32 and 1e-2 in bf16; atol 1e-4 for the normalised outputs and input gradients
 * (values of order 1) and 1e-4 for the statistics; dgamma and dbeta, sums over all rows, take 1e-3. Without a
 * CUDA device the test prints "skipped" and exits 77. */
#include <cuda_runtime.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/batchnorm/batchnorm.h"
#include "tests/common/leap_test.h"

#include "tests/common/leap_test_cuda.h"

typedef struct bn_case {
  const char *name;
  int64_t M, C;
  bool affine;
} bn_case;

static const bn_case CASES[] = {
    {"M2 C3", 2, 3, true},       {"M37 C5 no affine", 37, 5, false}, {"M130 C17", 130, 17, true},
    {"M1000 C67", 1000, 67, true}, {"M4099 C3 no affine", 4099, 3, false},
};

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

/* Host inputs (rounded to act where they are activations), the CPU's results, and the device buffers. */
typedef struct bn_data {
  const bn_case *c;
  leap_dtype act;
  int64_t n;
  float *inp, *gamma, *beta, *rmean0, *rvar0, *dout, *dinp0, *dgamma0, *dbeta0;
  float *out_train, *mean, *invstd, *rmean, *rvar, *out_eval;
  float *dinp_train, *dgamma_train, *dbeta_train, *dinp_eval, *dgamma_eval, *dbeta_eval;
  /* device */
  void *d_inp, *d_dout, *d_out, *d_dinp;
  float *d_gamma, *d_beta, *d_mean, *d_invstd, *d_rmean, *d_rvar, *d_dgamma, *d_dbeta, *d_ws;
  int64_t ws_floats;
} bn_data;

static float *fill(int64_t n, float lo, float hi, uint64_t seed) {
  float *x = tc_host(n);
  leap_test_fill_uniform(x, n, lo, hi, seed);
  return x;
}

static void cpu_results(bn_data *b) {
  const int64_t M = b->c->M, C = b->c->C;
  const float *g = b->c->affine ? b->gamma : NULL, *be = b->c->affine ? b->beta : NULL;
  float *ws = tc_host((int64_t)leap_batchnorm_workspace_floats(M, C));
  b->out_train = tc_host(b->n), b->mean = tc_host(C), b->invstd = tc_host(C), b->out_eval = tc_host(b->n);
  b->rmean = tc_dup(b->rmean0, C), b->rvar = tc_dup(b->rvar0, C);
  leap_batchnorm_forward_train_cpu(b->out_train, b->mean, b->invstd, b->rmean, b->rvar, b->inp, g, be, M, C,
                                   BN_MOMENTUM, BN_EPS, ws);
  leap_batchnorm_forward_eval_cpu(b->out_eval, b->inp, g, be, b->rmean0, b->rvar0, M, C, BN_EPS, ws);
  b->dinp_train = tc_dup(b->dinp0, b->n), b->dgamma_train = tc_dup(b->dgamma0, C);
  b->dbeta_train = tc_dup(b->dbeta0, C);
  leap_batchnorm_backward_train_cpu(b->dinp_train, b->dgamma_train, b->dbeta_train, b->dout, b->inp, g, b->mean,
                                    b->invstd, M, C, ws);
  b->dinp_eval = tc_dup(b->dinp0, b->n), b->dgamma_eval = tc_dup(b->dgamma0, C), b->dbeta_eval = tc_dup(b->dbeta0, C);
  leap_batchnorm_backward_eval_cpu(b->dinp_eval, b->dgamma_eval, b->dbeta_eval, b->dout, b->inp, g, b->rmean0,
                                   b->rvar0, M, C, BN_EPS, ws);
  free(ws);
}

static void data_init(bn_data *b, const bn_case *c, leap_dtype act, uint64_t seed) {
  memset(b, 0, sizeof *b);
  b->c = c, b->act = act, b->n = c->M * c->C;
  const int64_t C = c->C;
  b->inp = fill(b->n, -1.0f, 2.0f, seed), b->dout = fill(b->n, -1.0f, 1.0f, seed + 1);
  b->dinp0 = fill(b->n, -1.0f, 1.0f, seed + 2);
  b->gamma = fill(C, 0.5f, 1.5f, seed + 3), b->beta = fill(C, -0.5f, 0.5f, seed + 4);
  b->rmean0 = fill(C, -0.5f, 0.5f, seed + 5), b->rvar0 = fill(C, 0.5f, 1.5f, seed + 6);
  b->dgamma0 = fill(C, -1.0f, 1.0f, seed + 7), b->dbeta0 = fill(C, -1.0f, 1.0f, seed + 8);
  tc_round(b->inp, b->n, act), tc_round(b->dout, b->n, act), tc_round(b->dinp0, b->n, act);
  cpu_results(b);
  b->d_inp = tc_upload(b->inp, b->n, act), b->d_dout = tc_upload(b->dout, b->n, act);
  b->d_out = tc_alloc(b->n, act), b->d_dinp = tc_alloc(b->n, act);
  b->d_gamma = c->affine ? tc_upload(b->gamma, C, LEAP_F32) : NULL;
  b->d_beta = c->affine ? tc_upload(b->beta, C, LEAP_F32) : NULL;
  b->d_mean = tc_alloc(C, LEAP_F32), b->d_invstd = tc_alloc(C, LEAP_F32);
  b->d_rmean = tc_alloc(C, LEAP_F32), b->d_rvar = tc_upload(b->rvar0, C, LEAP_F32);
  b->d_dgamma = tc_alloc(C, LEAP_F32), b->d_dbeta = tc_alloc(C, LEAP_F32);
  b->ws_floats = (int64_t)leap_batchnorm_workspace_floats_cuda(c->M, C);
  b->d_ws = tc_alloc(b->ws_floats, LEAP_F32);
}

static void data_free(bn_data *b) {
  float *h[] = {b->inp, b->gamma, b->beta, b->rmean0, b->rvar0, b->dout, b->dinp0, b->dgamma0, b->dbeta0,
                b->out_train, b->mean, b->invstd, b->rmean, b->rvar, b->out_eval, b->dinp_train, b->dgamma_train,
                b->dbeta_train, b->dinp_eval, b->dgamma_eval, b->dbeta_eval};
  for (size_t i = 0; i < sizeof h / sizeof *h; i++) free(h[i]);
  void *d[] = {b->d_inp, b->d_dout, b->d_out, b->d_dinp, b->d_gamma, b->d_beta, b->d_mean, b->d_invstd, b->d_rmean,
               b->d_rvar, b->d_dgamma, b->d_dbeta, b->d_ws};
  for (size_t i = 0; i < sizeof d / sizeof *d; i++)
    if (d[i]) TC_CHECK(cudaFree(d[i]));
}

static void launch_forward_train(void *user) {
  bn_data *b = user;
  leap_batchnorm_forward_train_cuda(b->d_out, b->d_mean, b->d_invstd, b->d_rmean, b->d_rvar, b->d_inp, b->d_gamma,
                                    b->d_beta, b->c->M, b->c->C, BN_MOMENTUM, BN_EPS, b->d_ws, b->act, g_stream);
}

static void launch_forward_eval(void *user) {
  bn_data *b = user;
  leap_batchnorm_forward_eval_cuda(b->d_out, b->d_inp, b->d_gamma, b->d_beta, b->d_rmean, b->d_rvar, b->c->M,
                                   b->c->C, BN_EPS, b->d_ws, b->act, g_stream);
}

/* The training backward reads the CPU forward's statistics, uploaded into d_mean and d_invstd. */
static void launch_backward_train(void *user) {
  bn_data *b = user;
  leap_batchnorm_backward_train_cuda(b->d_dinp, b->d_dgamma, b->d_dbeta, b->d_dout, b->d_inp, b->d_gamma, b->d_mean,
                                     b->d_invstd, b->c->M, b->c->C, b->d_ws, b->act, g_stream);
}

static void launch_backward_eval(void *user) {
  bn_data *b = user;
  leap_batchnorm_backward_eval_cuda(b->d_dinp, b->d_dgamma, b->d_dbeta, b->d_dout, b->d_inp, b->d_gamma, b->d_rmean,
                                    b->d_rvar, b->c->M, b->c->C, BN_EPS, b->d_ws, b->act, g_stream);
}

static void check_case(const bn_case *c, leap_dtype act, uint64_t seed) {
  bn_data b;
  data_init(&b, c, act, seed);
  const int64_t C = c->C;
  const double a_out = act == LEAP_BF16 ? 1e-3 : 1e-4, a_stat = 1e-4, a_param = 1e-3;
  tc_result ws = {"workspace", b.d_ws, LEAP_F32, b.ws_floats, NULL, NULL, 0.0};
  tc_result train[] = {
      {"train forward out", b.d_out, act, b.n, NULL, b.out_train, a_out},
      {"train forward mean", b.d_mean, LEAP_F32, C, NULL, b.mean, a_stat},
      {"train forward invstd", b.d_invstd, LEAP_F32, C, NULL, b.invstd, a_stat},
      {"running mean", b.d_rmean, LEAP_F32, C, b.rmean0, b.rmean, a_stat},
      {"running var", b.d_rvar, LEAP_F32, C, b.rvar0, b.rvar, a_stat},
      ws,
  };
  tc_check_runs(c->name, act, train, 6, launch_forward_train, &b);
  tc_result eval[] = {{"eval forward out", b.d_out, act, b.n, NULL, b.out_eval, a_out}, ws};
  tc_set(b.d_rmean, b.rmean0, C, LEAP_F32), tc_set(b.d_rvar, b.rvar0, C, LEAP_F32);
  tc_check_runs(c->name, act, eval, 2, launch_forward_eval, &b);
  tc_set(b.d_mean, b.mean, C, LEAP_F32), tc_set(b.d_invstd, b.invstd, C, LEAP_F32);
  tc_result btrain[] = {
      {"train backward dinp", b.d_dinp, act, b.n, b.dinp0, b.dinp_train, a_out},
      {"train backward dgamma", b.d_dgamma, LEAP_F32, C, b.dgamma0, b.dgamma_train, a_param},
      {"train backward dbeta", b.d_dbeta, LEAP_F32, C, b.dbeta0, b.dbeta_train, a_param},
      ws,
  };
  tc_check_runs(c->name, act, btrain, 4, launch_backward_train, &b);
  tc_result beval[] = {
      {"eval backward dinp", b.d_dinp, act, b.n, b.dinp0, b.dinp_eval, a_out},
      {"eval backward dgamma", b.d_dgamma, LEAP_F32, C, b.dgamma0, b.dgamma_eval, a_param},
      {"eval backward dbeta", b.d_dbeta, LEAP_F32, C, b.dbeta0, b.dbeta_eval, a_param},
      ws,
  };
  tc_check_runs(c->name, act, beval, 4, launch_backward_eval, &b);
  data_free(&b);
}

int main(void) {
  if (!tc_init()) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  const leap_dtype acts[2] = {LEAP_F32, LEAP_BF16};
  for (int a = 0; a < 2; a++)
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) check_case(&CASES[i], acts[a], 40 + 10 * i);
  TC_CHECK(cudaStreamDestroy(g_stream));
  return leap_test_finish();
}
