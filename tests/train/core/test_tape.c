/* Tape semantics: a tensor used twice, frozen parameters, no-grad mode, gradient accumulation over micro-batches,
 * memory reuse from step to step, and the errors a user can cause. */
#include <math.h>
#include <string.h>

#include "tests/common/leap_test.h"
#include "train/core/ops.h"
#include "train/core/optimizer.h"
#include "train/core/params.h"

static leap_runtime g_rt;

static leap_tensor *param(leap_params *ps, const char *name, int ndim, const int64_t *shape, uint64_t seed) {
  leap_error err = {0};
  leap_tensor *t = leap_params_add(ps, name, ndim, shape, LEAP_PARAM_TRAINABLE, true, &err);
  leap_test_fill_uniform(leap_f32(t), leap_tensor_numel(t), -1.0f, 1.0f, seed);
  return t;
}

static void test_used_twice(void) {
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  int64_t shape[1] = {7};
  leap_tensor *x = param(&ps, "x", 1, shape, 1);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  leap_ctx_begin_step(&ctx);
  /* y = x*x + x, so dy/dx = 2x + 1 through three uses of x. */
  leap_tensor *y = leap_add(&ctx, leap_mul(&ctx, x, x), x);
  leap_tensor *ones = leap_ctx_tensor(&ctx, LEAP_F32, 1, shape, false);
  for (int i = 0; i < 7; i++) leap_f32(ones)[i] = 1.0f;
  LEAP_TEST_ASSERT(leap_backward_with_grad(&ctx, y, ones) == LEAP_OK, "%s", ctx.err.message);
  float want[7];
  for (int i = 0; i < 7; i++) want[i] = 2.0f * leap_f32(x)[i] + 1.0f;
  leap_test_allclose("d(x*x+x)/dx", leap_f32(x->grad), want, 7, 1e-6, 1e-6);
  leap_ctx_free(&ctx);
  leap_params_free(&ps);
}

/* A linear model with MSE; returns the loss after backward with the given scale. */
static float linear_mse_step(leap_ctx *ctx, leap_tensor *w, leap_tensor *b, const float *xs, const float *ys, int rows,
                             float scale) {
  leap_ctx_begin_step(ctx);
  int64_t xshape[2] = {rows, 5}, yshape[2] = {rows, 3};
  leap_tensor *x = leap_ctx_tensor(ctx, LEAP_F32, 2, xshape, false), *y = leap_ctx_tensor(ctx, LEAP_F32, 2, yshape, false);
  memcpy(x->data, xs, sizeof(float) * (size_t)rows * 5);
  memcpy(y->data, ys, sizeof(float) * (size_t)rows * 3);
  leap_tensor *loss = leap_mse(ctx, leap_linear(ctx, x, w, b), y);
  LEAP_TEST_ASSERT(leap_backward(ctx, loss, scale) == LEAP_OK, "%s", ctx->err.message);
  return loss ? leap_f32(loss)[0] : NAN;
}

static void test_accumulation(void) {
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  int64_t ws[2] = {3, 5}, bs[1] = {3};
  leap_tensor *w = param(&ps, "w", 2, ws, 2), *b = param(&ps, "b", 1, bs, 3);
  float xs[16 * 5], ys[16 * 3];
  leap_test_fill_uniform(xs, 16 * 5, -1, 1, 4);
  leap_test_fill_uniform(ys, 16 * 3, -1, 1, 5);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  linear_mse_step(&ctx, w, b, xs, ys, 16, 1.0f);
  float full_w[15], full_b[3];
  memcpy(full_w, w->grad->data, sizeof full_w);
  memcpy(full_b, b->grad->data, sizeof full_b);
  leap_params_zero_grad(&ps);
  for (int m = 0; m < 4; m++) linear_mse_step(&ctx, w, b, xs + m * 4 * 5, ys + m * 4 * 3, 4, 0.25f);
  leap_test_allclose("accumulated dW", leap_f32(w->grad), full_w, 15, 1e-6, 1e-5);
  leap_test_allclose("accumulated db", leap_f32(b->grad), full_b, 3, 1e-6, 1e-5);
  leap_ctx_free(&ctx);
  leap_params_free(&ps);
}

