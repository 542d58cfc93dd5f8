/* Run configs (train/config/run_config.h): configs/robot.yaml and configs/vqa.yaml load, validate and build their
 * networks; --set overrides scalars, lists, nested keys and list items (by index and by stage name); the resolved
 * JSON parses back with libfyaml, holds the overridden values and defaults, and reloads to itself; and every error
 * path gives its message with FILE:LINE (or the --set) and the key. */
#include <libfyaml.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/net.h"
#include "tests/common/leap_test.h"
#include "train/config/run_config.h"

static leap_runtime g_rt;

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) {
    LEAP_TEST_ASSERT(false, "cannot write %s", path);
    return;
  }
  fputs(text, f);
  fclose(f);
}

/* ---- the shipped configs ------------------------------------------------------------------------------------- */

/* Builds a network for its inputs and checks a forward of 2 samples gives out_ndim dims ending in out_dim. */
static void check_net_inputs(const char *what, const leap_net_spec *spec, int n_inputs, const leap_net_input *inputs,
                             int64_t out_dim, int out_ndim) {
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  if (!LEAP_TEST_ASSERT(leap_net_create_inputs(&net, spec, n_inputs, inputs, out_dim, &ps, "s.", 1, &err) == LEAP_OK,
                        "%s: %s", what, err.message)) {
    leap_params_free(&ps);
    return;
  }
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  leap_ctx_begin_step(&ctx);
  ctx.grad_enabled = false;
  ctx.training = false;
  leap_tensor *xs[LEAP_NET_MAX_INPUTS];
  for (int k = 0; k < n_inputs; k++) {
    int64_t shape[LEAP_MAX_DIMS] = {2};
    memcpy(shape + 1, inputs[k].shape, sizeof(int64_t) * (size_t)inputs[k].ndim);
    xs[k] = leap_ctx_tensor(&ctx, inputs[k].dtype, inputs[k].ndim + 1, shape, true);
  }
  leap_tensor *y = leap_net_forward_inputs(&net, &ctx, xs);
  LEAP_TEST_ASSERT(y && y->ndim == out_ndim && y->shape[y->ndim - 1] == out_dim, "%s: forward %s", what,
                   y ? "has the wrong shape" : ctx.err.message);
  leap_ctx_free(&ctx);
  leap_net_destroy(&net);
  leap_params_free(&ps);
}

static leap_net_input net_input(leap_dtype dtype, int ndim, const int64_t *shape) {
  leap_net_input in = {.dtype = dtype, .ndim = ndim};
  memcpy(in.shape, shape, sizeof(int64_t) * (size_t)ndim);
  return in;
}

/* A network of one input of per-sample shape in (token ids when tokens). */
static void check_net(const char *what, const leap_net_spec *spec, int in_ndim, const int64_t *in, bool tokens,
                      int64_t out_dim, int out_ndim) {
  leap_net_input x = net_input(tokens ? LEAP_I32 : LEAP_F32, in_ndim, in);
  check_net_inputs(what, spec, 1, &x, out_dim, out_ndim);
}

