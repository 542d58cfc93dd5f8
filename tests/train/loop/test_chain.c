/* Chains and their data (train/loop/chain.c, build.c) on the synthetic task of loop_fixture.h: whole-field reads
 * (normalised images against values computed here from the raw file, a sample limit, dtypes), field shapes and
 * widths with their errors, chains built from a config (a stage, the stages composed through the intermediate's
 * width or a wider interface, an explicit e2e network) and their parameter names; two-input chains (a stage of two
 * token fields, a token intermediate embedded as scores in the composed chain, an e2e network of an image and
 * tokens) with their wiring, predictions and training; predictions that do not depend on the batch size, eval losses against a reference computed here, weights moving between a composed chain and
 * a stage, and training that gives the same bits on 1 and 2 threads. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/train/loop/loop_fixture.h"
#include "train/loop/build.h"
#include "train/loop/trainer.h"

#ifdef LEAP_WITH_OPENMP
#include <omp.h>
#endif

static char g_dir[64], g_data[128];
static leap_runtime g_rt;
static int g_configs;

#define STAGES_TWO                                                                                       \
  "  - {name: enc, input: x, output: h, loss: mse, network: {arch: mlp, hidden: [16], activation: relu}}\n" \
  "  - {name: dec, input: h, output: y, loss: mse, network: {arch: mlp, hidden: [16], activation: gelu}}\n"

static bool load_config(leap_run_config *cfg, const char *stages, const char *extra, const char *const *sets,
                        int n_sets) {
  char path[160], text[2048];
  snprintf(path, sizeof path, "%s/config_%d.yaml", g_dir, g_configs++);
  snprintf(text, sizeof text, "%s%s", stages, extra ? extra : "");
  leap_error err = {0};
  memset(cfg, 0, sizeof *cfg);
  bool ok = fix_write_config(path, g_data, text) && leap_run_config_load(cfg, path, sets, n_sets, &err) == LEAP_OK;
  return LEAP_TEST_ASSERT(ok, "config %s: %s", path, err.message);
}

/* The image field against values normalised here from the raw u8 values (double arithmetic) with mean and std
 * per channel. */
static void check_image(const leap_run_config *cfg, const float *mean, const float *std) {
  leap_host_array img;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_read_field(cfg, "val", "image", &img, &err) == LEAP_OK, "read: %s", err.message)) return;
  LEAP_TEST_ASSERT(img.dtype == LEAP_F32 && img.ndim == 4 && img.shape[0] == FIX_N_EVAL && img.shape[1] == FIX_IMG_H &&
                       img.shape[2] == FIX_IMG_W && img.shape[3] == FIX_IMG_C,
                   "image shape");
  int64_t n = FIX_N_EVAL * FIX_IMG_H * FIX_IMG_W * FIX_IMG_C;
  uint8_t *raw = malloc((size_t)n);
  float *want = malloc(sizeof(float) * (size_t)n);
  hid_t f = H5Fopen(cfg->data.file, H5F_ACC_RDONLY, H5P_DEFAULT), ds = H5Dopen2(f, "/val/image", H5P_DEFAULT);
  LEAP_TEST_ASSERT(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0, "raw read");
  H5Dclose(ds), H5Fclose(f);
  for (int64_t i = 0; i < n; i++) {
    int c = (int)(i % FIX_IMG_C);
    want[i] = (float)(((double)raw[i] / 255.0 - mean[c]) / std[c]);
  }
  leap_test_allclose("normalised image", img.data, want, n, 1e-5, 1e-5);
  free(raw), free(want);
  leap_host_array_free(&img);
}

