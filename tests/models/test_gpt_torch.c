/* leap's GPT (models/gpt.c) against the same model written op by op in PyTorch (tests/fixtures/gpt.safetensors,
 * made by tools/make_gpt_fixture.py): with every parameter loaded from the fixture, the logits, the loss and the
 * gradient of the loss with respect to every parameter must match the float64 reference.
 *
 * Tolerances: |got - want| <= 1e-5 + 1e-4 |want| elementwise (fp32 through two blocks against float64). The
 * fixture's parameter set and leap's must be the same: every leap parameter is found in the fixture with its
 * shape, and the fixture holds no parameter (and no gradient) that leap lacks. */
#include <stdlib.h>
#include <string.h>

#include "models/gpt.h"
#include "tests/common/leap_test.h"
#include "train/io/safetensors.h"

#define ATOL 1e-5
#define RTOL 1e-4
#define FIXTURE "tests/fixtures/gpt.safetensors"

enum { VOCAB = 37, CONTEXT = 16, LAYERS = 2, HEADS = 2, CHANNELS = 24, B = 3, T = 11 };

/* The fixture's tensors that are not parameters or their gradients. */
static bool is_data_name(const char *name) {
  return !strcmp(name, "tokens") || !strcmp(name, "targets") || !strcmp(name, "logits") || !strcmp(name, "loss") ||
         !strncmp(name, "act.", 4);
}

static bool same_shape(const leap_st_tensor_info *info, const leap_tensor *t) {
  if (info->ndim != t->ndim) return false;
  for (int d = 0; d < t->ndim; d++)
    if (info->shape[d] != t->shape[d]) return false;
  return true;
}

/* Checks the config the fixture was made with against the one this test builds. */
static void check_config(leap_st_reader *r) {
  const char *keys[] = {"vocab", "context", "layers", "heads", "channels", "batch", "time"};
  const long want[] = {VOCAB, CONTEXT, LAYERS, HEADS, CHANNELS, B, T};
  for (int i = 0; i < 7; i++) {
    const char *value = leap_st_metadata(r, keys[i]);
    LEAP_TEST_ASSERT(value && strtol(value, NULL, 10) == want[i], "fixture %s = %s, test expects %ld", keys[i],
                     value ? value : "(missing)", want[i]);
  }
}

/* Overwrites every parameter with the fixture's value; returns how many were loaded. */
static int load_params(leap_gpt *gpt, leap_st_reader *r) {
  int loaded = 0;
  for (int i = 0; i < gpt->params.count; i++) {
    leap_tensor *t = gpt->params.items[i].tensor;
    const leap_st_tensor_info *info = leap_st_find(r, t->name);
    if (!LEAP_TEST_ASSERT(info != NULL, "leap parameter '%s' is not in the fixture", t->name)) continue;
    if (!LEAP_TEST_ASSERT(same_shape(info, t), "parameter '%s': fixture and leap shapes differ", t->name)) continue;
    float *host = malloc(sizeof(float) * (size_t)leap_tensor_numel(t));
    leap_error err = {0};
    if (LEAP_TEST_ASSERT(leap_st_read_f32(r, t->name, host, leap_tensor_numel(t), &err) == LEAP_OK, "%s",
                         err.message)) {
      leap_tensor_from_host(t, host);
      loaded++;
    }
    free(host);
  }
  return loaded;
}

/* The fixture must hold exactly leap's parameters and one gradient for each: nothing extra under either name. */
static void check_fixture_names(leap_gpt *gpt, leap_st_reader *r) {
  int params = 0, grads = 0;
  for (int64_t i = 0; i < leap_st_count(r); i++) {
    const char *name = leap_st_tensor_at(r, i)->name;
    if (is_data_name(name)) continue;
    bool grad = !strncmp(name, "grad.", 5);
    const char *param = grad ? name + 5 : name;
    LEAP_TEST_ASSERT(leap_params_find(&gpt->params, param) != NULL, "fixture tensor '%s' is not a leap parameter",
                     name);
    grad ? grads++ : params++;
  }
  LEAP_TEST_ASSERT(params == gpt->params.count && grads == gpt->params.count,
                   "fixture has %d parameters and %d gradients, leap's GPT %d parameters", params, grads,
                   gpt->params.count);
}