static void test_robot(void) {
  leap_run_config cfg;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_run_config_load(&cfg, "configs/robot.yaml", NULL, 0, &err) == LEAP_OK, "robot: %s",
                        err.message))
    return;
  LEAP_TEST_ASSERT(!strcmp(cfg.task, "robot") && cfg.n_stages == 2 && cfg.data.n_fields == 3, "robot: task/stages");
  const leap_stage_config *p = leap_run_config_stage(&cfg, "perceive"), *a = leap_run_config_stage(&cfg, "act");
  LEAP_TEST_ASSERT(p && a && p->n_inputs == 1 && !strcmp(p->inputs[0], "image") && !strcmp(p->output, "pose") &&
                       !strcmp(a->inputs[0], "pose") && a->loss == LEAP_LOSS_MSE, "robot: stages");
  const leap_convnet_config *cn = &p->network.convnet;
  LEAP_TEST_ASSERT(p->network.arch == LEAP_NET_CONVNET && cn->n_conv == 4 && cn->conv[0].stride == 2 &&
                       cn->conv[0].padding == 2 && cn->conv[1].padding == 1 && cn->conv[1].pool == 2 &&
                       cn->conv[0].batchnorm && cn->head.n_hidden == 1 && cn->head.hidden[0] == 128,
                   "robot: perceive's conv net");
  LEAP_TEST_ASSERT(!strcmp(p->network.source, "configs/robot.yaml") && !strcmp(p->network.key, "stages.0.network") &&
                       p->network.line == 23, "robot: network origin %s %s %d", p->network.source, p->network.key,
                   p->network.line);
  LEAP_TEST_ASSERT(a->network.arch == LEAP_NET_MLP && a->network.mlp.n_hidden == 2, "robot: act's mlp");
  const leap_field_config *img = leap_run_config_field(&cfg, "image");
  LEAP_TEST_ASSERT(img && img->normalize && img->n_channels == 3 && img->std[2] == 0.25f && !img->nchw &&
                       img->dtype == LEAP_F32, "robot: image field");
  LEAP_TEST_ASSERT(cfg.e2e_interface == 64 && !cfg.e2e_has_network && cfg.train.steps >= 1000 &&
                       cfg.train.schedule.total_steps == cfg.train.steps && cfg.train.schedule.base_lr == 2e-3f &&
                       cfg.train.schedule.kind == LEAP_SCHEDULE_WARMUP_COSINE &&
                       cfg.train.schedule.warmup_steps == 100 && cfg.compare.finetune_steps == cfg.train.steps / 4 &&
                       cfg.compare.finetune_lr == cfg.train.schedule.base_lr &&
                       cfg.compare.n_fractions == 2 && cfg.compare.fractions[0] == 0.25 && cfg.device == LEAP_CPU && !strcmp(cfg.out_dir, "runs/robot") &&
                       !strcmp(cfg.data.generate_task, "robot") && cfg.data.generate_n == 20000,
                   "robot: e2e, train, compare, output");
  check_net("robot perceive", &p->network, 3, (int64_t[]){64, 64, 3}, false, 4, 2);
  check_net("robot act", &a->network, 1, (int64_t[]){4}, false, 4, 2);
  leap_run_config_free(&cfg);
}

static bool branch_is(const leap_net_spec *spec, int k, const char *input, leap_layer_kind first) {
  return spec->n_branches > k && !strcmp(spec->branches[k].input, input) && spec->branches[k].n_layers > 0 &&
         spec->branches[k].layers[0].kind == first;
}