static void test_read(const leap_run_config *cfg) {
  check_image(cfg, g_fix_mean, g_fix_std);
  /* One mean and std for every channel. */
  const char *sets[] = {"data.fields.image.mean=0.5", "data.fields.image.std=0.25"};
  const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.25f, 0.25f, 0.25f};
  leap_run_config one;
  if (load_config(&one, FIX_STAGES_FIT, NULL, sets, 2)) {
    check_image(&one, mean, std);
    leap_run_config_free(&one);
  }
  leap_error err = {0};

  leap_host_array part, labels;
  LEAP_TEST_ASSERT(leap_read_field_n(cfg, "train", "x", 37, &part, &err) == LEAP_OK && part.shape[0] == 37 &&
                       part.shape[1] == FIX_X,
                   "a limited read gives 37 samples: %s", err.message);
  leap_host_array_free(&part);
  LEAP_TEST_ASSERT(leap_read_field(cfg, "test", "label", &labels, &err) == LEAP_OK && labels.dtype == LEAP_I32 &&
                       labels.ndim == 1 && labels.shape[0] == FIX_N_EVAL,
                   "labels are i32 (N): %s", err.message);
  leap_host_array_free(&labels);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_read_field(cfg, "val", "nope", &part, &err) != LEAP_OK && strstr(err.message, "nope") &&
                       part.data == NULL,
                   "a missing field is an error naming it: %s", err.message);
}

static void test_shapes(const leap_run_config *cfg) {
  int ndim = 0;
  int64_t shape[LEAP_MAX_DIMS], width = 0;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_field_sample_shape(cfg, "train", "image", &ndim, shape, &err) == LEAP_OK && ndim == 3 &&
                       shape[0] == FIX_IMG_H && shape[1] == FIX_IMG_W && shape[2] == FIX_IMG_C,
                   "image sample shape: %s", err.message);
  LEAP_TEST_ASSERT(leap_field_sample_shape(cfg, "train", "label", &ndim, shape, &err) == LEAP_OK && ndim == 0,
                   "a scalar per sample has no sample dims");
  LEAP_TEST_ASSERT(leap_field_out_dim(cfg, "y", LEAP_LOSS_MSE, &width, &err) == LEAP_OK && width == FIX_H, "y width");
  LEAP_TEST_ASSERT(leap_field_out_dim(cfg, "image", LEAP_LOSS_MSE, &width, &err) == LEAP_OK &&
                       width == FIX_IMG_H * FIX_IMG_W * FIX_IMG_C,
                   "image width");
  LEAP_TEST_ASSERT(leap_field_out_dim(cfg, "label", LEAP_LOSS_CROSS_ENTROPY, &width, &err) == LEAP_OK && width == 3,
                   "label classes from data.fields.label.vocab");
  LEAP_TEST_ASSERT(leap_field_spec_for(cfg, "label").dtype == LEAP_I32 && leap_field_spec_for(cfg, "image").normalize,
                   "field specs follow the config");
  LEAP_TEST_ASSERT(leap_field_sample_shape(cfg, "train", "missing", &ndim, shape, &err) == LEAP_ERR_CONFIG &&
                       strstr(err.message, "tiny.h5") && strstr(err.message, "train/missing"),
                   "a missing dataset names the file and dataset: %s", err.message);
  leap_run_config bad = *cfg;
  snprintf(bad.data.file, sizeof bad.data.file, "%s/absent.h5", g_dir);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_field_sample_shape(&bad, "train", "x", &ndim, shape, &err) == LEAP_ERR_IO &&
                       strstr(err.message, "absent.h5"),
                   "a missing file is named: %s", err.message);
}

static bool has_param(const leap_params *ps, const char *name) {
  return leap_params_find((leap_params *)ps, name) != NULL;
}

static bool all_prefixed(const leap_params *ps, const char *a, const char *b) {
  for (int i = 0; i < ps->count; i++) {
    const char *n = ps->items[i].tensor->name;
    if (strncmp(n, a, strlen(a)) && (!b || strncmp(n, b, strlen(b)))) return false;
  }
  return ps->count > 0;
}

