/* Every differentiable op, through the tape: finite differences of L = sum(out * W) (W random) against the
 * gradients the tape accumulates, for every float input, over a table of cases with odd sizes. This checks the op
 * layer's plumbing (shapes, saved tensors, which input gets which gradient) on top of the kernels' own checks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/leap_test.h"
#include "train/core/ops.h"

#define MAX_IN 4

typedef struct op_case {
  const char *name;
  int n_in;
  int ndim[MAX_IN];
  int64_t shape[MAX_IN][LEAP_MAX_DIMS];
  bool is_int[MAX_IN];  /* i32 inputs (ids, targets): no gradient */
  int int_range;        /* ids drawn from [0, int_range) */
  leap_tensor *(*run)(leap_ctx *ctx, leap_tensor **in);
} op_case;

static leap_tensor *run_matmul(leap_ctx *c, leap_tensor **in) { return leap_matmul(c, in[0], in[1], false, true); }
static leap_tensor *run_matmul_ta(leap_ctx *c, leap_tensor **in) { return leap_matmul(c, in[0], in[1], true, false); }
static leap_tensor *run_linear(leap_ctx *c, leap_tensor **in) { return leap_linear(c, in[0], in[1], in[2]); }
static leap_tensor *run_linear_gelu(leap_ctx *c, leap_tensor **in) { return leap_linear_gelu(c, in[0], in[1], in[2]); }
static leap_tensor *run_add(leap_ctx *c, leap_tensor **in) { return leap_add(c, in[0], in[1]); }
static leap_tensor *run_mul(leap_ctx *c, leap_tensor **in) { return leap_mul(c, in[0], in[1]); }
static leap_tensor *run_scale(leap_ctx *c, leap_tensor **in) { return leap_scale(c, in[0], -1.7f); }
static leap_tensor *run_embedding(leap_ctx *c, leap_tensor **in) { return leap_embedding(c, in[0], in[1]); }
static leap_tensor *run_layernorm(leap_ctx *c, leap_tensor **in) { return leap_layernorm(c, in[0], in[1], in[2], 1e-5f); }
static leap_tensor *run_gelu(leap_ctx *c, leap_tensor **in) { return leap_gelu(c, in[0]); }
static leap_tensor *run_relu(leap_ctx *c, leap_tensor **in) { return leap_relu(c, in[0]); }
static leap_tensor *run_softmax(leap_ctx *c, leap_tensor **in) { return leap_softmax(c, in[0]); }
static leap_tensor *run_ce(leap_ctx *c, leap_tensor **in) { return leap_cross_entropy(c, in[0], in[1], 2); }
static leap_tensor *run_mse(leap_ctx *c, leap_tensor **in) { return leap_mse(c, in[0], in[1]); }
static leap_tensor *run_conv(leap_ctx *c, leap_tensor **in) { return leap_conv2d(c, in[0], in[1], in[2], 2, 1); }
static leap_tensor *run_conv1(leap_ctx *c, leap_tensor **in) { return leap_conv2d(c, in[0], in[1], in[2], 1, 0); }
static leap_tensor *run_conv_relu(leap_ctx *c, leap_tensor **in) { return leap_conv2d_relu(c, in[0], in[1], in[2], 1, 1); }
static leap_tensor *run_bn(leap_ctx *c, leap_tensor **in) {
  int64_t C = in[1]->shape[0];
  leap_tensor *mean = leap_ctx_tensor(c, LEAP_F32, 1, &C, true), *var = leap_ctx_tensor(c, LEAP_F32, 1, &C, true);
  return leap_batchnorm(c, in[0], in[1], in[2], mean, var, 0.1f, 1e-5f);
}
static leap_tensor *run_gn(leap_ctx *c, leap_tensor **in) { return leap_groupnorm(c, in[0], in[1], in[2], 3, 1e-5f); }
static leap_tensor *run_maxpool(leap_ctx *c, leap_tensor **in) { return leap_maxpool(c, in[0], 3, 2, 1); }
static leap_tensor *run_avgpool(leap_ctx *c, leap_tensor **in) { return leap_avgpool(c, in[0], 2, 2, 0); }
static leap_tensor *run_gap(leap_ctx *c, leap_tensor **in) { return leap_global_avgpool(c, in[0]); }
static leap_tensor *run_reshape(leap_ctx *c, leap_tensor **in) {
  int64_t shape[2] = {-1, 6};
  return leap_gelu(c, leap_reshape(c, in[0], 2, shape));
}
static leap_tensor *run_transpose(leap_ctx *c, leap_tensor **in) { return leap_transpose(c, in[0], (int[]){2, 0, 1}); }
static leap_tensor *run_concat(leap_ctx *c, leap_tensor **in) { return leap_concat(c, 2, in, 1); }
static leap_tensor *run_slice(leap_ctx *c, leap_tensor **in) { return leap_slice(c, in[0], 1, 1, 4); }
static leap_tensor *run_dropout(leap_ctx *c, leap_tensor **in) { return leap_dropout(c, in[0], 0.3f); }
static leap_tensor *run_attn(leap_ctx *c, leap_tensor **in) { return leap_attention(c, in[0], in[1], in[2], NULL, 2, false); }
static leap_tensor *run_attn_qkv(leap_ctx *c, leap_tensor **in) { return leap_attention_qkv(c, in[0], NULL, 3, true); }