static void test_vqa(void) {
  leap_run_config cfg;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_run_config_load(&cfg, "configs/vqa.yaml", NULL, 0, &err) == LEAP_OK, "vqa: %s",
                        err.message))
    return;
  const leap_stage_config *d = leap_run_config_stage(&cfg, "describe"), *a = leap_run_config_stage(&cfg, "answer");
  LEAP_TEST_ASSERT(d && a && d->n_inputs == 1 && a->n_inputs == 2 && !strcmp(a->inputs[1], "question") &&
                       a->loss == LEAP_LOSS_CROSS_ENTROPY && d->network.n_branches == 0 &&
                       d->network.layers[0].kind == LEAP_LAYER_CONV && d->network.layers[0].padding == 1,
                   "vqa: stages");
  LEAP_TEST_ASSERT(branch_is(&a->network, 0, "scene", LEAP_LAYER_EMBEDDING) &&
                       branch_is(&a->network, 1, "question", LEAP_LAYER_EMBEDDING),
                   "vqa: the answer network names its inputs");
  LEAP_TEST_ASSERT(cfg.e2e_has_network && cfg.e2e_interface == 0 &&
                       branch_is(&cfg.e2e_network, 0, "image", LEAP_LAYER_COORDS) &&
                       branch_is(&cfg.e2e_network, 1, "question", LEAP_LAYER_EMBEDDING),
                   "vqa: e2e reads the image (with its coordinates) through a conv stem, the question through an "
                   "embedding");
  const leap_field_config *q = leap_run_config_field(&cfg, "question"), *img = leap_run_config_field(&cfg, "image");
  LEAP_TEST_ASSERT(q && q->dtype == LEAP_I32 && q->vocab == 46 && img && img->n_channels == 1 && img->mean[3] == 0.5f,
                   "vqa: fields");
  leap_net_input image = net_input(LEAP_F32, 3, (int64_t[]){32, 32, 3});
  leap_net_input scene = net_input(LEAP_I32, 1, (int64_t[]){40}), question = net_input(LEAP_I32, 1, (int64_t[]){12});
  leap_net_input answer_in[2] = {scene, question}, e2e_in[2] = {image, question};
  check_net_inputs("vqa describe", &d->network, 1, &image, 46, 3);
  check_net_inputs("vqa answer", &a->network, 2, answer_in, 46, 3);
  check_net_inputs("vqa e2e", &cfg.e2e_network, 2, e2e_in, 46, 3);
  /* Composed (pipeline+finetune), the answer network's scene branch takes describe's (40,46) scores. */
  answer_in[0] = net_input(LEAP_F32, 2, (int64_t[]){40, 46});
  check_net_inputs("vqa answer on scores", &a->network, 2, answer_in, 46, 3);
  leap_run_config_free(&cfg);
  /* A branch's layer by --set, through the input's name. */
  const char *set = "stages.answer.network.inputs.question.0.embedding.channels=8";
  if (LEAP_TEST_ASSERT(leap_run_config_load(&cfg, "configs/vqa.yaml", &set, 1, &err) == LEAP_OK, "vqa set: %s",
                       err.message)) {
    LEAP_TEST_ASSERT(cfg.stages[1].network.branches[1].layers[0].units == 8, "--set reaches a branch's layer");
    leap_run_config_free(&cfg);
  }
  /* The gpt preset from a config, on one token input. */
  const char *gpt[] = {"stages.answer.input=scene", "stages.answer.network={arch: gpt, layers: 1, heads: 2, channels: 8}"};
  if (!LEAP_TEST_ASSERT(leap_run_config_load(&cfg, "configs/vqa.yaml", gpt, 2, &err) == LEAP_OK, "vqa gpt: %s",
                        err.message))
    return;
  a = &cfg.stages[1];
  LEAP_TEST_ASSERT(a->network.arch == LEAP_NET_GPT && a->network.gpt.channels == 8 && a->network.gpt.vocab == 0,
                   "vqa gpt: spec");
  check_net("vqa answer gpt", &a->network, 1, (int64_t[]){40}, true, 46, 3);
  leap_run_config_free(&cfg);
}

/* ---- a small config for overrides and errors ----------------------------------------------------------------- */

static const char *const g_base[] = {
    "task: toy",                                   /* 1 */
    "data:",                                       /* 2 */
    "  file: /tmp/none.h5",                        /* 3 */
    "  fields:",                                   /* 4 */
    "    x: {}",                                   /* 5 */
    "    y: {}",                                   /* 6 */
    "    z: {}",                                   /* 7 */
    "stages:",                                     /* 8 */
    "  - name: first",                             /* 9 */
    "    input: x",                                /* 10 */
    "    output: y",                               /* 11 */
    "    network:",                                /* 12 */
    "      arch: sequential",                      /* 13 */
    "      layers:",                               /* 14 */
    "        - {linear: {units: 8}}",              /* 15 */
    "        - relu",                              /* 16 */
    "  - name: second",                            /* 17 */
    "    input: y",                                /* 18 */
    "    output: z",                               /* 19 */
    "    network: {arch: mlp, hidden: [16]}",      /* 20 */
    "train:",                                      /* 21 */
    "  steps: 100",                                /* 22 */
    "  batch: 16",                                 /* 23 */
};
#define BASE_LINES ((int)(sizeof g_base / sizeof g_base[0]))