/* Predictions of a two-input chain do not depend on the batch size, and equal the net run here on the same rows. */
static void check_two_input_predict(const leap_run_config *cfg, const leap_chain_model *m) {
  leap_host_array in[2] = {{0}}, p5 = {0}, p128 = {0};
  leap_error err = {0};
  bool ok = !leap_read_field(cfg, "test", m->chain.inputs[0], &in[0], &err) &&
            !leap_read_field(cfg, "test", m->chain.inputs[1], &in[1], &err) &&
            !leap_chain_predict(&g_rt, &m->chain, in, 5, &p5, &err) &&
            !leap_chain_predict(&g_rt, &m->chain, in, 128, &p128, &err);
  if (LEAP_TEST_ASSERT(ok && p5.shape[0] == FIX_N_EVAL && p5.shape[1] == FIX_VOCAB, "predict: %s", err.message)) {
    leap_test_allclose("two inputs: batch 5 vs 128", p5.data, p128.data, FIX_N_EVAL * FIX_VOCAB, 1e-6, 1e-5);
    leap_ctx ctx;
    leap_ctx_init(&ctx, &g_rt, 0);
    leap_ctx_begin_step(&ctx);
    ctx.grad_enabled = false;
    ctx.training = false;
    leap_tensor *xs[2] = {leap_host_array_rows(&ctx, &in[0], 3, 4), leap_host_array_rows(&ctx, &in[1], 3, 4)};
    leap_tensor *y = leap_net_forward_inputs(&m->nets[0], &ctx, xs);
    if (LEAP_TEST_ASSERT(y != NULL, "net forward: %s", ctx.err.message))
      leap_test_allclose("the chain is its net", (float *)p128.data + 3 * FIX_VOCAB, leap_f32(y), FIX_VOCAB, 1e-6,
                         1e-5);
    leap_ctx_free(&ctx);
  }
  leap_host_array_free(&in[0]), leap_host_array_free(&in[1]);
  leap_host_array_free(&p5), leap_host_array_free(&p128);
}

