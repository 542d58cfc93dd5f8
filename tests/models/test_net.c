/* Networks from specs (models/net.h): each preset and sequential lists covering every layer kind are built on small,
 * odd shapes, run forward and backward, and checked for their output shape, their parameter names and that every
 * trainable parameter received a gradient; a finite-difference check of a transformer list's parameters; bit
 * identity of a forward on 1 and 2 threads; and the error cases, each with its message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/net.h"
#include "tests/common/leap_test.h"

#ifdef LEAP_WITH_OPENMP
#include <omp.h>
#endif

static leap_runtime g_rt;

static leap_layer_spec L(leap_layer_kind kind) { return (leap_layer_spec){.kind = kind}; }
static leap_layer_spec conv(int ch, int k, int stride, int pad) {
  return (leap_layer_spec){.kind = LEAP_LAYER_CONV, .units = ch, .kernel = k, .stride = stride, .padding = pad};
}
static leap_layer_spec linear(int units) { return (leap_layer_spec){.kind = LEAP_LAYER_LINEAR, .units = units}; }

/* An input batch of N samples of the net's input shape: uniform f32, or token ids below vocab. */
static leap_tensor *make_input(leap_ctx *ctx, const leap_net *net, int64_t N, int64_t T, int vocab, uint64_t seed) {
  int64_t shape[LEAP_MAX_DIMS] = {N};
  for (int i = 0; i < net->in_ndim; i++) shape[i + 1] = net->in_shape[i];
  if (T) shape[1] = T;
  leap_tensor *x = leap_ctx_tensor(ctx, vocab ? LEAP_I32 : LEAP_F32, net->in_ndim + 1, shape, false);
  if (vocab) leap_test_fill_int(leap_i32(x), leap_tensor_numel(x), 0, vocab, seed);
  else leap_test_fill_uniform(leap_f32(x), leap_tensor_numel(x), -1.0f, 1.0f, seed);
  return x;
}

/* Backward from loss = sum(out * w) with fixed random weights w, so that every output element matters. */
static leap_status backward_weighted(leap_ctx *ctx, leap_tensor *out, uint64_t seed) {
  leap_tensor *w = leap_ctx_tensor(ctx, LEAP_F32, out->ndim, out->shape, false);
  leap_test_fill_uniform(leap_f32(w), leap_tensor_numel(w), -1.0f, 1.0f, seed);
  return leap_backward_with_grad(ctx, out, w);
}

typedef struct net_case {
  const char *what;
  leap_net_spec spec;
  int in_ndim;
  int64_t in_shape[4];
  int64_t out_dim;
  int vocab;                  /* > 0: the input is token ids */
  int out_ndim;               /* expected output dims, with N */
  const char *expect_params[4]; /* names that must exist (under the prefix "net.") */
  int expect_count;           /* number of parameters and buffers; 0: not checked */
} net_case;

static double max_abs(const float *x, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
  return m;
}

static void check_grads(const char *what, leap_params *ps) {
  for (int i = 0; i < ps->count; i++) {
    leap_param *p = &ps->items[i];
    if (p->kind != LEAP_PARAM_TRAINABLE) continue;
    double g = p->tensor->grad ? max_abs(leap_f32(p->tensor->grad), leap_tensor_numel(p->tensor)) : 0.0;
    LEAP_TEST_ASSERT(g > 0.0 && isfinite(g), "%s: parameter %s got no gradient (max |g| = %g)", what,
                     p->tensor->name, g);
  }
}