/* The base config with line `line` (1-based; 0 for none) replaced by text, written to path. */
static void write_variant(const char *path, int line, const char *text) {
  char buf[4096];
  size_t used = 0;
  for (int i = 0; i < BASE_LINES; i++)
    used += (size_t)snprintf(buf + used, sizeof buf - used, "%s\n", i + 1 == line ? text : g_base[i]);
  write_file(path, buf);
}

/* Follows a dotted path ("train.batch", "compare.fractions.0") through a parsed JSON document. */
static struct fy_node *json_at(struct fy_document *doc, const char *path) {
  struct fy_node *node = fy_document_root(doc);
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  char *save = NULL;
  for (char *comp = strtok_r(buf, ".", &save); comp && node; comp = strtok_r(NULL, ".", &save))
    node = fy_node_is_sequence(node) ? fy_node_sequence_get_by_index(node, atoi(comp))
                                     : fy_node_mapping_lookup_by_string(node, comp, FY_NT);
  return node;
}

static bool json_is(struct fy_document *doc, const char *path, const char *want) {
  struct fy_node *node = json_at(doc, path);
  const char *got = node && fy_node_is_scalar(node) ? fy_node_get_scalar0(node) : NULL;
  return LEAP_TEST_ASSERT(got && !strcmp(got, want), "resolved %s is '%s', want '%s'", path, got ? got : "(none)",
                          want);
}

/* The resolved JSON parses with libfyaml and holds the overrides and the defaults. */
static void check_resolved(const leap_run_config *cfg) {
  struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_JSON_FORCE};
  struct fy_document *doc = fy_document_build_from_string(&pcfg, cfg->resolved_json, FY_NT);
  if (LEAP_TEST_ASSERT(doc != NULL, "resolved_json does not parse: %s", cfg->resolved_json)) {
    json_is(doc, "train.batch", "32");
    json_is(doc, "compare.fractions.0", "0.1");
    json_is(doc, "train.lr", "0.0005");
    json_is(doc, "train.optimizer.name", "sgd");
    json_is(doc, "train.optimizer.beta2", "0.999");
    json_is(doc, "stages.1.network.hidden.1", "4");
    json_is(doc, "stages.0.network.layers.0.linear.units", "5");
    json_is(doc, "stages.0.input.0", "x");
    json_is(doc, "stages.0.loss", "mse");
    json_is(doc, "compare.finetune_steps", "25");
    json_is(doc, "compare.finetune_lr", "0.0005");
    json_is(doc, "data.groups.val", "val");
    json_is(doc, "data.fields.x.std", "1");
    json_is(doc, "device", "cpu");
    json_is(doc, "train.schedule.warmup", "10");
    json_is(doc, "e2e.network.arch", "mlp");
    fy_document_destroy(doc);
  }
}

/* The resolved JSON is itself a config that resolves to the same JSON. */
static void check_reload(const leap_run_config *cfg, const char *path) {
  leap_error err = {0};
  char again_path[300];
  snprintf(again_path, sizeof again_path, "%s.json", path);
  write_file(again_path, cfg->resolved_json);
  leap_run_config again;
  if (LEAP_TEST_ASSERT(leap_run_config_load(&again, again_path, NULL, 0, &err) == LEAP_OK, "reload: %s", err.message)) {
    LEAP_TEST_ASSERT(!strcmp(again.resolved_json, cfg->resolved_json), "reloading changes it:\n%s\n%s",
                     cfg->resolved_json, again.resolved_json);
    leap_run_config_free(&again);
  }
  remove(again_path);
}

