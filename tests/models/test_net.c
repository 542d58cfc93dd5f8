/* Networks from specs (models/net.h): each preset and sequential lists covering every layer kind are built on small,
 * odd shapes, run forward and backward, and checked for their output shape, their parameter names and that every
 * trainable parameter received a gradient; a finite-difference check of a transformer list's parameters; bit
 * identity of a forward on 1 and 2 threads; and the error cases, each with its message.
 *
 * Named inputs: an image branch (conv stem, tokens, adapter) and a token branch (embedding) joined along the
 * sequence, and a vector branch joined as one token: shapes, names, gradients, the join order checked against the
 * branches' own outputs, finite differences over every parameter, thread identity; an embedding fed f32 scores
 * against softmax(scores) @ table computed here, with finite differences for the scores and the table; and their
 * errors. */
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
  for (int i = 0; i < net->inputs[0].ndim; i++) shape[i + 1] = net->inputs[0].shape[i];
  if (T) shape[1] = T;
  leap_tensor *x = leap_ctx_tensor(ctx, vocab ? LEAP_I32 : LEAP_F32, net->inputs[0].ndim + 1, shape, false);
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
      {"embedding later", seq_spec(2, late_embedding), 1, {6}, 3,
       "layer 1 (embedding): an embedding takes the input's token ids (or scores over them), so it must be the first"},
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
                       strstr(ctx.err.message, "does not fit what it was built for, f32 a vector (N,5)"),
                   "wrong width: '%s'", ctx.err.message);
  leap_ctx_begin_step(&ctx);
  LEAP_TEST_ASSERT(leap_net_forward(&tnet, &ctx, make_input(&ctx, &tnet, 2, 7, 7, 1)) == NULL &&
                       ctx.err.status == LEAP_ERR_SHAPE, "longer tokens than built: accepted");
  leap_ctx_free(&ctx);
  leap_net_destroy(&tnet);
  leap_net_destroy(&vnet);
  leap_params_free(&ps);
}

/* ---- named inputs ------------------------------------------------------------------------------------------ */

static leap_net_branch branch(const char *input, int n, const leap_layer_spec *layers) {
  leap_net_branch b;
  memset(&b, 0, sizeof b);
  snprintf(b.input, sizeof b.input, "%s", input);
  b.n_layers = n;
  memcpy(b.layers, layers, sizeof *layers * (size_t)n);
  return b;
}

static leap_net_input input_of(leap_dtype dtype, int ndim, const int64_t *shape) {
  leap_net_input in;
  memset(&in, 0, sizeof in);
  in.dtype = dtype;
  in.ndim = ndim;
  memcpy(in.shape, shape, sizeof(int64_t) * (size_t)ndim);
  return in;
}

/* Batches for a net's inputs: f32 uniform values, or token ids below vocab for i32 inputs. */
static void make_inputs(leap_ctx *ctx, const leap_net *net, int64_t N, int vocab, uint64_t seed, leap_tensor **xs) {
  for (int k = 0; k < net->n_inputs; k++) {
    const leap_net_input *in = &net->inputs[k];
    int64_t shape[LEAP_MAX_DIMS] = {N};
    memcpy(shape + 1, in->shape, sizeof(int64_t) * (size_t)in->ndim);
    xs[k] = leap_ctx_tensor(ctx, in->dtype, in->ndim + 1, shape, false);
    if (in->dtype == LEAP_I32) leap_test_fill_int(leap_i32(xs[k]), leap_tensor_numel(xs[k]), 0, vocab, seed + k);
    else leap_test_fill_uniform(leap_f32(xs[k]), leap_tensor_numel(xs[k]), -1.0f, 1.0f, seed + k);
  }
}

/* The e2e shape of vqa: an image (7,9,3) with its coordinates through a conv stem, tokens and an adapter to width 8
 * (20 tokens), and
 * question ids (5) through an embedding; joined (25,8), then positions, 2 queries, a block, the last 2, logits. */