static void run_case(const net_case *c) {
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  if (!LEAP_TEST_ASSERT(leap_net_create(&net, &c->spec, c->in_ndim, c->in_shape, c->out_dim, &ps, "net.", 7, &err) ==
                            LEAP_OK, "%s: %s", c->what, err.message)) {
    leap_params_free(&ps);
    return;
  }
  for (int i = 0; i < 4 && c->expect_params[i]; i++)
    LEAP_TEST_ASSERT(leap_params_find(&ps, c->expect_params[i]) != NULL, "%s: no parameter %s", c->what,
                     c->expect_params[i]);
  if (c->expect_count)
    LEAP_TEST_ASSERT(ps.count == c->expect_count, "%s: %d parameters, want %d", c->what, ps.count, c->expect_count);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 3);
  leap_ctx_begin_step(&ctx);
  leap_tensor *x = make_input(&ctx, &net, 3, 0, c->vocab, 11);
  leap_tensor *out = leap_net_forward(&net, &ctx, x);
  if (LEAP_TEST_ASSERT(out != NULL, "%s: forward failed: %s", c->what, ctx.err.message)) {
    LEAP_TEST_ASSERT(out->ndim == c->out_ndim && out->shape[0] == 3 && out->shape[out->ndim - 1] == c->out_dim,
                     "%s: output has %d dims, last %lld; want %d dims, last %lld", c->what, out->ndim,
                     (long long)out->shape[out->ndim - 1], c->out_ndim, (long long)c->out_dim);
    LEAP_TEST_ASSERT(backward_weighted(&ctx, out, 5) == LEAP_OK, "%s: backward: %s", c->what, ctx.err.message);
    check_grads(c->what, &ps);
  }
  leap_ctx_free(&ctx);
  leap_net_destroy(&net);
  leap_params_free(&ps);
}

static leap_net_spec seq_spec(int n, const leap_layer_spec *layers) {
  leap_net_spec s;
  memset(&s, 0, sizeof s);
  s.arch = LEAP_NET_SEQUENTIAL;
  s.n_layers = n;
  memcpy(s.layers, layers, sizeof *layers * (size_t)n);
  return s;
}