static void test_overrides(const char *path) {
  write_variant(path, 0, NULL);
  const char *sets[] = {"train.batch = 32",
                        "compare.fractions=[0.1, 1]",
                        "stages.second.network.hidden=[8, 4]",
                        "stages.0.network.layers.0.linear.units=5",
                        "stages.0.network.layers.1=gelu",
                        "train.optimizer.name=sgd",
                        "train.optimizer.weight_decay=0",
                        "output.dir=/tmp/toy_out",
                        "data.generate.task=",
                        "e2e.network={arch: mlp, hidden: [3]}",
                        "train.lr=5e-4"};
  int n = (int)(sizeof sets / sizeof sets[0]);
  leap_run_config cfg;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_run_config_load(&cfg, path, sets, n, &err) == LEAP_OK, "overrides: %s", err.message))
    return;
  const leap_stage_config *second = leap_run_config_stage(&cfg, "second");
  LEAP_TEST_ASSERT(cfg.train.batch == 32 && cfg.compare.n_fractions == 2 && cfg.compare.fractions[0] == 0.1 &&
                       cfg.compare.fractions[1] == 1.0 && second->network.mlp.n_hidden == 2 &&
                       second->network.mlp.hidden[1] == 4 && cfg.stages[0].network.layers[0].units == 5 &&
                       cfg.stages[0].network.layers[1].kind == LEAP_LAYER_GELU &&
                       cfg.train.optimizer.kind == LEAP_OPTIM_SGD && cfg.train.optimizer.weight_decay == 0.0f &&
                       !strcmp(cfg.out_dir, "/tmp/toy_out") && cfg.e2e_has_network &&
                       cfg.e2e_network.arch == LEAP_NET_MLP && cfg.train.schedule.base_lr == 5e-4f,
                   "overrides: values");
  LEAP_TEST_ASSERT(!strncmp(cfg.e2e_network.source, "--set e2e.network=", 18) && cfg.e2e_network.line == 0,
                   "an overridden network names its --set: '%s'", cfg.e2e_network.source);
  check_resolved(&cfg);
  check_reload(&cfg, path);
  leap_run_config_free(&cfg);
}

/* ---- errors -------------------------------------------------------------------------------------------------- */

typedef struct error_case {
  int line;            /* the base line replaced (0: none) */
  const char *text;    /* its replacement */
  const char *set;     /* an override, or NULL */
  int expect_line;     /* the FILE:LINE the message starts with; 0: it starts with "--set <set>: " */
  const char *expect;  /* the rest of the message must contain this */
} error_case;