static leap_net_spec image_question_spec(void) {
  const leap_layer_spec image[] = {L(LEAP_LAYER_COORDS), conv(6, 3, 2, 1), L(LEAP_LAYER_RELU), L(LEAP_LAYER_TOKENS),
                                   linear(8)};
  const leap_layer_spec question[] = {{.kind = LEAP_LAYER_EMBEDDING, .vocab = 11, .units = 8}};
  const leap_layer_spec main_list[] = {L(LEAP_LAYER_POSITION), {.kind = LEAP_LAYER_QUERIES, .units = 2},
                                       {.kind = LEAP_LAYER_TRANSFORMER, .heads = 2},
                                       {.kind = LEAP_LAYER_LAST, .units = 2}, L(LEAP_LAYER_LAYERNORM), linear(0)};
  leap_net_spec s = seq_spec(6, main_list);
  s.n_branches = 2;
  s.branches[0] = branch("image", 5, image);
  s.branches[1] = branch("question", 1, question);
  return s;
}

static const leap_net_input *image_question_inputs(void) {
  static leap_net_input in[2];
  in[0] = input_of(LEAP_F32, 3, (int64_t[]){7, 9, 3});
  in[1] = input_of(LEAP_I32, 1, (int64_t[]){5});
  return in;
}

static void test_named_inputs(void) {
  leap_net_spec spec = image_question_spec();
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  if (!LEAP_TEST_ASSERT(leap_net_create_inputs(&net, &spec, 2, image_question_inputs(), 6, &ps, "e2e.", 5, &err) ==
                            LEAP_OK, "image + question: %s", err.message))
    return leap_params_free(&ps);
  const char *names[] = {"e2e.image.conv.1.weight", "e2e.image.linear.4.bias", "e2e.question.embedding.0.weight",
                         "e2e.position.0.weight", "e2e.queries.1.weight", "e2e.transformer.2.attn.qkv.weight",
                         "e2e.linear.5.weight"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    LEAP_TEST_ASSERT(leap_params_find(&ps, names[i]) != NULL, "no parameter %s", names[i]);
  LEAP_TEST_ASSERT(leap_params_find(&ps, "e2e.position.0.weight")->tensor->shape[0] == 20 + 5,
                   "positions cover the 20 image and 5 question tokens");
  LEAP_TEST_ASSERT(leap_params_find(&ps, "e2e.image.conv.1.weight")->tensor->shape[3] == 3 + 2,
                   "the conv sees the 3 colours and the 2 coordinates");
  LEAP_TEST_ASSERT(net.n_inputs == 2 && net.out_ndim == 2 && net.out_shape[0] == 2 && net.out_shape[1] == 6,
                   "output (2,6) per sample");
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 3);
  leap_ctx_begin_step(&ctx);
  leap_tensor *xs[2];
  make_inputs(&ctx, &net, 3, 11, 31, xs);
  leap_tensor *out = leap_net_forward_inputs(&net, &ctx, xs);
  if (LEAP_TEST_ASSERT(out && out->ndim == 3 && out->shape[0] == 3 && out->shape[1] == 2 && out->shape[2] == 6,
                       "forward: %s", ctx.err.message)) {
    LEAP_TEST_ASSERT(backward_weighted(&ctx, out, 6) == LEAP_OK, "backward: %s", ctx.err.message);
    check_grads("image + question", &ps);
  }
  leap_ctx_begin_step(&ctx);
  LEAP_TEST_ASSERT(leap_net_forward(&net, &ctx, xs[0]) == NULL && strstr(ctx.err.message, "takes 2 inputs, given 1"),
                   "one input for two: '%s'", ctx.err.message);
  leap_ctx_free(&ctx);
  leap_net_destroy(&net);
  leap_params_free(&ps);
}

/* The joined sequence is branch 0's tokens, then branch 1's: read back through `last` with no output layer. A vector
 * branch joins as one token. */
