/* conv2d_relu on the CPU gives the same bits as conv2d followed by relu: the output, and the gradients of the input,
 * the weight and the bias, over a few shapes (stride 1 and 2, 1x1 and 5x5, with and without bias). The conv nets'
 * CPU fixtures depend on it, since models/convnet.c fuses every convolution that a ReLU directly follows. */
#include <stdlib.h>
#include <string.h>

#include "tests/common/leap_test.h"
#include "train/core/ops.h"
#include "train/core/params.h"

typedef struct relu_case {
  const char *name;
  int64_t N, H, W, C, K, R;
  int stride, padding;
  bool bias;
} relu_case;

static const relu_case CASES[] = {
    {"3x3 pad 1 with bias", 2, 7, 6, 3, 5, 3, 1, 1, true},
    {"5x5 stride 2 pad 2 with bias", 2, 11, 9, 4, 8, 5, 2, 2, true},
    {"1x1 without bias", 3, 5, 4, 6, 7, 1, 1, 0, false},
};

/* The output and the three gradients, fused or not. */
static void run(const relu_case *c, bool fused, leap_runtime *rt, float **out, float **grads, int64_t *n) {
  leap_error err = {0};
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  int64_t xs[4] = {c->N, c->H, c->W, c->C}, ws[4] = {c->K, c->R, c->R, c->C}, bs[1] = {c->K};
  leap_tensor *x = leap_params_add(&ps, "x", 4, xs, LEAP_PARAM_TRAINABLE, true, &err);
  leap_tensor *w = leap_params_add(&ps, "w", 4, ws, LEAP_PARAM_TRAINABLE, true, &err);
  leap_tensor *b = c->bias ? leap_params_add(&ps, "b", 1, bs, LEAP_PARAM_TRAINABLE, true, &err) : NULL;
  leap_tensor *in[3] = {x, w, b};
  for (int i = 0; i < 3; i++)
    if (in[i]) leap_test_fill_uniform(leap_f32(in[i]), leap_tensor_numel(in[i]), -1.0f, 1.0f, 10 + (uint64_t)i);
  leap_ctx ctx;
  leap_ctx_init(&ctx, rt, 1);
  leap_ctx_begin_step(&ctx);
  leap_tensor *y = fused ? leap_conv2d_relu(&ctx, x, w, b, c->stride, c->padding)
                         : leap_relu(&ctx, leap_conv2d(&ctx, x, w, b, c->stride, c->padding));
  if (!LEAP_TEST_ASSERT(y != NULL, "%s: %s", c->name, ctx.err.message)) return;
  n[0] = leap_tensor_numel(y);
  leap_tensor *g = leap_ctx_tensor(&ctx, LEAP_F32, y->ndim, y->shape, false);
  leap_test_fill_uniform(leap_f32(g), n[0], -1.0f, 1.0f, 20);
  LEAP_TEST_ASSERT(leap_backward_with_grad(&ctx, y, g) == LEAP_OK, "%s: %s", c->name, ctx.err.message);
  *out = malloc(sizeof(float) * (size_t)n[0]);
  memcpy(*out, y->data, sizeof(float) * (size_t)n[0]);
  for (int i = 0; i < 3; i++) {
    n[i + 1] = in[i] ? leap_tensor_numel(in[i]) : 0;
    grads[i] = malloc(sizeof(float) * (size_t)(n[i + 1] + 1));
    if (in[i]) memcpy(grads[i], in[i]->grad->data, sizeof(float) * (size_t)n[i + 1]);
  }
  leap_ctx_free(&ctx);
  leap_params_free(&ps);
}

int main(void) {
  leap_runtime rt;
  leap_error err = {0};
  leap_runtime_init(&rt, LEAP_CPU, 2, &err);
  static const char *const labels[4] = {"output", "dx", "dweight", "dbias"};
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
    float *out[2] = {0}, *grads[2][3] = {{0}};
    int64_t n[2][4] = {{0}};
    run(&CASES[i], false, &rt, &out[0], grads[0], n[0]);
    run(&CASES[i], true, &rt, &out[1], grads[1], n[1]);
    for (int k = 0; k < 4; k++) {
      const float *a = k ? grads[0][k - 1] : out[0], *b = k ? grads[1][k - 1] : out[1];
      LEAP_TEST_ASSERT(a && b && n[0][k] == n[1][k] && !memcmp(a, b, sizeof(float) * (size_t)n[0][k]),
                       "%s: %s differs between conv2d_relu and conv2d + relu", CASES[i].name, labels[k]);
    }
    free(out[0]), free(out[1]);
    for (int k = 0; k < 3; k++) free(grads[0][k]), free(grads[1][k]);
  }
  leap_runtime_free(&rt);
  return leap_test_finish();
}