static const error_case g_errors[] = {
    /* unknown keys, with the closest known key or the list of them */
    {21, "trian:", NULL, 21, "key 'trian': unknown key (did you mean 'train'?)"},
    {22, "  stpes: 100", NULL, 22, "key 'train.stpes': unknown key (did you mean 'steps'?)"},
    {15, "        - {linear: {unit: 8}}", NULL, 15,
     "key 'stages.0.network.layers.0.linear.unit': unknown key (did you mean 'units'?)"},
    {16, "        - rleu", NULL, 16,
     "key 'stages.0.network.layers.1': unknown layer kind 'rleu' (did you mean 'relu'?)"},
    {20, "    network: {arch: mlp, layers: [relu]}", NULL, 20,
     "key 'stages.1.network.layers': unknown key for arch mlp (known keys: arch, hidden, activation, dropout)"},
    /* wrong types */
    {23, "  batch: abc", NULL, 23, "key 'train.batch': expected an integer, got 'abc'"},
    {23, "  batch: \"16\"", NULL, 23, "key 'train.batch': expected an integer, got the string \"16\""},
    {22, "  steps: {n: 1}", NULL, 22, "key 'train.steps': expected an integer, got a mapping"},
    {23, "  lr: fast", NULL, 23, "key 'train.lr': expected a number, got 'fast'"},
    {5, "    x: {normalize: maybe}", NULL, 5, "key 'data.fields.x.normalize': expected true or false, got 'maybe'"},
    {11, "    output: y\n    loss: l1", NULL, 12, "key 'stages.0.loss': expected one of: mse, cross_entropy; got 'l1'"},
    {13, "      arch: resnet", NULL, 13,
     "key 'stages.0.network.arch': expected one of: sequential, convnet, mlp, gpt; got 'resnet'"},
    {20, "    network: mlp", NULL, 20, "key 'stages.1.network': expected a mapping with an arch"},
    {20, "    network: {arch: mlp, hidden: 16}", NULL, 20,
     "key 'stages.1.network.hidden': expected a list, got a single value"},
    {23, "  batch: 16\ne2e: 5", NULL, 24, "key 'e2e': expected a mapping with keys interface, network; got a single"},
    /* missing required keys (reported at the mapping that lacks them) */
    {11, "", NULL, 9, "missing required key 'stages.0.output'"},
    {1, "", NULL, 1, "missing required key 'task'"},
    {3, "", NULL, 2, "missing required key 'data.file'"},
    {16, "        - conv", NULL, 16, "missing required key 'stages.0.network.layers.1.conv.channels'"},
    /* out of range */
    {23, "  batch: 0", NULL, 23, "key 'train.batch': 0 is out of range (1 to 16777216)"},
    {16, "        - {dropout: {p: 1.5}}", NULL, 16,
     "key 'stages.0.network.layers.1.dropout.p': 1.5 is out of range (0 to 0.99)"},
    {5, "    x: {std: [0.5, 0]}", NULL, 5, "key 'data.fields.x.std': every std must be positive, got 0"},
    {3, "  file: /tmp/none.h5\n  generate: {task: robto}", NULL, 4,
     "key 'data.generate.task': expected robot, vqa or speech (or \"\" for never); got 'robto'"},
    /* checks across keys */
    {23, "  batch: 16\n  micro_batches: 3", NULL, 24,
     "key 'train.micro_batches': 3 micro-batches do not divide the batch of 16"},
    {22, "  steps: 10\n  schedule: {warmup: 50}", NULL, 23,
     "key 'train.schedule.warmup': a warmup of 50 steps is longer than the 10 training steps"},
    {10, "    input: w", NULL, 10, "key 'stages.0.input': 'w' is not a field of data.fields"},
    {18, "    input: x", NULL, 18, "key 'stages.1.input': stage 'second' must take the previous stage's output 'y'"},
    {17, "  - name: first", NULL, 17, "key 'stages.1.name': stage 'first' is defined twice"},
    {11, "    output: y\n    loss: cross_entropy", NULL, 12,
     "key 'stages.0.loss': loss cross_entropy needs an i32 output field; 'y' is f32"},
    {23, "  batch: 16\ne2e: {interface: 8, network: {arch: mlp}}", NULL, 24,
     "key 'e2e.interface': e2e.interface composes the stages' networks"},
    {5, "    x: {dtype: i32, normalize: true}", NULL, 5,
     "key 'data.fields.x.dtype': a normalised field is delivered as f32"},
    {6, "    y: {dtype: i32}", NULL, 11,
     "key 'stages.0.output': the i32 field 'y' is predicted, so data.fields.y.vocab"},
    {18, "    input: [y, x]", NULL, 20, "key 'stages.1.network': stage 'second' takes 2 inputs, so its network must "
                                       "name them"},
    {18, "    input: [y, y]", NULL, 18, "key 'stages.1.input': 'y' is named twice"},
    {20, "    network: {arch: sequential, inputs: {x: [relu]}, layers: [relu]}", NULL, 20,
     "key 'stages.1.network.inputs': the network's inputs must be the stage's inputs (y)"},
    {20, "    network: {arch: sequential, inputs: {w: [relu]}, layers: [relu]}", NULL, 20,
     "key 'stages.1.network.inputs.w': 'w' is not a field of data.fields"},
    {20, "    network: {arch: sequential, inputs: {x: [relu], y: [relu], z: [relu]}, layers: [relu]}", NULL, 20,
     "key 'stages.1.network.inputs': has 3 inputs; a network takes at most 2"},
    {20, "    network: {arch: sequential, inputs: {y: []}, layers: [relu]}", NULL, 20,
     "key 'stages.1.network.inputs.y'"},
    {20, "    network: {arch: sequential, inputs: [relu], layers: [relu]}", NULL, 20,
     "key 'stages.1.network.inputs': expected a mapping from each input's field name to its layer list"},
    {20, "    network: {arch: mlp, inputs: {y: [relu]}}", NULL, 20, "key 'stages.1.network.inputs': unknown key"},
    {1, "task: my task", NULL, 1, "key 'task': 'my task' is not a valid name"},
    /* YAML itself */
    {20, "    network: {arch: mlp, hidden: [16}", NULL, 20, "invalid YAML: mismatched flow mapping end"},
    {23, "  steps: 5", NULL, 23, "3: invalid YAML: duplicate key"},
    /* --set */
    {0, NULL, "train.stpes=3", 0, "key 'train.stpes': unknown key (did you mean 'steps'?)"},
    {0, NULL, "train.batch=abc", 0, "key 'train.batch': expected an integer, got 'abc'"},
    {0, NULL, "compare.fractions=[0.1, 2]", 0, "key 'compare.fractions.1': 2 is out of range (1e-06 to 1)"},
    {0, NULL, "compare.finetune_lr=0", 0, "key 'compare.finetune_lr': 0 is out of range (1e-12 to 10)"},
    {0, NULL, "trainbatch", 0, "expected KEY=VALUE"},
    {0, NULL, "stages.9.loss=mse", 0, "'stages' has no item '9'"},
    {0, NULL, "stages.nope.loss=mse", 0, "'stages' has no item 'nope'"},
    {0, NULL, "stages.2=relu", 0, "'stages' has no item '2'"},
    {0, NULL, "train.batch.x=1", 0, "'train.batch' is a single value, not a mapping or list"},
    {0, NULL, "train.batch=[1", 0, "the value is not valid YAML"},
};