/* A stage of two token inputs: the chain is fed both fields in its network's order, each through its own branch. */
static void test_two_inputs(void) {
  leap_run_config cfg;
  if (!load_config(&cfg, FIX_STAGES_JOIN, NULL, NULL, 0)) return;
  leap_error err = {0};
  leap_chain_model m;
  if (LEAP_TEST_ASSERT(leap_chain_build_stage(&m, &cfg, 0, LEAP_CPU, &err) == LEAP_OK, "two inputs: %s",
                       err.message)) {
    const leap_net *net = &m.nets[0];
    LEAP_TEST_ASSERT(m.chain.n_inputs == 2 && !strcmp(m.chain.inputs[0], "tok_a") &&
                         !strcmp(m.chain.inputs[1], "tok_b") && m.chain.sources[0][0] == 0 &&
                         m.chain.sources[0][1] == 1,
                     "the chain reads tok_a then tok_b");
    LEAP_TEST_ASSERT(net->n_inputs == 2 && net->inputs[0].dtype == LEAP_I32 && net->inputs[0].shape[0] == FIX_TOK_A &&
                         net->inputs[1].shape[0] == FIX_TOK_B && net->out_dim == FIX_VOCAB,
                     "the net takes (4) and (3) token ids");
    LEAP_TEST_ASSERT(has_param(&m.params, "join.tok_a.embedding.0.weight") &&
                         has_param(&m.params, "join.tok_b.embedding.0.weight") &&
                         has_param(&m.params, "join.linear.1.weight"),
                     "each input has its own embedding");
    check_two_input_predict(&cfg, &m);
    leap_chain_model_free(&m);
  }
  leap_run_config_free(&cfg);
  /* The network's order of its inputs decides the chain's. */
  const char *swap = "stages.join.network.inputs={tok_b: [{embedding: {vocab: 5, channels: 8}}], "
                     "tok_a: [{embedding: {vocab: 5, channels: 8}}]}";
  if (!load_config(&cfg, FIX_STAGES_JOIN, NULL, &swap, 1)) return;
  LEAP_TEST_ASSERT(leap_chain_build_stage(&m, &cfg, 0, LEAP_CPU, &err) == LEAP_OK && !strcmp(m.chain.inputs[0], "tok_b") &&
                       m.nets[0].inputs[0].shape[0] == FIX_TOK_B,
                   "inputs in the network's order: %s", err.message);
  if (!err.status) leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

/* Composed, a stage's token output feeds the next stage's embedding as scores, and the data fields no stage makes
 * are the chain's inputs; the composed chain's weights are the stages'. */
static void test_token_intermediate(void) {
  leap_run_config cfg;
  if (!load_config(&cfg, FIX_STAGES_SPELL, NULL, NULL, 0)) return;
  leap_error err = {0};
  leap_chain_model *joint = calloc(1, sizeof *joint), *st[2] = {calloc(1, sizeof *joint), calloc(1, sizeof *joint)};
  bool ok = leap_chain_build_composed(joint, &cfg, 0, "joint", LEAP_CPU, &err) == LEAP_OK &&
            leap_chain_build_stage(st[0], &cfg, 0, LEAP_CPU, &err) == LEAP_OK &&
            leap_chain_build_stage(st[1], &cfg, 1, LEAP_CPU, &err) == LEAP_OK;
  if (LEAP_TEST_ASSERT(ok, "build: %s", err.message)) {
    const leap_chain *c = &joint->chain;
    const leap_net *join = &joint->nets[1];
    LEAP_TEST_ASSERT(c->n_inputs == 1 && !strcmp(c->inputs[0], "tok_b") && c->sources[0][0] == 0 &&
                         c->sources[1][0] == LEAP_CHAIN_FROM_NET(0) && c->sources[1][1] == 0,
                     "spell reads tok_b; join reads spell's output and tok_b");
    LEAP_TEST_ASSERT(joint->nets[0].out_ndim == 2 && joint->nets[0].out_shape[0] == FIX_TOK_A &&
                         joint->nets[0].out_shape[1] == FIX_VOCAB && join->inputs[0].dtype == LEAP_F32 &&
                         join->inputs[0].ndim == 2 && join->inputs[0].shape[1] == FIX_VOCAB,
                     "join's tok_a input is spell's (4,5) scores");
    LEAP_TEST_ASSERT(leap_params_numel(&joint->params) ==
                         leap_params_numel(&st[0]->params) + leap_params_numel(&st[1]->params),
                     "the joint model has the stages' parameters");
    for (int i = 0; i < st[1]->params.count; i++)
      LEAP_TEST_ASSERT(has_param(&joint->params, st[1]->params.items[i].tensor->name), "%s is in the joint model",
                       st[1]->params.items[i].tensor->name);
    leap_train_options o = {12, 1.0, NULL, "joint", true};
    leap_train_result r;
    LEAP_TEST_ASSERT(leap_train_chain(&cfg, &g_rt, c, &o, &r, &err) == LEAP_OK && isfinite(r.final_train_loss) &&
                         isfinite(r.best_val_loss),
                     "the joint model trains: %s", err.message);
  }
  leap_run_config_free(&cfg);
  /* An interface wider than the vocabulary cannot feed an embedding. */
  if (load_config(&cfg, FIX_STAGES_SPELL, NULL, NULL, 0)) {
    leap_chain_model *wide = calloc(1, sizeof *wide);
    leap_error_clear(&err);
    LEAP_TEST_ASSERT(leap_chain_build_composed(wide, &cfg, 16, "wide", LEAP_CPU, &err) == LEAP_ERR_CONFIG &&
                         strstr(err.message, "input 'tok_a' layer 0 (embedding)") &&
                         strstr(err.message, "f32 scores (N,...,5)"),
                     "features of width 16 into an embedding: %s", err.message);
    free(wide);
    leap_run_config_free(&cfg);
  }
  leap_chain_model *all[3] = {joint, st[0], st[1]};
  for (int i = 0; i < 3; i++) {
    leap_chain_model_free(all[i]);
    free(all[i]);
  }
}

/* An explicit e2e network reading an image and token ids. */
static void test_e2e_two_kinds(void) {
  leap_run_config cfg;
  if (!load_config(&cfg, FIX_STAGES_JOIN, FIX_E2E_IMAGE_TOKENS, NULL, 0)) return;
  leap_error err = {0};
  leap_chain_model m;
  if (LEAP_TEST_ASSERT(leap_chain_build_e2e(&m, &cfg, LEAP_CPU, &err) == LEAP_OK, "e2e: %s", err.message)) {
    const leap_net *net = &m.nets[0];
    LEAP_TEST_ASSERT(m.chain.n_inputs == 2 && !strcmp(m.chain.inputs[0], "image") &&
                         !strcmp(m.chain.inputs[1], "tok_a") && !strcmp(m.chain.target, "tok_cls"),
                     "e2e reads image and tok_a for tok_cls");
    LEAP_TEST_ASSERT(net->inputs[0].dtype == LEAP_F32 && net->inputs[0].ndim == 3 &&
                         net->inputs[0].shape[2] == FIX_IMG_C && net->inputs[1].dtype == LEAP_I32 &&
                         has_param(&m.params, "e2e.image.conv.0.weight") &&
                         has_param(&m.params, "e2e.tok_a.embedding.0.weight") &&
                         leap_params_find(&m.params, "e2e.linear.1.weight")->tensor->shape[1] ==
                             (FIX_IMG_H * FIX_IMG_W + FIX_TOK_A) * 8,
                     "an image branch and a token branch joined into 34 tokens");
    leap_train_options o = {6, 1.0, NULL, "e2e", true};
    leap_train_result r;
    LEAP_TEST_ASSERT(leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_OK && r.steps_done == 6 &&
                         isfinite(r.best_val_loss),
                     "it trains: %s", err.message);
    leap_chain_model_free(&m);
  }
  leap_run_config_free(&cfg);
}

static void test_build(void) {
  leap_run_config cfg;
  if (!load_config(&cfg, STAGES_TWO, NULL, NULL, 0)) return;
  leap_chain_model e2e, enc, dec, wide;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_chain_build_e2e(&e2e, &cfg, LEAP_CPU, &err) == LEAP_OK, "e2e: %s", err.message)) return;
  LEAP_TEST_ASSERT(!strcmp(e2e.chain.name, "e2e") && e2e.chain.n_inputs == 1 && !strcmp(e2e.chain.inputs[0], "x") &&
                       !strcmp(e2e.chain.target, "y") && e2e.chain.n_nets == 2 && e2e.nets[0].out_dim == FIX_H &&
                       e2e.nets[1].inputs[0].shape[0] == FIX_H && e2e.chain.sources[1][0] == LEAP_CHAIN_FROM_NET(0) &&
                       e2e.nets[1].out_dim == FIX_H,
                   "the composed chain goes x -> (3) -> y");
  LEAP_TEST_ASSERT(all_prefixed(&e2e.params, "enc.", "dec."), "composed parameters are the stages'");
  LEAP_TEST_ASSERT(leap_chain_build_stage(&enc, &cfg, 0, LEAP_CPU, &err) == LEAP_OK &&
                       leap_chain_build_stage(&dec, &cfg, 1, LEAP_CPU, &err) == LEAP_OK,
                   "stages: %s", err.message);
  LEAP_TEST_ASSERT(!strcmp(dec.chain.name, "pipeline.dec") && !strcmp(dec.chain.inputs[0], "h") && dec.chain.n_nets == 1 &&
                       all_prefixed(&dec.params, "dec.", NULL),
                   "the dec stage reads h");
  for (int i = 0; i < dec.params.count; i++)
    LEAP_TEST_ASSERT(has_param(&e2e.params, dec.params.items[i].tensor->name), "%s is in the composed chain",
                     dec.params.items[i].tensor->name);
  LEAP_TEST_ASSERT(leap_chain_build_composed(&wide, &cfg, 16, "wide", LEAP_CPU, &err) == LEAP_OK &&
                       wide.nets[0].out_dim == 16 && wide.nets[1].inputs[0].shape[0] == 16,
                   "an interface of 16: %s", err.message);

  /* Weights move from a composed chain to a stage (extra tensors ignored), not the other way round. */
  char dir[128];
  snprintf(dir, sizeof dir, "%s/composed", g_dir);
  LEAP_TEST_ASSERT(leap_save_weights(dir, &e2e.params, &cfg, &e2e.chain, &err) == LEAP_OK, "save: %s", err.message);
  LEAP_TEST_ASSERT(leap_load_weights(dir, &dec.params, &err) == LEAP_OK, "composed -> stage: %s", err.message);
  const leap_param *p = leap_params_find(&e2e.params, "dec.fc.0.weight");
  LEAP_TEST_ASSERT(p && !memcmp(leap_params_find(&dec.params, "dec.fc.0.weight")->tensor->data, p->tensor->data,
                                leap_tensor_bytes(p->tensor)),
                   "the stage has the composed chain's values");
  snprintf(dir, sizeof dir, "%s/stage", g_dir);
  LEAP_TEST_ASSERT(leap_save_weights(dir, &dec.params, &cfg, &dec.chain, &err) == LEAP_OK, "save: %s", err.message);
  LEAP_TEST_ASSERT(leap_load_weights(dir, &e2e.params, &err) != LEAP_OK && strstr(err.message, "enc."),
                   "a stage's file lacks the other stage: %s", err.message);
  leap_chain_model_free(&e2e), leap_chain_model_free(&enc), leap_chain_model_free(&dec), leap_chain_model_free(&wide);
  leap_run_config_free(&cfg);

  const char *explicit_e2e = "e2e: {network: {arch: mlp, hidden: [8]}}\n";
  if (!load_config(&cfg, STAGES_TWO, explicit_e2e, NULL, 0)) return;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_chain_build_e2e(&e2e, &cfg, LEAP_CPU, &err) == LEAP_OK && e2e.chain.n_nets == 1 &&
                       all_prefixed(&e2e.params, "e2e.", NULL) && e2e.nets[0].out_dim == FIX_H,
                   "an explicit e2e network: %s", err.message);
  leap_chain_model_free(&e2e);
  leap_run_config_free(&cfg);
}