static void test_join_order(void) {
  leap_layer_spec vec[] = {linear(4)}, tok[] = {{.kind = LEAP_LAYER_EMBEDDING, .vocab = 7, .units = 4}};
  leap_layer_spec keep[] = {{.kind = LEAP_LAYER_LAST, .units = 1 + 3}};
  leap_net_spec spec = seq_spec(1, keep);
  spec.n_branches = 2;
  spec.branches[0] = branch("v", 1, vec);
  spec.branches[1] = branch("t", 1, tok);
  leap_net_input in[2] = {input_of(LEAP_F32, 1, (int64_t[]){5}), input_of(LEAP_I32, 1, (int64_t[]){3})};
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  if (!LEAP_TEST_ASSERT(leap_net_create_inputs(&net, &spec, 2, in, 4, &ps, "j.", 2, &err) == LEAP_OK, "%s",
                        err.message))
    return leap_params_free(&ps);
  LEAP_TEST_ASSERT(ps.count == 3, "no output layer appended (%d parameters)", ps.count);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 3);
  leap_ctx_begin_step(&ctx);
  ctx.grad_enabled = false;
  leap_tensor *xs[2];
  make_inputs(&ctx, &net, 2, 7, 41, xs);
  leap_tensor *out = leap_net_forward_inputs(&net, &ctx, xs);
  const float *w = leap_f32(leap_params_find(&ps, "j.v.linear.0.weight")->tensor);
  const float *b = leap_f32(leap_params_find(&ps, "j.v.linear.0.bias")->tensor);
  const float *table = leap_f32(leap_params_find(&ps, "j.t.embedding.0.weight")->tensor);
  float want[2 * 4 * 4];
  for (int n = 0; n < 2; n++)
    for (int c = 0; c < 4; c++) {
      double v = b[c];
      for (int i = 0; i < 5; i++) v += (double)w[c * 5 + i] * leap_f32(xs[0])[n * 5 + i];
      want[n * 16 + c] = (float)v;
      for (int t = 0; t < 3; t++) want[n * 16 + (1 + t) * 4 + c] = table[leap_i32(xs[1])[n * 3 + t] * 4 + c];
    }
  if (LEAP_TEST_ASSERT(out && leap_tensor_numel(out) == 32, "forward: %s", ctx.err.message))
    leap_test_allclose("joined: the vector's token, then the embeddings", leap_f32(out), want, 32, 1e-6, 1e-5);
  leap_ctx_free(&ctx);
  leap_net_destroy(&net);
  leap_params_free(&ps);
}

/* coords appends the column and the row, each from -1 to 1, after the input's channels. */
static void test_coords(void) {
  leap_layer_spec layers[] = {L(LEAP_LAYER_COORDS), L(LEAP_LAYER_FLATTEN)};
  leap_net_spec spec = seq_spec(2, layers);
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  if (!LEAP_TEST_ASSERT(leap_net_create(&net, &spec, 3, (int64_t[]){2, 3, 1}, 2 * 3 * 3, &ps, "c.", 1, &err) ==
                            LEAP_OK && ps.count == 0,
                        "coords: %s", err.message))
    return leap_params_free(&ps);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  leap_ctx_begin_step(&ctx);
  leap_tensor *x = make_input(&ctx, &net, 2, 0, 0, 91), *out = leap_net_forward(&net, &ctx, x);
  float want[2 * 18];
  for (int n = 0; n < 2; n++)
    for (int h = 0; h < 2; h++)
      for (int w = 0; w < 3; w++) {
        float *at = want + n * 18 + (h * 3 + w) * 3;
        at[0] = leap_f32(x)[n * 6 + h * 3 + w];
        at[1] = (float)(w - 1);
        at[2] = (float)(2 * h - 1);
      }
  if (LEAP_TEST_ASSERT(out && leap_tensor_numel(out) == 36, "coords forward: %s", ctx.err.message))
    leap_test_allclose("the input, its column, its row", leap_f32(out), want, 36, 0, 0);
  leap_ctx_free(&ctx);
  leap_net_destroy(&net);
  leap_params_free(&ps);
}

typedef struct multi_fd {
  leap_net *net;
  leap_ctx *ctx;
  leap_tensor *xs[2];
  float w[3 * 2 * 6];
} multi_fd;

static double multi_fd_loss(void *user) {
  multi_fd *s = user;
  leap_ctx_begin_step(s->ctx);
  s->ctx->grad_enabled = false;
  leap_tensor *out = leap_net_forward_inputs(s->net, s->ctx, s->xs);
  s->ctx->grad_enabled = true;
  return out ? leap_test_dot(leap_f32(out), s->w, 3 * 2 * 6) : NAN;
}