static const op_case g_cases[] = {
    {"matmul a x b^T (batched, broadcast b)", 2, {3, 2}, {{2, 3, 5}, {4, 5}}, {0}, 0, run_matmul},
    {"matmul a^T x b (batched)", 2, {3, 3}, {{2, 5, 3}, {2, 5, 4}}, {0}, 0, run_matmul_ta},
    {"linear", 3, {3, 2, 1}, {{2, 3, 7}, {5, 7}, {5}}, {0}, 0, run_linear},
    {"linear_gelu", 3, {3, 2, 1}, {{2, 3, 7}, {5, 7}, {5}}, {0}, 0, run_linear_gelu},
    {"add broadcast", 2, {3, 1}, {{3, 2, 5}, {5}}, {0}, 0, run_add},
    {"mul same shape", 2, {2, 2}, {{3, 7}, {3, 7}}, {0}, 0, run_mul},
    {"scale", 1, {2}, {{3, 5}}, {0}, 0, run_scale},
    {"embedding", 2, {2, 2}, {{11, 6}, {3, 5}}, {false, true}, 11, run_embedding},
    {"layernorm", 3, {3, 1, 1}, {{2, 3, 9}, {9}, {9}}, {0}, 0, run_layernorm},
    {"gelu", 1, {2}, {{4, 9}}, {0}, 0, run_gelu},
    {"relu", 1, {2}, {{4, 9}}, {0}, 0, run_relu},
    {"softmax", 1, {3}, {{2, 3, 7}}, {0}, 0, run_softmax},
    {"cross_entropy (ignore 2)", 2, {2, 1}, {{9, 5}, {9}}, {false, true}, 5, run_ce},
    {"mse", 2, {2, 2}, {{3, 5}, {3, 5}}, {0}, 0, run_mse},
    {"conv2d 3x3 stride 2 pad 1", 3, {4, 4, 1}, {{2, 7, 6, 3}, {4, 3, 3, 3}, {4}}, {0}, 0, run_conv},
    {"conv2d 1x1", 3, {4, 4, 1}, {{2, 3, 5, 4}, {3, 1, 1, 4}, {3}}, {0}, 0, run_conv1},
    {"conv2d_relu 3x3 pad 1", 3, {4, 4, 1}, {{2, 5, 4, 3}, {4, 3, 3, 3}, {4}}, {0}, 0, run_conv_relu},
    {"batchnorm (training)", 3, {4, 1, 1}, {{3, 2, 3, 5}, {5}, {5}}, {0}, 0, run_bn},
    {"groupnorm", 3, {4, 1, 1}, {{2, 3, 2, 6}, {6}, {6}}, {0}, 0, run_gn},
    {"maxpool 3 stride 2 pad 1", 1, {4}, {{2, 7, 5, 3}}, {0}, 0, run_maxpool},
    {"avgpool 2", 1, {4}, {{2, 6, 4, 3}}, {0}, 0, run_avgpool},
    {"global avgpool", 1, {4}, {{2, 3, 5, 4}}, {0}, 0, run_gap},
    {"reshape then gelu", 1, {3}, {{2, 3, 4}}, {0}, 0, run_reshape},
    {"transpose", 1, {3}, {{2, 3, 5}}, {0}, 0, run_transpose},
    {"concat", 2, {3, 3}, {{2, 3, 4}, {2, 2, 4}}, {0}, 0, run_concat},
    {"slice", 1, {3}, {{2, 5, 3}}, {0}, 0, run_slice},
    {"dropout p=0.3", 1, {2}, {{5, 7}}, {0}, 0, run_dropout},
    {"attention cross (Tq 5, Tk 7, 2 heads)", 3, {3, 3, 3}, {{2, 5, 8}, {2, 7, 8}, {2, 7, 8}}, {0}, 0, run_attn},
    {"attention fused qkv causal (3 heads)", 1, {3}, {{2, 6, 18}}, {0}, 0, run_attn_qkv},
};