/* Predictions do not depend on the batch size; the eval loss is the mean squared error computed here. */
static void test_predict_and_loss(void) {
  leap_run_config cfg;
  if (!load_config(&cfg, STAGES_TWO, NULL, NULL, 0)) return;
  leap_chain_model m;
  leap_host_array x = {0}, y = {0}, p7 = {0}, p128 = {0};
  leap_error err = {0};
  bool ok = leap_chain_build_e2e(&m, &cfg, LEAP_CPU, &err) == LEAP_OK &&
            !leap_read_field(&cfg, "test", "x", &x, &err) &&
            !leap_read_field(&cfg, "test", "y", &y, &err) && !leap_chain_predict(&g_rt, &m.chain, &x, 7, &p7, &err) &&
            !leap_chain_predict(&g_rt, &m.chain, &x, 128, &p128, &err);
  if (!LEAP_TEST_ASSERT(ok, "predict: %s", err.message)) return;
  LEAP_TEST_ASSERT(p7.ndim == 2 && p7.shape[0] == FIX_N_EVAL && p7.shape[1] == FIX_H && p7.dtype == LEAP_F32, "shape");
  leap_test_allclose("batch 7 vs 128", p7.data, p128.data, FIX_N_EVAL * FIX_H, 1e-6, 1e-5);
  double want = 0;
  for (int64_t i = 0; i < FIX_N_EVAL * FIX_H; i++)
    want += pow((double)((float *)p128.data)[i] - ((float *)y.data)[i], 2);
  want /= FIX_N_EVAL * FIX_H;
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 0);
  double got = NAN;
  for (int64_t batch = 5; batch <= 200; batch *= 5) {
    LEAP_TEST_ASSERT(leap_chain_eval_loss(&ctx, &m.chain, &x, &y, batch, &got, &err) == LEAP_OK, "eval: %s",
                     err.message);
    LEAP_TEST_ASSERT(fabs(got - want) <= 1e-5 * want, "eval loss %.9g (batch %lld) vs %.9g", got, (long long)batch,
                     want);
  }
  LEAP_TEST_ASSERT(ctx.grad_enabled && ctx.training, "the context's modes are restored");
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_chain_eval_loss(&ctx, &m.chain, &x, &p7, 0, &got, &err) == LEAP_ERR_VALUE, "batch 0 refused");
  leap_ctx_free(&ctx);
  leap_host_array_free(&x), leap_host_array_free(&y), leap_host_array_free(&p7), leap_host_array_free(&p128);
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