/* Finite differences over every parameter of the image + question net (inputs kept outside the step's arena). */
static void test_named_gradcheck(void) {
  leap_net_spec spec = image_question_spec();
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  if (!LEAP_TEST_ASSERT(leap_net_create_inputs(&net, &spec, 2, image_question_inputs(), 6, &ps, "g.", 8, &err) ==
                            LEAP_OK, "%s", err.message))
    return leap_params_free(&ps);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  multi_fd s = {&net, &ctx, {NULL, NULL}, {0}};
  s.xs[0] = leap_tensor_create(LEAP_CPU, LEAP_F32, 4, (int64_t[]){3, 7, 9, 3}, "image", false, &err);
  s.xs[1] = leap_tensor_create(LEAP_CPU, LEAP_I32, 2, (int64_t[]){3, 5}, "question", false, &err);
  leap_test_fill_uniform(leap_f32(s.xs[0]), 3 * 7 * 9 * 3, -1.0f, 1.0f, 51);
  leap_test_fill_int(leap_i32(s.xs[1]), 15, 0, 11, 52);
  leap_test_fill_uniform(s.w, 36, -1.0f, 1.0f, 53);
  leap_ctx_begin_step(&ctx);
  leap_tensor *out = leap_net_forward_inputs(&net, &ctx, s.xs);
  leap_tensor *g = leap_ctx_tensor(&ctx, LEAP_F32, 3, (int64_t[]){3, 2, 6}, false);
  memcpy(g->data, s.w, sizeof s.w);
  LEAP_TEST_ASSERT(out && leap_backward_with_grad(&ctx, out, g) == LEAP_OK, "%s", ctx.err.message);
  for (int i = 0; i < ps.count; i++) {
    leap_tensor *p = ps.items[i].tensor;
    int64_t n = leap_tensor_numel(p);
    float *grad = malloc(sizeof(float) * (size_t)n);
    memcpy(grad, leap_f32(p->grad), sizeof(float) * (size_t)n);
    /* As test_gradcheck: small-std embeddings under LayerNorms curve the loss; eps 1e-3, rtol 3e-2, atol 2e-2. */
    leap_test_gradcheck(p->name, multi_fd_loss, &s, leap_f32(p), grad, n, 1e-3, 2e-2, 3e-2, 8);
    free(grad);
  }
  leap_tensor_destroy(s.xs[0]);
  leap_tensor_destroy(s.xs[1]);
  leap_ctx_free(&ctx);
  leap_net_destroy(&net);
  leap_params_free(&ps);
}

/* The image + question forward is bit-identical on 1 and 2 threads. */
static void test_named_threads(void) {
#ifdef LEAP_WITH_OPENMP
  leap_net_spec spec = image_question_spec();
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  if (!LEAP_TEST_ASSERT(leap_net_create_inputs(&net, &spec, 2, image_question_inputs(), 6, &ps, "t.", 9, &err) ==
                            LEAP_OK, "%s", err.message))
    return leap_params_free(&ps);
  float outs[2][5 * 2 * 6];
  for (int threads = 1; threads <= 2; threads++) {
    omp_set_num_threads(threads);
    leap_ctx ctx;
    leap_ctx_init(&ctx, &g_rt, 1);
    leap_ctx_begin_step(&ctx);
    ctx.grad_enabled = false;
    leap_tensor *xs[2];
    make_inputs(&ctx, &net, 5, 11, 61, xs);
    leap_tensor *out = leap_net_forward_inputs(&net, &ctx, xs);
    leap_test_poison(outs[threads - 1], 60);
    if (LEAP_TEST_ASSERT(out && leap_tensor_numel(out) == 60, "forward: %s", ctx.err.message))
      memcpy(outs[threads - 1], out->data, sizeof outs[0]);
    leap_ctx_free(&ctx);
  }
  omp_set_num_threads(2);
  LEAP_TEST_ASSERT(!memcmp(outs[0], outs[1], sizeof outs[0]), "1 and 2 threads give different outputs");
  leap_net_destroy(&net);
  leap_params_free(&ps);
#endif
}

typedef struct soft_fd {
  leap_net *net;
  leap_ctx *ctx;
  leap_tensor *x;
  float w[2 * 3 * 5];
} soft_fd;

static double soft_fd_loss(void *user) {
  soft_fd *s = user;
  leap_ctx_begin_step(s->ctx);
  s->ctx->grad_enabled = false;
  leap_tensor *out = leap_net_forward(s->net, s->ctx, s->x);
  s->ctx->grad_enabled = true;
  return out ? leap_test_dot(leap_f32(out), s->w, 2 * 3 * 5) : NAN;
}