/* Compares n floats with the fixture's tensor `name`. */
static void check_tensor(leap_st_reader *r, const char *name, const float *got, int64_t n) {
  float *want = malloc(sizeof(float) * (size_t)n);
  leap_error err = {0};
  if (LEAP_TEST_ASSERT(leap_st_read_f32(r, name, want, n, &err) == LEAP_OK, "%s", err.message))
    leap_test_allclose(name, got, want, n, ATOL, RTOL);
  free(want);
}

static void check_grads(leap_gpt *gpt, leap_st_reader *r) {
  for (int i = 0; i < gpt->params.count; i++) {
    leap_tensor *t = gpt->params.items[i].tensor;
    char name[128];
    snprintf(name, sizeof name, "grad.%s", t->name);
    if (!LEAP_TEST_ASSERT(t->grad != NULL, "parameter '%s' has no gradient", t->name)) continue;
    int64_t n = leap_tensor_numel(t);
    float *got = malloc(sizeof(float) * (size_t)n);
    leap_tensor_to_host(got, t->grad);
    check_tensor(r, name, got, n);
    free(got);
  }
}

/* The fixture's batch as step tensors of ctx. */
static bool read_batch(leap_ctx *ctx, leap_st_reader *r, leap_tensor **tokens, leap_tensor **targets) {
  leap_error err = {0};
  *tokens = leap_ctx_tensor(ctx, LEAP_I32, 2, (int64_t[]){B, T}, false);
  *targets = leap_ctx_tensor(ctx, LEAP_I32, 2, (int64_t[]){B, T}, false);
  return LEAP_TEST_ASSERT(leap_st_read_i32(r, "tokens", leap_i32(*tokens), B * T, &err) == LEAP_OK, "%s",
                          err.message) &&
         LEAP_TEST_ASSERT(leap_st_read_i32(r, "targets", leap_i32(*targets), B * T, &err) == LEAP_OK, "%s",
                          err.message);
}

static void run(leap_runtime *rt, leap_st_reader *r) {
  leap_gpt_config config = {VOCAB, CONTEXT, LAYERS, HEADS, CHANNELS, 0.0f};
  leap_gpt gpt;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_gpt_create(&gpt, &config, LEAP_CPU, 7, &err) == LEAP_OK, "%s", err.message)) return;
  int loaded = load_params(&gpt, r);
  LEAP_TEST_ASSERT(loaded == gpt.params.count, "loaded %d of %d parameters", loaded, gpt.params.count);
  check_fixture_names(&gpt, r);

  leap_ctx ctx;
  leap_ctx_init(&ctx, rt, 1);
  leap_ctx_begin_step(&ctx);
  leap_tensor *tokens, *targets;
  leap_tensor *logits = read_batch(&ctx, r, &tokens, &targets) ? leap_gpt_forward(&gpt, &ctx, tokens) : NULL;
  leap_tensor *loss = logits ? leap_cross_entropy(&ctx, logits, targets, -1) : NULL;
  if (LEAP_TEST_ASSERT(loss != NULL && leap_ctx_ok(&ctx), "forward failed: %s", ctx.err.message)) {
    check_tensor(r, "logits", leap_f32(logits), (int64_t)B * T * VOCAB);
    check_tensor(r, "loss", leap_f32(loss), 1);
    if (LEAP_TEST_ASSERT(leap_backward(&ctx, loss, 1.0f) == LEAP_OK, "backward failed: %s", ctx.err.message))
      check_grads(&gpt, r);
  }

  /* leap_gpt_loss is the same computation in one call. */
  leap_ctx_begin_step(&ctx);
  loss = read_batch(&ctx, r, &tokens, &targets) ? leap_gpt_loss(&gpt, &ctx, tokens, targets) : NULL;
  if (LEAP_TEST_ASSERT(loss != NULL, "leap_gpt_loss failed: %s", ctx.err.message))
    check_tensor(r, "loss", leap_f32(loss), 1);

  leap_ctx_free(&ctx);
  leap_gpt_destroy(&gpt);
}

int main(void) {
  leap_runtime rt;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_runtime_init(&rt, LEAP_CPU, 2, &err) == LEAP_OK, "%s", err.message))
    return leap_test_finish();
  leap_st_reader *r = NULL;
  if (LEAP_TEST_ASSERT(leap_st_open(&r, FIXTURE, &err) == LEAP_OK, "%s (rerun tools/make_gpt_fixture.py?)",
                       err.message)) {
    check_config(r);
    run(&rt, r);
    leap_st_close(r);
  }
  leap_runtime_free(&rt);
  return leap_test_finish();
}