/* Trains the composed chain for 40 steps on `threads` threads and returns a copy of its parameters. */
static float *train_on_threads(const leap_run_config *cfg, int threads, int64_t *n_out) {
#ifdef LEAP_WITH_OPENMP
  omp_set_num_threads(threads);
#endif
  leap_chain_model m;
  leap_error err = {0};
  leap_train_options o = {40, 1.0, NULL, "threads", true};
  leap_train_result r;
  if (!LEAP_TEST_ASSERT(leap_chain_build_e2e(&m, cfg, LEAP_CPU, &err) == LEAP_OK &&
                            leap_train_chain(cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_OK,
                        "train on %d threads: %s", threads, err.message))
    return NULL;
  int64_t n = 0;
  for (int i = 0; i < m.params.count; i++) n += leap_tensor_numel(m.params.items[i].tensor);
  float *copy = malloc(sizeof(float) * (size_t)n), *at = copy;
  for (int i = 0; i < m.params.count; i++) {
    memcpy(at, m.params.items[i].tensor->data, leap_tensor_bytes(m.params.items[i].tensor));
    at += leap_tensor_numel(m.params.items[i].tensor);
  }
  *n_out = n;
  leap_chain_model_free(&m);
  return copy;
}

static void test_thread_determinism(void) {
  const char *sets[] = {"train.steps=40", "train.eval_every=20", "train.batch=64", "train.micro_batches=2"};
  leap_run_config cfg;
  if (!load_config(&cfg, STAGES_TWO, NULL, sets, 4)) return;
  int64_t n1 = 0, n2 = 0;
  float *one = train_on_threads(&cfg, 1, &n1), *two = train_on_threads(&cfg, 2, &n2);
  LEAP_TEST_ASSERT(one && two && n1 == n2 && !memcmp(one, two, sizeof(float) * (size_t)n1),
                   "training gives the same bits on 1 and 2 threads");
#ifdef LEAP_WITH_OPENMP
  omp_set_num_threads(2);
#endif
  free(one), free(two);
  leap_run_config_free(&cfg);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/leap_test_chain_XXXXXX");
  if (!mkdtemp(g_dir)) return fprintf(stderr, "mkdtemp failed\n"), 1;
  snprintf(g_data, sizeof g_data, "%s/tiny.h5", g_dir);
  leap_error err = {0};
  if (!fix_write_file(g_data) || leap_runtime_init(&g_rt, LEAP_CPU, 2, &err))
    return fprintf(stderr, "setup failed: %s\n", err.message), 1;
  leap_run_config cfg;
  if (load_config(&cfg, FIX_STAGES_FIT, NULL, NULL, 0)) {
    test_read(&cfg);
    test_shapes(&cfg);
    leap_run_config_free(&cfg);
  }
  test_build();
  test_two_inputs();
  test_token_intermediate();
  test_e2e_two_kinds();
  test_predict_and_loss();
  test_thread_determinism();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  leap_runtime_free(&g_rt);
  return leap_test_finish();
}