/* An embedding fed f32 scores (N,3,7): softmax over the 7 ids, times the table (7,5), against double arithmetic
 * here; finite differences for the scores and the table. */
static void test_soft_embedding(void) {
  leap_layer_spec emb[] = {{.kind = LEAP_LAYER_EMBEDDING, .vocab = 7, .units = 5}};
  leap_net_spec spec = seq_spec(1, emb);
  leap_net_input in = input_of(LEAP_F32, 2, (int64_t[]){3, 7});
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  if (!LEAP_TEST_ASSERT(leap_net_create_inputs(&net, &spec, 1, &in, 5, &ps, "s.", 4, &err) == LEAP_OK, "%s",
                        err.message))
    return leap_params_free(&ps);
  leap_tensor *table = leap_params_find(&ps, "s.embedding.0.weight")->tensor;
  leap_test_fill_uniform(leap_f32(table), 35, -1.0f, 1.0f, 71);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  soft_fd s = {&net, &ctx, leap_tensor_create(LEAP_CPU, LEAP_F32, 3, (int64_t[]){2, 3, 7}, "scores", true, &err),
               {0}};
  s.x->requires_grad = true;
  leap_test_fill_uniform(leap_f32(s.x), 42, -3.0f, 3.0f, 72);
  leap_test_fill_uniform(s.w, 30, -1.0f, 1.0f, 73);
  float want[30];
  for (int r = 0; r < 6; r++) {
    const float *x = leap_f32(s.x) + r * 7;
    double e[7], z = 0;
    for (int v = 0; v < 7; v++) z += e[v] = exp((double)x[v]);
    for (int c = 0; c < 5; c++) {
      double acc = 0;
      for (int v = 0; v < 7; v++) acc += e[v] / z * leap_f32(table)[v * 5 + c];
      want[r * 5 + c] = (float)acc;
    }
  }
  leap_ctx_begin_step(&ctx);
  leap_tensor *out = leap_net_forward(&net, &ctx, s.x);
  if (LEAP_TEST_ASSERT(out && out->ndim == 3 && out->shape[2] == 5, "soft forward: %s", ctx.err.message)) {
    leap_test_allclose("softmax(scores) @ table", leap_f32(out), want, 30, 1e-6, 1e-5);
    leap_tensor *g = leap_ctx_tensor(&ctx, LEAP_F32, 3, (int64_t[]){2, 3, 5}, false);
    memcpy(g->data, s.w, sizeof s.w);
    LEAP_TEST_ASSERT(leap_backward_with_grad(&ctx, out, g) == LEAP_OK, "%s", ctx.err.message);
    float gx[42], gt[35];
    memcpy(gx, leap_f32(s.x->grad), sizeof gx);
    memcpy(gt, leap_f32(table->grad), sizeof gt);
    leap_test_gradcheck("scores", soft_fd_loss, &s, leap_f32(s.x), gx, 42, 1e-3, 1e-4, 1e-2, 42);
    leap_test_gradcheck("table", soft_fd_loss, &s, leap_f32(table), gt, 35, 1e-3, 1e-4, 1e-2, 35);
  }
  leap_tensor_destroy(s.x);
  leap_ctx_free(&ctx);
  leap_net_destroy(&net);
  leap_params_free(&ps);
}

typedef struct multi_error {
  const char *what;
  leap_net_spec spec;
  int n_inputs;
  leap_net_input inputs[2];
  const char *message;
} multi_error;

