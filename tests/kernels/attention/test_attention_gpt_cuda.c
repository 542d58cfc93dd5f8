/* The flash attention kernels train a model as the reference CUDA attention does: a tiny GPT (models/gpt.h) on the
 * reverse task (context 81, so the sequence spans two query tiles and ends inside a third key tile), in bf16, from
 * the same initial weights and the same batches, once with the flash kernels and once with the reference ones
 * (leap_attention_use_reference). The loss curves must agree within 2% at every step. Two models: head size 64 and
 * head size 128, the two tensor-core head sizes. Skipped without a CUDA device. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/reverse_task.h"
#include "models/gpt.h"
#include "tests/common/leap_test.h"
#include "train/core/device_memory.h"
#include "train/core/ops.h"
#include "train/core/optimizer.h"

#define STEPS 30
#define BATCH 8

/* The loss of each of STEPS AdamW steps of a fresh GPT with `heads` heads of 128 channels. */
static void train(int heads, bool reference, float *losses) {
  leap_error err = {0};
  leap_runtime rt;
  leap_ctx ctx;
  leap_gpt gpt;
  leap_optimizer opt;
  const leap_reverse_task task = {16, 40};
  const int T = leap_reverse_task_context(&task);
  leap_attention_use_reference(reference);
  LEAP_TEST_ASSERT(leap_runtime_init(&rt, LEAP_CUDA, 2, &err) == LEAP_OK, "%s", err.message);
  leap_gpt_config gc = {task.vocab, T, 2, heads, 128, 0.0f};
  LEAP_TEST_ASSERT(leap_gpt_create(&gpt, &gc, LEAP_CUDA, 7, &err) == LEAP_OK, "%s", err.message);
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_ADAMW);
  leap_optimizer_create(&opt, &gpt.params, &oc, &err);
  leap_ctx_init(&ctx, &rt, 1);
  LEAP_TEST_ASSERT(leap_ctx_set_precision(&ctx, LEAP_BF16) == LEAP_OK, "%s", ctx.err.message);
  int32_t *x = malloc(sizeof(int32_t) * BATCH * (size_t)T), *y = malloc(sizeof(int32_t) * BATCH * (size_t)T);
  for (int step = 0; step < STEPS; step++) {
    leap_ctx_begin_step(&ctx);
    leap_reverse_task_batch(&task, BATCH, 5, (uint64_t)step, x, y);
    int64_t shape[2] = {BATCH, T};
    leap_tensor *tx = leap_ctx_tensor(&ctx, LEAP_I32, 2, shape, false);
    leap_tensor *ty = leap_ctx_tensor(&ctx, LEAP_I32, 2, shape, false);
    leap_tensor_from_host(tx, x);
    leap_tensor_from_host(ty, y);
    leap_tensor *loss = leap_gpt_loss(&gpt, &ctx, tx, ty);
    losses[step] = NAN;
    if (!LEAP_TEST_ASSERT(leap_backward(&ctx, loss, 1.0f) == LEAP_OK, "%s", ctx.err.message)) break;
    leap_tensor_to_host(&losses[step], loss);
    leap_optimizer_step(&opt, 1e-3f);
    leap_params_zero_grad(&gpt.params);
  }
  free(x), free(y);
  leap_optimizer_destroy(&opt);
  leap_ctx_free(&ctx);
  leap_gpt_destroy(&gpt);
  leap_runtime_free(&rt);
  leap_attention_use_reference(false);
}

int main(void) {
  if (!leap_device_available(LEAP_CUDA)) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  const int heads[2] = {2, 1}; /* head size 64, then 128 */
  for (int i = 0; i < 2; i++) {
    float flash[STEPS], ref[STEPS];
    train(heads[i], false, flash);
    train(heads[i], true, ref);
    char what[96];
    snprintf(what, sizeof what, "GPT head size %d: flash losses against the reference attention's", 128 / heads[i]);
    leap_test_allclose(what, flash, ref, STEPS, 0.0, 2e-2);
    LEAP_TEST_ASSERT(flash[STEPS - 1] < flash[0], "GPT head size %d: the loss did not fall (%g -> %g)", 128 / heads[i],
                     flash[0], flash[STEPS - 1]);
  }
  return leap_test_finish();
}