typedef struct probe {
  const op_case *c;
  leap_ctx *ctx;
  leap_tensor **in;
  const float *w;
} probe;

static double eval_loss(void *user) {
  probe *p = user;
  leap_ctx_begin_step(p->ctx);
  p->ctx->rng_offset = 0;
  leap_tensor *out = p->c->run(p->ctx, p->in);
  return out ? leap_test_dot(leap_f32(out), p->w, leap_tensor_numel(out)) : NAN;
}

static void check_case(const op_case *c, leap_runtime *rt) {
  leap_error err = {0};
  leap_tensor *in[MAX_IN] = {0};
  for (int i = 0; i < c->n_in; i++) {
    in[i] = leap_tensor_create(LEAP_CPU, c->is_int[i] ? LEAP_I32 : LEAP_F32, c->ndim[i], c->shape[i], "input",
                               !c->is_int[i], &err);
    int64_t n = leap_tensor_numel(in[i]);
    if (c->is_int[i]) leap_test_fill_int(leap_i32(in[i]), n, 0, c->int_range, 50 + (uint64_t)i);
    else leap_test_fill_uniform(leap_f32(in[i]), n, -1.0f, 1.0f, 100 + (uint64_t)i);
  }
  leap_ctx ctx;
  leap_ctx_init(&ctx, rt, 5);
  leap_ctx_begin_step(&ctx);
  leap_tensor *out = c->run(&ctx, in);
  if (!LEAP_TEST_ASSERT(out != NULL, "%s: forward failed: %s", c->name, ctx.err.message)) return;
  int64_t n_out = leap_tensor_numel(out);
  float *w = malloc(sizeof(float) * (size_t)n_out);
  leap_test_fill_uniform(w, n_out, -1.0f, 1.0f, 7);
  leap_tensor *g = leap_ctx_tensor(&ctx, LEAP_F32, out->ndim, out->shape, false);
  memcpy(g->data, w, sizeof(float) * (size_t)n_out);
  LEAP_TEST_ASSERT(leap_backward_with_grad(&ctx, out, g) == LEAP_OK, "%s: %s", c->name, ctx.err.message);
  probe p = {c, &ctx, in, w};
  for (int i = 0; i < c->n_in; i++) {
    if (c->is_int[i]) continue;
    int64_t n = leap_tensor_numel(in[i]);
    float *analytic = malloc(sizeof(float) * (size_t)n);
    memcpy(analytic, in[i]->grad->data, sizeof(float) * (size_t)n);
    char what[160];
    snprintf(what, sizeof what, "%s, input %d", c->name, i);
    /* fp32 forward, central differences with step 1e-3: small enough that relu and max-pool kinks are rarely
     * crossed by random inputs, large enough that fp32 rounding of the loss stays near 1e-4 of the derivative. */
    leap_test_gradcheck(what, eval_loss, &p, leap_f32(in[i]), analytic, n, 1e-3, 2e-3, 2e-2, 200);
    free(analytic);
  }
  free(w);
  leap_ctx_free(&ctx);
  for (int i = 0; i < c->n_in; i++) leap_tensor_destroy(in[i]);
}

int main(void) {
  leap_runtime rt;
  leap_error err = {0};
  leap_runtime_init(&rt, LEAP_CPU, 2, &err);
  for (size_t i = 0; i < sizeof g_cases / sizeof g_cases[0]; i++) check_case(&g_cases[i], &rt);
  return leap_test_finish();
}