static void test_named_errors(void) {
  leap_layer_spec tok[] = {{.kind = LEAP_LAYER_EMBEDDING, .vocab = 5, .units = 4}}, wide[] = {linear(6)};
  leap_layer_spec map[] = {conv(4, 3, 1, 1)}, relu[] = {L(LEAP_LAYER_RELU)}, flat[] = {L(LEAP_LAYER_FLATTEN)};
  leap_net_spec plain = seq_spec(1, flat), widths = seq_spec(1, flat), raw_ids = seq_spec(1, flat);
  leap_net_spec ends_map = seq_spec(1, flat), scores = seq_spec(1, flat), twice = seq_spec(1, flat);
  widths.n_branches = 2, widths.branches[0] = branch("a", 1, tok), widths.branches[1] = branch("b", 1, wide);
  raw_ids.n_branches = 1, raw_ids.branches[0] = branch("ids", 1, relu);
  ends_map.n_branches = 1, ends_map.branches[0] = branch("img", 1, map);
  scores.n_branches = 1, scores.branches[0] = branch("s", 1, tok);
  twice.n_branches = 2, twice.branches[0] = branch("a", 1, tok), twice.branches[1] = branch("a", 1, tok);
  leap_net_spec mlp = {.arch = LEAP_NET_MLP};
  leap_net_input ids = input_of(LEAP_I32, 1, (int64_t[]){3}), vec = input_of(LEAP_F32, 1, (int64_t[]){4});
  leap_net_input img = input_of(LEAP_F32, 3, (int64_t[]){4, 4, 2}), sc = input_of(LEAP_F32, 2, (int64_t[]){3, 6});
  const multi_error cases[] = {
      {"two inputs, no names", plain, 2, {vec, vec}, "the network takes 1 input (no named inputs) but is given 2"},
      {"widths", widths, 2, {ids, vec}, "input 'b' layer 0 (linear): the branch ends with width 6, the branch of "
                                        "input 'a' with 4"},
      {"ids without embedding", raw_ids, 1, {ids}, "input 'ids' layer 0 (relu): the input is i32 token ids, which "
                                                   "only an embedding"},
      {"branch ends in a map", ends_map, 1, {img}, "input 'img' layer 0 (conv): the branch ends with a feature map"},
      {"scores of another width", scores, 1, {sc}, "input 's' layer 0 (embedding): input is f32 a sequence (N,3,6); "
                                                   "an embedding takes i32 token ids, or f32 scores (N,...,5)"},
      {"a name twice", twice, 2, {ids, ids}, "input 'a' is named twice"},
      {"a preset with two inputs", mlp, 2, {vec, vec}, "takes one input; only a sequential layer list has named"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const multi_error *c = &cases[i];
    leap_params ps;
    leap_params_init(&ps, LEAP_CPU);
    leap_error err = {0};
    leap_net net;
    leap_status st = leap_net_create_inputs(&net, &c->spec, c->n_inputs, c->inputs, 4, &ps, "net.", 1, &err);
    LEAP_TEST_ASSERT(st == LEAP_ERR_CONFIG && strstr(err.message, c->message), "%s: status %d, message '%s', want '%s'",
                     c->what, st, err.message, c->message);
    LEAP_TEST_ASSERT(net.impl == NULL && ps.count == 0, "%s: a failed create keeps nothing", c->what);
    leap_params_free(&ps);
  }
}

/* At forward: inputs of different batch sizes, and a dtype the input was not built for. */
static void test_named_forward_errors(void) {
  leap_net_spec spec = image_question_spec();
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_net net;
  leap_net_create_inputs(&net, &spec, 2, image_question_inputs(), 6, &ps, "f.", 1, &err);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  leap_ctx_begin_step(&ctx);
  leap_tensor *xs[2];
  make_inputs(&ctx, &net, 3, 11, 81, xs);
  xs[1] = leap_ctx_tensor(&ctx, LEAP_I32, 2, (int64_t[]){4, 5}, true);
  LEAP_TEST_ASSERT(leap_net_forward_inputs(&net, &ctx, xs) == NULL && strstr(ctx.err.message, "input 'question'"),
                   "batch sizes differ: '%s'", ctx.err.message);
  leap_ctx_begin_step(&ctx);
  make_inputs(&ctx, &net, 3, 11, 81, xs);
  xs[1] = leap_ctx_tensor(&ctx, LEAP_F32, 2, (int64_t[]){3, 5}, true);
  LEAP_TEST_ASSERT(leap_net_forward_inputs(&net, &ctx, xs) == NULL &&
                       strstr(ctx.err.message, "does not fit what it was built for, i32 a vector (N,5)"),
                   "f32 for ids: '%s'", ctx.err.message);
  leap_ctx_free(&ctx);
  leap_net_destroy(&net);
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
  test_named_inputs();
  test_join_order();
  test_coords();
  test_named_gradcheck();
  test_named_threads();
  test_soft_embedding();
  test_named_errors();
  test_named_forward_errors();
  leap_runtime_free(&g_rt);
  return leap_test_finish();
}