static void test_errors(const char *path) {
  for (size_t i = 0; i < sizeof g_errors / sizeof g_errors[0]; i++) {
    const error_case *e = &g_errors[i];
    write_variant(path, e->line, e->text);
    leap_run_config cfg;
    leap_error err = {0};
    leap_status st = leap_run_config_load(&cfg, path, e->set ? &e->set : NULL, e->set ? 1 : 0, &err);
    char prefix[400];
    if (e->expect_line) snprintf(prefix, sizeof prefix, "%s:%d:", path, e->expect_line);
    else snprintf(prefix, sizeof prefix, "--set %s: ", e->set);
    bool ok = st == LEAP_ERR_CONFIG && !strncmp(err.message, prefix, strlen(prefix)) && strstr(err.message, e->expect);
    LEAP_TEST_ASSERT(ok, "case %zu: status %d, message\n    '%s'\n  want '%s ... %s'", i, st, err.message, prefix,
                     e->expect);
    LEAP_TEST_ASSERT(st != LEAP_OK || (leap_run_config_free(&cfg), false), "case %zu loaded", i);
  }
  leap_run_config cfg;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_run_config_load(&cfg, "/tmp/leap_no_such_config.yaml", NULL, 0, &err) == LEAP_ERR_IO &&
                       strstr(err.message, "/tmp/leap_no_such_config.yaml: cannot read the config"),
                   "a missing file: '%s'", err.message);
  write_file(path, "- just\n- a list\n");
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_run_config_load(&cfg, path, NULL, 0, &err) == LEAP_ERR_CONFIG &&
                       strstr(err.message, ":1: a config is a mapping of keys"), "a list: '%s'", err.message);
}

int main(void) {
  leap_error err = {0};
  if (leap_runtime_init(&g_rt, LEAP_CPU, 2, &err)) return 1;
  char path[256];
  snprintf(path, sizeof path, "/tmp/leap_test_run_config_%d.yaml", (int)getpid());
  test_robot();
  test_vqa();
  test_overrides(path);
  test_errors(path);
  remove(path);
  leap_runtime_free(&g_rt);
  return leap_test_finish();
}