static void test_archs(void) {
  static net_case cases[7];
  /* convnet preset: 13x11x3 images, two convs (one with batch norm), flatten, head 16 -> 4. */
  leap_net_spec cv = {.arch = LEAP_NET_CONVNET};
  cv.convnet.n_conv = 2;
  cv.convnet.conv[0] = (leap_conv_layer_config){6, 3, 2, 1, 1, true};
  cv.convnet.conv[1] = (leap_conv_layer_config){5, 3, 1, 1, 2, false};
  cv.convnet.head = (leap_mlp_config){.n_hidden = 1, .hidden = {16}, .activation = LEAP_ACT_RELU};
  cases[0] = (net_case){"convnet", cv, 3, {13, 11, 3}, 4, 0, 2, {"net.conv.0.weight", "net.bn.0.running_var",
                                                                 "net.head.fc.1.weight"}, 12};
  /* mlp preset on (2,3) samples, flattened to 6 features. */
  leap_net_spec mlp = {.arch = LEAP_NET_MLP};
  mlp.mlp = (leap_mlp_config){.n_hidden = 2, .hidden = {7, 5}, .activation = LEAP_ACT_GELU};
  cases[1] = (net_case){"mlp", mlp, 2, {2, 3}, 5, 0, 2, {"net.fc.0.weight", "net.fc.2.bias"}, 6};
  /* gpt preset: tokens (N,6), vocab 11 = out_dim, the context taken from the input. */
  leap_net_spec gpt = {.arch = LEAP_NET_GPT};
  gpt.gpt = (leap_gpt_config){.layers = 2, .heads = 2, .channels = 8};
  cases[2] = (net_case){"gpt", gpt, 1, {6}, 11, 11, 3, {"net.wte.weight", "net.h.1.mlp.proj.bias", "net.ln_f.bias"},
                        4 + 2 * 12};
  /* An image list through every image layer, a transformer over its pixels, and an appended output layer. */
  leap_layer_spec img[] = {conv(8, 3, 1, 1), L(LEAP_LAYER_RELU), L(LEAP_LAYER_BATCHNORM),
                           {.kind = LEAP_LAYER_MAXPOOL, .kernel = 2}, conv(6, 3, 2, 0),
                           {.kind = LEAP_LAYER_GROUPNORM, .groups = 3}, L(LEAP_LAYER_GELU),
                           {.kind = LEAP_LAYER_AVGPOOL, .kernel = 2, .stride = 1}, L(LEAP_LAYER_TOKENS),
                           L(LEAP_LAYER_POSITION), {.kind = LEAP_LAYER_TRANSFORMER, .heads = 2, .units = 10},
                           L(LEAP_LAYER_LAYERNORM), L(LEAP_LAYER_GLOBAL_AVGPOOL),
                           {.kind = LEAP_LAYER_DROPOUT, .p = 0.25f}, linear(9), L(LEAP_LAYER_RELU)};
  cases[3] = (net_case){"sequential image", seq_spec(16, img), 3, {15, 13, 3}, 3, 0, 2,
                        {"net.conv.0.weight", "net.batchnorm.2.running_mean", "net.transformer.10.attn.qkv.weight",
                         "net.linear.16.weight"}, 0};
  /* A flatten / linear list over a map, ending in a linear that takes the output width (units 0). */
  leap_layer_spec flat[] = {L(LEAP_LAYER_FLATTEN), linear(12), L(LEAP_LAYER_RELU), linear(0)};
  cases[4] = (net_case){"sequential flatten", seq_spec(4, flat), 3, {3, 5, 2}, 7, 0, 2,
                        {"net.linear.1.weight", "net.linear.3.bias"}, 4};
  /* A causal text model: embedding, positions, two blocks, per-token logits. */
  leap_layer_spec text[] = {{.kind = LEAP_LAYER_EMBEDDING, .vocab = 13, .units = 12}, L(LEAP_LAYER_POSITION),
                            {.kind = LEAP_LAYER_TRANSFORMER, .heads = 3, .causal = true},
                            {.kind = LEAP_LAYER_TRANSFORMER, .heads = 2, .causal = true, .p = 0.1f},
                            L(LEAP_LAYER_LAYERNORM), linear(13)};
  cases[5] = (net_case){"sequential text", seq_spec(6, text), 1, {7}, 13, 13, 3,
                        {"net.embedding.0.weight", "net.position.1.weight", "net.transformer.3.mlp.fc.weight"},
                        2 + 24 + 2 + 2};
  /* An image to a fixed-length token output: conv stem, tokens, an adapter, learned queries read after a block. */
  leap_layer_spec describe[] = {conv(8, 3, 2, 1), L(LEAP_LAYER_RELU), L(LEAP_LAYER_TOKENS), linear(10),
                                L(LEAP_LAYER_POSITION), {.kind = LEAP_LAYER_QUERIES, .units = 4},
                                {.kind = LEAP_LAYER_TRANSFORMER, .heads = 2}, {.kind = LEAP_LAYER_LAST, .units = 4},
                                L(LEAP_LAYER_LAYERNORM), linear(0)};
  cases[6] = (net_case){"sequential describe", seq_spec(10, describe), 3, {9, 9, 3}, 11, 0, 3,
                        {"net.queries.5.weight", "net.linear.9.weight"}, 2 + 2 + 1 + 1 + 12 + 2 + 2};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

/* ---- finite differences over a transformer list's parameters -------------------------------------------------- */

typedef struct fd_state {
  leap_net *net;
  leap_ctx *ctx;
  int32_t ids[2 * 5];
  float w[2 * 5 * 6];
} fd_state;

static double fd_loss(void *user) {
  fd_state *s = user;
  leap_ctx_begin_step(s->ctx);
  s->ctx->grad_enabled = false;
  leap_tensor *x = leap_ctx_tensor(s->ctx, LEAP_I32, 2, (int64_t[]){2, 5}, false);
  memcpy(x->data, s->ids, sizeof s->ids);
  leap_tensor *out = leap_net_forward(s->net, s->ctx, x);
  s->ctx->grad_enabled = true;
  return out ? leap_test_dot(leap_f32(out), s->w, 2 * 5 * 6) : NAN;
}

static void test_gradcheck(void) {
  leap_layer_spec text[] = {{.kind = LEAP_LAYER_EMBEDDING, .vocab = 9, .units = 8}, L(LEAP_LAYER_POSITION),
                            {.kind = LEAP_LAYER_TRANSFORMER, .heads = 2, .units = 12, .causal = true},
                            L(LEAP_LAYER_LAYERNORM), linear(6)};
  leap_net_spec spec = seq_spec(5, text);
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  LEAP_TEST_ASSERT(leap_net_create(&net, &spec, 1, (int64_t[]){5}, 6, &ps, "", 3, &err) == LEAP_OK, "%s",
                   err.message);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  fd_state s = {&net, &ctx, {0}, {0}};
  leap_test_fill_int(s.ids, 10, 0, 9, 21);
  leap_test_fill_uniform(s.w, 60, -1.0f, 1.0f, 22);
  leap_ctx_begin_step(&ctx);
  leap_tensor *x = leap_ctx_tensor(&ctx, LEAP_I32, 2, (int64_t[]){2, 5}, false);
  memcpy(x->data, s.ids, sizeof s.ids);
  leap_tensor *out = leap_net_forward(&net, &ctx, x);
  leap_tensor *g = leap_ctx_tensor(&ctx, LEAP_F32, 3, (int64_t[]){2, 5, 6}, false);
  memcpy(g->data, s.w, sizeof s.w);
  LEAP_TEST_ASSERT(leap_backward_with_grad(&ctx, out, g) == LEAP_OK, "%s", ctx.err.message);
  /* Gradients are copied out before the checks re-run the forward (which resets the step). */
  for (int i = 0; i < ps.count; i++) {
    leap_tensor *p = ps.items[i].tensor;
    int64_t n = leap_tensor_numel(p);
    float *grad = malloc(sizeof(float) * (size_t)n);
    memcpy(grad, leap_f32(p->grad), sizeof(float) * (size_t)n);
    /* The embeddings start at std 0.02 and the LayerNorms rescale them, so the loss is strongly curved in them:
     * central differences with eps 1e-3 on the fp32 forward; rtol 3e-2, atol 2e-2 (the gradients reach ~100). */
    leap_test_gradcheck(p->name, fd_loss, &s, leap_f32(p), grad, n, 1e-3, 2e-2, 3e-2, 12);
    free(grad);
  }
  leap_ctx_free(&ctx);
  leap_net_destroy(&net);
  leap_params_free(&ps);
}

/* The forward of the image list is bit-identical on 1 and 2 threads. */
static void test_threads(void) {
#ifdef LEAP_WITH_OPENMP
  leap_layer_spec img[] = {conv(8, 3, 2, 1), L(LEAP_LAYER_BATCHNORM), L(LEAP_LAYER_RELU), L(LEAP_LAYER_TOKENS),
                           L(LEAP_LAYER_POSITION), {.kind = LEAP_LAYER_TRANSFORMER, .heads = 2},
                           L(LEAP_LAYER_GLOBAL_AVGPOOL)};
  leap_net_spec spec = seq_spec(7, img);
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  LEAP_TEST_ASSERT(leap_net_create(&net, &spec, 3, (int64_t[]){9, 11, 3}, 5, &ps, "t.", 4, &err) == LEAP_OK, "%s",
                   err.message);
  float outs[2][7 * 5];
  for (int threads = 1; threads <= 2; threads++) {
    omp_set_num_threads(threads);
    leap_ctx ctx;
    leap_ctx_init(&ctx, &g_rt, 1);
    leap_ctx_begin_step(&ctx);
    ctx.grad_enabled = false;
    leap_tensor *out = leap_net_forward(&net, &ctx, make_input(&ctx, &net, 7, 0, 0, 9));
    if (LEAP_TEST_ASSERT(out && leap_tensor_numel(out) == 35, "forward: %s", ctx.err.message))
      memcpy(outs[threads - 1], out->data, sizeof outs[0]);
    leap_ctx_free(&ctx);
  }
  omp_set_num_threads(2);
  LEAP_TEST_ASSERT(!memcmp(outs[0], outs[1], sizeof outs[0]), "1 and 2 threads give different outputs");
  leap_net_destroy(&net);
  leap_params_free(&ps);
#endif
}

/* ---- errors -------------------------------------------------------------------------------------------------- */

typedef struct error_case {
  const char *what;
  leap_net_spec spec;
  int in_ndim;
  int64_t in_shape[4];
  int64_t out_dim;
  const char *message; /* a substring the error must contain */
} error_case;

static void test_errors(void) {
  leap_layer_spec conv_on_vector[] = {L(LEAP_LAYER_FLATTEN), conv(4, 3, 1, 1)};
  leap_layer_spec ends_in_map[] = {conv(4, 3, 1, 1)};
  leap_layer_spec early_zero[] = {L(LEAP_LAYER_FLATTEN), linear(0), linear(3)};
  leap_layer_spec late_embedding[] = {L(LEAP_LAYER_RELU), {.kind = LEAP_LAYER_EMBEDDING, .vocab = 5, .units = 4}};
  leap_layer_spec bad_heads[] = {{.kind = LEAP_LAYER_TRANSFORMER, .heads = 3}};
  leap_layer_spec bad_groups[] = {{.kind = LEAP_LAYER_GROUPNORM, .groups = 4}, L(LEAP_LAYER_FLATTEN)};
  leap_layer_spec big_kernel[] = {conv(4, 9, 1, 0), L(LEAP_LAYER_FLATTEN)};
  leap_layer_spec long_last[] = {{.kind = LEAP_LAYER_LAST, .units = 5}};
  leap_layer_spec big_pool[] = {{.kind = LEAP_LAYER_MAXPOOL, .kernel = 3, .padding = 2}, L(LEAP_LAYER_FLATTEN)};
  leap_net_spec from_config = seq_spec(2, conv_on_vector);
  strcpy(from_config.source, "configs/x.yaml");
  strcpy(from_config.key, "stages.0.network");
  from_config.line = 10;
  from_config.layers[1].line = 13;
  leap_net_spec cv = {.arch = LEAP_NET_CONVNET}, gpt = {.arch = LEAP_NET_GPT};
  cv.convnet.n_conv = 1;
  cv.convnet.conv[0] = (leap_conv_layer_config){4, 3, 1, 1, 0, false};
  gpt.gpt = (leap_gpt_config){.vocab = 10, .layers = 1, .heads = 2, .channels = 8};
  const error_case cases[] = {
      {"conv on a vector", seq_spec(2, conv_on_vector), 3, {4, 4, 8}, 2,
       "network 'net.': layer 1 (conv): input is a vector (N,128), conv needs (N,H,W,C)"},
      {"from a config", from_config, 3, {4, 4, 8}, 2,
       "configs/x.yaml:13: key 'stages.0.network': layer 1 (conv): input is a vector (N,128)"},
      {"ends with a map", seq_spec(1, ends_in_map), 3, {5, 5, 2}, 2,
       "layer 0 (conv): the network ends with a feature map (N,5,5,4)"},
      {"units 0 early", seq_spec(3, early_zero), 1, {6}, 3, "layer 1 (linear): units 0"},
      {"embedding later", seq_spec(2, late_embedding), 1, {6}, 3, "layer 1 (embedding): an embedding takes i32"},
      {"heads", seq_spec(1, bad_heads), 2, {4, 8}, 8, "layer 0 (transformer): heads 3 must be >= 1 and divide the 8"},
      {"groups", seq_spec(2, bad_groups), 3, {3, 3, 6}, 2, "layer 0 (groupnorm): groups 4 must be >= 1 and divide"},
      {"kernel", seq_spec(2, big_kernel), 3, {5, 7, 1}, 2, "layer 0 (conv): kernel 9 does not fit a 5x7 input"},
      {"pool padding", seq_spec(2, big_pool), 3, {5, 5, 1}, 2, "padding at most half the kernel"},
      {"last", seq_spec(1, long_last), 2, {4, 3}, 2, "layer 0 (last): length 5 must be between 1 and the 4 positions"},
      {"convnet on vectors", cv, 1, {4}, 2, "network 'net.' (arch convnet): needs (N,H,W,C) images; the input is a "
                                            "vector (N,4)"},
      {"gpt vocab", gpt, 1, {5}, 12, "(arch gpt): vocab 10 differs from the output width 12"},
      {"empty list", seq_spec(0, ends_in_map), 1, {4}, 2, "a layer list has 1 to 32 layers, not 0"},
      {"out_dim", seq_spec(1, ends_in_map), 3, {5, 5, 1}, 0, "the output width 0 must be >= 1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const error_case *c = &cases[i];
    leap_params ps;
    leap_params_init(&ps, LEAP_CPU);
    leap_error err = {0};
    leap_net net;
    leap_status st = leap_net_create(&net, &c->spec, c->in_ndim, c->in_shape, c->out_dim, &ps, "net.", 1, &err);
    LEAP_TEST_ASSERT(st == LEAP_ERR_CONFIG && strstr(err.message, c->message), "%s: status %d, message '%s', want '%s'",
                     c->what, st, err.message, c->message);
    LEAP_TEST_ASSERT(net.impl == NULL, "%s: a failed create keeps its structures", c->what);
    LEAP_TEST_ASSERT(ps.count == 0, "%s: %d parameters were added before the shape error", c->what, ps.count);
    leap_params_free(&ps);
  }
}

/* A forward with an input of another shape than the net was built for is a shape error; shorter token sequences
 * are accepted (decoding). */
static void test_forward_shapes(void) {
  leap_layer_spec text[] = {{.kind = LEAP_LAYER_EMBEDDING, .vocab = 7, .units = 4}, L(LEAP_LAYER_POSITION),
                            {.kind = LEAP_LAYER_TRANSFORMER, .heads = 2, .causal = true}};
  leap_layer_spec vec[] = {linear(3)};
  leap_net_spec ts = seq_spec(3, text), vs = seq_spec(1, vec);
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net tnet, vnet;
  leap_net_create(&tnet, &ts, 1, (int64_t[]){6}, 7, &ps, "t.", 1, &err);
  leap_net_create(&vnet, &vs, 1, (int64_t[]){5}, 3, &ps, "v.", 1, &err);
  LEAP_TEST_ASSERT(err.status == LEAP_OK, "%s", err.message);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  leap_ctx_begin_step(&ctx);
  leap_tensor *out = leap_net_forward(&tnet, &ctx, make_input(&ctx, &tnet, 2, 4, 7, 1));
  LEAP_TEST_ASSERT(out && out->ndim == 3 && out->shape[1] == 4 && out->shape[2] == 7, "short tokens: %s",
                   ctx.err.message);
  leap_tensor *bad = leap_ctx_tensor(&ctx, LEAP_F32, 2, (int64_t[]){2, 6}, true);
  LEAP_TEST_ASSERT(leap_net_forward(&vnet, &ctx, bad) == NULL && ctx.err.status == LEAP_ERR_SHAPE &&
                       strstr(ctx.err.message, "does not fit the shape it was built for, a vector (N,5)"),
                   "wrong width: '%s'", ctx.err.message);
  leap_ctx_begin_step(&ctx);
  LEAP_TEST_ASSERT(leap_net_forward(&tnet, &ctx, make_input(&ctx, &tnet, 2, 7, 7, 1)) == NULL &&
                       ctx.err.status == LEAP_ERR_SHAPE, "longer tokens than built: accepted");
  leap_ctx_free(&ctx);
  leap_net_destroy(&tnet);
  leap_net_destroy(&vnet);
  leap_params_free(&ps);
}

static void test_names(void) {
  const char *archs[] = {"sequential", "convnet", "mlp", "gpt"};
  for (int i = 0; i < 4; i++)
    LEAP_TEST_ASSERT(leap_net_arch_from_name(archs[i]) == i && !strcmp(leap_net_arch_name(i), archs[i]), "%s",
                     archs[i]);
  for (int k = 0; k < LEAP_LAYER_KIND_COUNT; k++)
    LEAP_TEST_ASSERT(leap_layer_kind_from_name(leap_layer_kind_name(k)) == k, "layer kind %d", k);
  LEAP_TEST_ASSERT(leap_layer_kind_from_name("convolution") == -1 && leap_net_arch_from_name("resnet") == -1,
                   "unknown names");
}

int main(void) {
  leap_error err = {0};
  if (leap_runtime_init(&g_rt, LEAP_CPU, 2, &err)) return 1;
  test_names();
  test_archs();
  test_gradcheck();
  test_threads();
  test_errors();
  test_forward_shapes();
  leap_runtime_free(&g_rt);
  return leap_test_finish();
}