static void test_frozen_and_no_grad(void) {
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  int64_t ws[2] = {3, 5}, bs[1] = {3};
  leap_tensor *w = param(&ps, "enc.w", 2, ws, 2), *b = param(&ps, "head.b", 1, bs, 3);
  LEAP_TEST_ASSERT(leap_params_freeze(&ps, "enc.") == 1, "one parameter frozen");
  leap_optimizer opt;
  leap_error err = {0};
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_ADAMW);
  leap_optimizer_create(&opt, &ps, &oc, &err);
  LEAP_TEST_ASSERT(opt.state_a[0] == NULL && opt.state_b[0] == NULL, "a frozen parameter has no optimizer state");
  LEAP_TEST_ASSERT(opt.state_a[1] != NULL, "a trainable parameter has optimizer state");
  float xs[4 * 5], ys[4 * 3], w_before[15];
  leap_test_fill_uniform(xs, 20, -1, 1, 6);
  leap_test_fill_uniform(ys, 12, -1, 1, 7);
  memcpy(w_before, w->data, sizeof w_before);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  linear_mse_step(&ctx, w, b, xs, ys, 4, 1.0f);
  LEAP_TEST_ASSERT(w->grad == NULL, "a frozen parameter gets no gradient");
  leap_optimizer_step(&opt, 0.1f);
  LEAP_TEST_ASSERT(memcmp(w_before, w->data, sizeof w_before) == 0, "the optimizer leaves a frozen parameter alone");
  /* No-grad mode records nothing and still computes. */
  leap_ctx_begin_step(&ctx);
  ctx.grad_enabled = false;
  int64_t xshape[2] = {4, 5};
  leap_tensor *x = leap_ctx_tensor(&ctx, LEAP_F32, 2, xshape, true);
  leap_tensor *out = leap_relu(&ctx, leap_linear(&ctx, x, w, b));
  LEAP_TEST_ASSERT(out && ctx.tape.count == 0 && !out->requires_grad, "no-grad mode recorded %d ops", ctx.tape.count);
  leap_optimizer_destroy(&opt);
  leap_ctx_free(&ctx);
  leap_params_free(&ps);
}

static void test_memory_reuse(void) {
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  int64_t ws[2] = {3, 5}, bs[1] = {3};
  leap_tensor *w = param(&ps, "w", 2, ws, 2), *b = param(&ps, "b", 1, bs, 3);
  float xs[64 * 5], ys[64 * 3];
  leap_test_fill_uniform(xs, 64 * 5, -1, 1, 8);
  leap_test_fill_uniform(ys, 64 * 3, -1, 1, 9);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  for (int i = 0; i < 2; i++) linear_mse_step(&ctx, w, b, xs, ys, 64, 1.0f);
  int64_t data_allocs = ctx.data.system_allocs, meta_allocs = ctx.meta.system_allocs;
  int capacity = ctx.tape.capacity;
  for (int i = 0; i < 5; i++) linear_mse_step(&ctx, w, b, xs, ys, 64, 1.0f);
  LEAP_TEST_ASSERT(ctx.data.system_allocs == data_allocs && ctx.meta.system_allocs == meta_allocs,
                   "steady-state steps allocated (data %lld -> %lld, meta %lld -> %lld)", (long long)data_allocs,
                   (long long)ctx.data.system_allocs, (long long)meta_allocs, (long long)ctx.meta.system_allocs);
  LEAP_TEST_ASSERT(ctx.tape.capacity == capacity, "the tape grew in steady state");
  leap_ctx_free(&ctx);
  leap_params_free(&ps);
}

static void test_errors(void) {
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  leap_ctx_begin_step(&ctx);
  int64_t s1[2] = {4, 5}, s2[2] = {4, 6};
  leap_tensor *a = leap_ctx_tensor(&ctx, LEAP_F32, 2, s1, true), *b = leap_ctx_tensor(&ctx, LEAP_F32, 2, s2, true);
  leap_tensor *c = leap_add(&ctx, a, b);
  LEAP_TEST_ASSERT(c == NULL && ctx.err.status == LEAP_ERR_SHAPE, "add of mismatched shapes fails");
  LEAP_TEST_ASSERT(strstr(ctx.err.message, "add") && strstr(ctx.err.message, "(4,5)") && strstr(ctx.err.message, "(4,6)"),
                   "message names the op and both shapes: %s", ctx.err.message);
  LEAP_TEST_ASSERT(leap_relu(&ctx, c) == NULL, "a failed op's output propagates as NULL");
  leap_ctx_begin_step(&ctx);
  leap_tensor other = *leap_ctx_tensor(&ctx, LEAP_F32, 2, s1, true);
  other.device = LEAP_CUDA;
  LEAP_TEST_ASSERT(leap_add(&ctx, a, &other) == NULL && ctx.err.status == LEAP_ERR_DEVICE &&
                       strstr(ctx.err.message, "cuda"),
                   "mixed devices: %s", ctx.err.message);
  LEAP_TEST_ASSERT(leap_op_from_name("conv3d") == -1 && leap_op_from_name("conv2d") == LEAP_OP_CONV2D,
                   "op names resolve, unknown ones do not");
  leap_ctx_begin_step(&ctx);
  int64_t one[1] = {1};
  leap_tensor *loss = leap_ctx_tensor(&ctx, LEAP_F32, 1, one, false);
  leap_f32(loss)[0] = NAN;
  LEAP_TEST_ASSERT(leap_backward(&ctx, loss, 1.0f) == LEAP_ERR_NONFINITE && strstr(ctx.err.message, "NaN"),
                   "a NaN loss is refused: %s", ctx.err.message);
  leap_ctx_free(&ctx);
}

int main(void) {
  leap_error err = {0};
  leap_runtime_init(&g_rt, LEAP_CPU, 2, &err);
  test_used_twice();
  test_accumulation();
  test_frozen_and_no_grad();
  test_memory_reuse();
  test_errors();
  return leap_test_finish();
}
