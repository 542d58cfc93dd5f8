/* Networks described by data: the named presets (convnet, mlp, gpt) wrap their builders; a "sequential" list is
 * built layer by layer from a table indexed by the layer kind, each entry inferring its output shape from its input
 * shape (per sample, without N), adding its parameters, and running its forward.
 *
 * A list with named inputs runs each input's branch, joins the branches' outputs along the sequence, then runs the
 * main list.
 *
 * Building runs the lists twice: a dry pass that only infers shapes (so that every shape error is found before any
 * parameter exists, and so that the builder knows whether a final linear to out_dim has to be appended), then the
 * real pass that adds the parameters. */
#include "models/net.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/transformer.h"
#include "train/core/init.h"

#define NET_BN_MOMENTUM 0.1f
#define NET_NORM_EPS 1e-5f
#define NET_EMBED_STD 0.02f

static const char *const g_arch_names[] = {"sequential", "convnet", "mlp", "gpt"};
static const char *const g_layer_names[LEAP_LAYER_KIND_COUNT] = {
    "conv",      "maxpool", "avgpool", "global_avgpool", "flatten",     "linear", "batchnorm", "layernorm",
    "groupnorm", "relu",    "gelu",    "dropout",        "embedding",   "transformer", "tokens", "position",
    "queries",   "last",    "coords"};

int leap_net_arch_from_name(const char *name) {
  for (int i = 0; name && i < (int)(sizeof g_arch_names / sizeof g_arch_names[0]); i++)
    if (!strcmp(name, g_arch_names[i])) return i;
  return -1;
}

int leap_layer_kind_from_name(const char *name) {
  for (int i = 0; name && i < LEAP_LAYER_KIND_COUNT; i++)
    if (!strcmp(name, g_layer_names[i])) return i;
  return -1;
}

const char *leap_net_arch_name(leap_net_arch arch) {
  return (unsigned)arch < sizeof g_arch_names / sizeof g_arch_names[0] ? g_arch_names[arch] : "?";
}

const char *leap_layer_kind_name(leap_layer_kind kind) {
  return (unsigned)kind < LEAP_LAYER_KIND_COUNT ? g_layer_names[kind] : "?";
}

/* ---- the built forms ------------------------------------------------------------------------------------------ */

typedef struct seq_layer {
  leap_layer_spec spec;
  leap_tensor *w, *b, *mean, *var; /* what the kind has: weight/table, bias, batch norm's running statistics */
  leap_transformer_block block;
} seq_layer;

typedef struct seq_branch {
  int n_layers;
  seq_layer layers[LEAP_NET_MAX_BRANCH_LAYERS];
} seq_branch;

typedef struct seq_net {
  int n_layers; /* with an appended head */
  seq_layer layers[LEAP_NET_MAX_LAYERS + 1];
  int n_branches;
  seq_branch branches[LEAP_NET_MAX_INPUTS];
} seq_net;

/* Shape inference and parameter creation, one list at a time. */
typedef struct builder {
  const leap_net_spec *spec;
  const char *net_prefix;  /* the net's parameter prefix ("answer.") */
  char prefix[160];        /* the list's: the net's, or "<net prefix><input>." for a branch */
  int branch;              /* the branch being built, or -1 for the main list */
  leap_params *ps;         /* NULL in the dry pass */
  uint64_t seed;
  int index, n_layers, depth;
  leap_dtype dtype;        /* i32 until an embedding has turned token ids into vectors */
  int ndim;                /* the current per-sample shape */
  int64_t shape[LEAP_MAX_DIMS];
  int64_t out_dim;
  leap_error *err;
} builder;

/* "a vector (N,128)", "a feature map (N,8,8,32)": what a per-sample shape is, with the batch dim shown as N. */
static const char *describe(int ndim, const int64_t *shape, char *buf, size_t size) {
  static const char *const what[] = {"per-sample scalars", "a vector", "a sequence", "a feature map"};
  int used = snprintf(buf, size, "%s (N", ndim < 4 ? what[ndim] : "a tensor");
  for (int i = 0; i < ndim && used > 0 && (size_t)used < size; i++)
    used += snprintf(buf + used, size - (size_t)used, ",%lld", (long long)shape[i]);
  if (used > 0 && (size_t)used < size) snprintf(buf + used, size - (size_t)used, ")");
  return buf;
}

/* Where an error is: "FILE:LINE: key 'K'" for specs from a config, "network 'prefix'" otherwise. */
static void where(const leap_net_spec *spec, const char *prefix, int line, char *buf, size_t size) {
  if (!spec->source[0]) snprintf(buf, size, "network '%s'", prefix);
  else if (line > 0) snprintf(buf, size, "%s:%d: key '%s'", spec->source, line, spec->key);
  else snprintf(buf, size, "%s: key '%s'", spec->source, spec->key);
}

static leap_status net_error(const leap_net_spec *spec, const char *prefix, leap_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static leap_status net_error(const leap_net_spec *spec, const char *prefix, leap_error *err, const char *fmt, ...) {
  char at[LEAP_NET_SOURCE_MAX * 2 + 32], msg[LEAP_ERROR_MESSAGE_MAX];
  where(spec, prefix, spec->line, at, sizeof at);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return leap_error_set(err, LEAP_ERR_CONFIG, "%s (arch %s): %s", at, leap_net_arch_name(spec->arch), msg);
}

static leap_status layer_error(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The spec of the layer being built, or NULL for an appended output layer. */
static const leap_layer_spec *current_spec(const builder *b) {
  if (b->branch >= 0) return &b->spec->branches[b->branch].layers[b->index];
  return b->index < b->spec->n_layers ? &b->spec->layers[b->index] : NULL;
}

/* The kind of the layer being built (an appended output layer is a linear). */
static leap_layer_kind current_kind(const builder *b) {
  const leap_layer_spec *s = current_spec(b);
  return s ? s->kind : LEAP_LAYER_LINEAR;
}

static leap_status layer_error(builder *b, const char *fmt, ...) {
  char at[LEAP_NET_SOURCE_MAX * 2 + 32], msg[LEAP_ERROR_MESSAGE_MAX], branch[LEAP_NET_INPUT_NAME_MAX + 16] = "";
  const leap_layer_spec *s = current_spec(b);
  int line = s ? s->line : b->spec->line;
  where(b->spec, b->net_prefix, line > 0 ? line : b->spec->line, at, sizeof at);
  if (b->branch >= 0) snprintf(branch, sizeof branch, "input '%s' ", b->spec->branches[b->branch].input);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *kind = leap_layer_kind_name(current_kind(b));
  return leap_error_set(b->err, LEAP_ERR_CONFIG, "%s: %slayer %d (%s%s): %s", at, branch, b->index, kind,
                        s ? "" : ", appended output layer", msg);
}

/* Checks the input has between lo and hi per-sample dims; need says what the layer takes. */
static leap_status need_ndim(builder *b, int lo, int hi, const char *need) {
  if (b->ndim >= lo && b->ndim <= hi) return LEAP_OK;
  char desc[96];
  return layer_error(b, "input is %s, %s needs %s", describe(b->ndim, b->shape, desc, sizeof desc),
                     leap_layer_kind_name(current_kind(b)), need);
}

static leap_tensor *add_param(builder *b, const char *kind, const char *suffix, int ndim, int64_t d0, int64_t d1,
                              leap_param_kind pk, bool decay) {
  char name[256];
  snprintf(name, sizeof name, "%s%s.%d.%s", b->prefix, kind, b->index, suffix);
  int64_t shape[2] = {d0, d1};
  return leap_params_add(b->ps, name, ndim, shape, pk, decay, b->err);
}

/* ---- per-kind shape inference and parameters ---------------------------------------------------------------- */

static leap_status build_conv(builder *b, seq_layer *l) {
  leap_layer_spec *s = &l->spec;
  if (need_ndim(b, 3, 3, "(N,H,W,C) feature maps")) return b->err->status;
  if (s->units < 1 || s->kernel < 1 || s->stride < 1 || s->padding < 0)
    return layer_error(b, "channels %d, kernel %d, stride %d, padding %d: channels, kernel and stride must be >= 1 "
                          "and padding >= 0", s->units, s->kernel, s->stride, s->padding);
  int64_t H = b->shape[0], W = b->shape[1], C = b->shape[2];
  if (H + 2 * s->padding < s->kernel || W + 2 * s->padding < s->kernel)
    return layer_error(b, "kernel %d does not fit a %lldx%lld input with padding %d", s->kernel, (long long)H,
                       (long long)W, s->padding);
  b->shape[0] = (H + 2 * s->padding - s->kernel) / s->stride + 1;
  b->shape[1] = (W + 2 * s->padding - s->kernel) / s->stride + 1;
  b->shape[2] = s->units;
  if (!b->ps) return LEAP_OK;
  char name[32];
  snprintf(name, sizeof name, "conv.%d", b->index);
  int64_t wshape[4] = {s->units, s->kernel, s->kernel, C};
  return leap__model_add_layer(b->ps, b->prefix, name, 4, wshape, (int64_t)s->kernel * s->kernel * C, 0, false,
                               b->seed, &l->w, &l->b, b->err);
}

static leap_status build_pool(builder *b, seq_layer *l) {
  leap_layer_spec *s = &l->spec;
  if (need_ndim(b, 3, 3, "(N,H,W,C) feature maps")) return b->err->status;
  if (!s->stride) s->stride = s->kernel;
  if (s->kernel < 1 || s->stride < 1 || s->padding < 0 || 2 * s->padding > s->kernel)
    return layer_error(b, "kernel %d, stride %d, padding %d: kernel and stride must be >= 1 and padding at most "
                          "half the kernel", s->kernel, s->stride, s->padding);
  for (int d = 0; d < 2; d++) {
    if (b->shape[d] + 2 * s->padding < s->kernel)
      return layer_error(b, "window %d does not fit a %lldx%lld input", s->kernel, (long long)b->shape[0],
                         (long long)b->shape[1]);
    b->shape[d] = (b->shape[d] + 2 * s->padding - s->kernel) / s->stride + 1;
  }
  return LEAP_OK;
}

static leap_status build_global_avgpool(builder *b, seq_layer *l) {
  if (need_ndim(b, 2, 3, "(N,H,W,C) feature maps or (N,T,C) sequences")) return b->err->status;
  b->shape[0] = b->shape[b->ndim - 1];
  b->ndim = 1;
  return LEAP_OK;
}

static leap_status build_flatten(builder *b, seq_layer *l) {
  b->shape[0] = leap_shape_numel(b->ndim, b->shape);
  b->ndim = 1;
  return LEAP_OK;
}

static leap_status build_tokens(builder *b, seq_layer *l) {
  if (need_ndim(b, 3, 3, "(N,H,W,C) feature maps")) return b->err->status;
  b->shape[0] *= b->shape[1];
  b->shape[1] = b->shape[2];
  b->ndim = 2;
  return LEAP_OK;
}

static leap_status build_coords(builder *b, seq_layer *l) {
  if (need_ndim(b, 3, 3, "(N,H,W,C) feature maps")) return b->err->status;
  b->shape[2] += 2;
  return LEAP_OK;
}

static leap_status build_linear(builder *b, seq_layer *l) {
  leap_layer_spec *s = &l->spec;
  if (need_ndim(b, 1, 3, "(N,F) vectors, (N,T,F) sequences or (N,H,W,F) maps")) return b->err->status;
  bool last = b->branch < 0 && b->index == b->n_layers - 1;
  if (s->units == 0 && last) s->units = (int)b->out_dim;
  if (s->units < 1)
    return layer_error(b, "units %d: must be >= 1 (units 0, the output width, only on the main list's last layer)",
                       s->units);
  int64_t in = b->shape[b->ndim - 1];
  b->shape[b->ndim - 1] = s->units;
  if (!b->ps) return LEAP_OK;
  char name[32];
  snprintf(name, sizeof name, "linear.%d", b->index);
  int64_t wshape[2] = {s->units, in};
  return leap__model_add_layer(b->ps, b->prefix, name, 2, wshape, in, s->units, last, b->seed, &l->w, &l->b, b->err);
}

static leap_status build_norm(builder *b, seq_layer *l) {
  leap_layer_spec *s = &l->spec;
  leap_layer_kind kind = s->kind;
  if (kind == LEAP_LAYER_GROUPNORM) {
    if (need_ndim(b, 2, 3, "(N,H,W,C) feature maps or (N,T,C) sequences")) return b->err->status;
    if (s->groups < 1 || b->shape[b->ndim - 1] % s->groups)
      return layer_error(b, "groups %d must be >= 1 and divide the %lld channels", s->groups,
                         (long long)b->shape[b->ndim - 1]);
  } else if (need_ndim(b, 1, 3, "a channel dim (N,...,C)")) {
    return b->err->status;
  }
  if (!b->ps) return LEAP_OK;
  const char *name = leap_layer_kind_name(kind);
  int64_t C = b->shape[b->ndim - 1];
  if (!(l->w = add_param(b, name, "weight", 1, C, 0, LEAP_PARAM_TRAINABLE, false))) return b->err->status;
  if (!(l->b = add_param(b, name, "bias", 1, C, 0, LEAP_PARAM_TRAINABLE, false))) return b->err->status;
  leap_init_constant(l->w, 1.0f);
  if (kind != LEAP_LAYER_BATCHNORM) return LEAP_OK;
  if (!(l->mean = add_param(b, name, "running_mean", 1, C, 0, LEAP_PARAM_BUFFER, false))) return b->err->status;
  if (!(l->var = add_param(b, name, "running_var", 1, C, 0, LEAP_PARAM_BUFFER, false))) return b->err->status;
  leap_init_constant(l->var, 1.0f);
  return LEAP_OK;
}

static leap_status build_elementwise(builder *b, seq_layer *l) {
  if (l->spec.kind == LEAP_LAYER_DROPOUT && (l->spec.p < 0.0f || l->spec.p >= 1.0f))
    return layer_error(b, "p %g must be in [0, 1)", l->spec.p);
  return LEAP_OK;
}

/* Token ids (...) -> (...,channels); f32 scores (...,vocab) -> (...,channels) (softmax @ table). */
static leap_status build_embedding(builder *b, seq_layer *l) {
  leap_layer_spec *s = &l->spec;
  if (b->index != 0)
    return layer_error(b, "an embedding takes the input's token ids (or scores over them), so it must be the first "
                          "layer of its list");
  if (s->vocab < 1 || s->units < 1)
    return layer_error(b, "vocab %d and channels %d must be >= 1", s->vocab, s->units);
  if (b->dtype == LEAP_I32) {
    if (need_ndim(b, 0, 3, "(N,...) token ids")) return b->err->status;
    b->shape[b->ndim++] = s->units;
  } else {
    char desc[96];
    if (b->ndim < 1 || b->ndim > 3 || b->shape[b->ndim - 1] != s->vocab)
      return layer_error(b, "input is f32 %s; an embedding takes i32 token ids, or f32 scores (N,...,%d) over its "
                            "vocabulary", describe(b->ndim, b->shape, desc, sizeof desc), s->vocab);
    b->shape[b->ndim - 1] = s->units;
  }
  b->dtype = LEAP_F32;
  if (!b->ps) return LEAP_OK;
  uint64_t stream = (uint64_t)b->ps->count;
  if (!(l->w = add_param(b, "embedding", "weight", 2, s->vocab, s->units, LEAP_PARAM_TRAINABLE, true)))
    return b->err->status;
  leap_init_normal(l->w, NET_EMBED_STD, b->seed, stream);
  return LEAP_OK;
}

static leap_status build_position(builder *b, seq_layer *l) {
  if (need_ndim(b, 2, 2, "(N,T,C) sequences")) return b->err->status;
  if (!b->ps) return LEAP_OK;
  uint64_t stream = (uint64_t)b->ps->count;
  if (!(l->w = add_param(b, "position", "weight", 2, b->shape[0], b->shape[1], LEAP_PARAM_TRAINABLE, true)))
    return b->err->status;
  leap_init_normal(l->w, NET_EMBED_STD, b->seed, stream);
  return LEAP_OK;
}

static leap_status build_queries(builder *b, seq_layer *l) {
  if (need_ndim(b, 2, 2, "(N,T,C) sequences")) return b->err->status;
  if (l->spec.units < 1) return layer_error(b, "length %d must be >= 1", l->spec.units);
  b->shape[0] += l->spec.units;
  if (!b->ps) return LEAP_OK;
  uint64_t stream = (uint64_t)b->ps->count;
  if (!(l->w = add_param(b, "queries", "weight", 2, l->spec.units, b->shape[1], LEAP_PARAM_TRAINABLE, true)))
    return b->err->status;
  leap_init_normal(l->w, NET_EMBED_STD, b->seed, stream);
  return LEAP_OK;
}

static leap_status build_last(builder *b, seq_layer *l) {
  if (need_ndim(b, 2, 2, "(N,T,C) sequences")) return b->err->status;
  if (l->spec.units < 1 || l->spec.units > b->shape[0])
    return layer_error(b, "length %d must be between 1 and the %lld positions", l->spec.units,
                       (long long)b->shape[0]);
  b->shape[0] = l->spec.units;
  return LEAP_OK;
}

static leap_status build_transformer(builder *b, seq_layer *l) {
  leap_layer_spec *s = &l->spec;
  if (need_ndim(b, 2, 2, "(N,T,C) sequences")) return b->err->status;
  int64_t C = b->shape[1];
  if (s->heads < 1 || C % s->heads || s->units < 0 || s->p < 0.0f || s->p >= 1.0f)
    return layer_error(b, "heads %d must be >= 1 and divide the %lld channels; hidden %d >= 0; dropout %g in [0, 1)",
                       s->heads, (long long)C, s->units, s->p);
  if (!b->ps) return LEAP_OK;
  leap_transformer_config tc = {.channels = (int)C, .heads = s->heads, .hidden = s->units, .causal = s->causal,
                                .dropout = s->p, .depth = b->depth};
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%stransformer.%d.", b->prefix, b->index);
  return leap_transformer_block_create(&l->block, &tc, b->ps, prefix, b->seed, b->err);
}

/* ---- per-kind forward ---------------------------------------------------------------------------------------- */

static leap_tensor *fwd_conv(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return leap_conv2d(ctx, x, l->w, l->b, l->spec.stride, l->spec.padding);
}
static leap_tensor *fwd_maxpool(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return leap_maxpool(ctx, x, l->spec.kernel, l->spec.stride, l->spec.padding);
}
static leap_tensor *fwd_avgpool(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return leap_avgpool(ctx, x, l->spec.kernel, l->spec.stride, l->spec.padding);
}
static leap_tensor *fwd_global_avgpool(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return leap_global_avgpool(ctx, x);
}
static leap_tensor *fwd_flatten(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  int64_t shape[2] = {x->shape[0], -1};
  return leap_reshape(ctx, x, 2, shape);
}
static leap_tensor *fwd_tokens(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  int64_t shape[3] = {x->shape[0], -1, x->shape[x->ndim - 1]};
  return leap_reshape(ctx, x, 3, shape);
}
static leap_tensor *fwd_linear(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return leap_linear(ctx, x, l->w, l->b);
}
static leap_tensor *fwd_batchnorm(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return leap_batchnorm(ctx, x, l->w, l->b, l->mean, l->var, NET_BN_MOMENTUM, NET_NORM_EPS);
}
static leap_tensor *fwd_layernorm(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return leap_layernorm(ctx, x, l->w, l->b, NET_NORM_EPS);
}
static leap_tensor *fwd_groupnorm(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return leap_groupnorm(ctx, x, l->w, l->b, l->spec.groups, NET_NORM_EPS);
}
static leap_tensor *fwd_relu(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) { return leap_relu(ctx, x); }
static leap_tensor *fwd_gelu(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) { return leap_gelu(ctx, x); }
static leap_tensor *fwd_dropout(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return l->spec.p > 0.0f ? leap_dropout(ctx, x, l->spec.p) : x;
}
static leap_tensor *fwd_embedding(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  if (x->dtype == LEAP_I32) return leap_embedding(ctx, l->w, x);
  return leap_matmul(ctx, leap_softmax(ctx, x), l->w, false, false);
}
static leap_tensor *fwd_position(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  int64_t T = x->shape[1];
  leap_tensor *pos = T == l->w->shape[0] ? l->w : leap_slice(ctx, l->w, 0, 0, T);
  return leap_add(ctx, x, pos);
}
/* The learned tokens are broadcast over the batch by adding them to zeros, which keeps their gradient. */
static leap_tensor *fwd_queries(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  int64_t shape[3] = {x->shape[0], l->w->shape[0], l->w->shape[1]};
  leap_tensor *q = leap_add(ctx, leap_ctx_tensor(ctx, LEAP_F32, 3, shape, true), l->w);
  leap_tensor *parts[2] = {x, q};
  return q ? leap_concat(ctx, 2, parts, 1) : NULL;
}
static leap_tensor *fwd_last(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  int64_t T = x->shape[1];
  if (T < l->spec.units) {
    leap_error_set(&ctx->err, LEAP_ERR_SHAPE, "last: %d positions asked of a sequence of %lld", l->spec.units,
                   (long long)T);
    return NULL;
  }
  return T == l->spec.units ? x : leap_slice(ctx, x, 1, T - l->spec.units, T);
}
/* CoordConv (Liu et al., 2018): two channels holding each position's column and row, -1 at the first and 1 at the
 * last, staged in the context's host arena and concatenated after the input's channels. */
static leap_tensor *fwd_coords(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  int64_t N = x->shape[0], H = x->shape[1], W = x->shape[2];
  leap_tensor *coords = leap_ctx_tensor(ctx, LEAP_F32, 4, (int64_t[]){N, H, W, 2}, false);
  float *host = coords ? leap_arena_alloc(&ctx->meta, leap_tensor_bytes(coords)) : NULL;
  if (!host) {
    if (leap_ctx_ok(ctx)) leap_error_set(&ctx->err, LEAP_ERR_MEMORY, "coords: out of memory");
    return NULL;
  }
  for (int64_t h = 0; h < H; h++)
    for (int64_t w = 0; w < W; w++) {
      host[(h * W + w) * 2] = W > 1 ? -1.0f + 2.0f * (float)w / (float)(W - 1) : 0.0f;
      host[(h * W + w) * 2 + 1] = H > 1 ? -1.0f + 2.0f * (float)h / (float)(H - 1) : 0.0f;
    }
  for (int64_t n = 1; n < N; n++) memcpy(host + n * H * W * 2, host, sizeof(float) * (size_t)(H * W * 2));
  leap_tensor_from_host(coords, host);
  leap_tensor *parts[2] = {x, coords};
  return leap_concat(ctx, 2, parts, 3);
}
static leap_tensor *fwd_transformer(const seq_layer *l, leap_ctx *ctx, leap_tensor *x) {
  return leap_transformer_block_forward(&l->block, ctx, x);
}

typedef struct layer_ops {
  leap_status (*build)(builder *b, seq_layer *l);
  leap_tensor *(*forward)(const seq_layer *l, leap_ctx *ctx, leap_tensor *x);
} layer_ops;

static const layer_ops g_layer_ops[LEAP_LAYER_KIND_COUNT] = {
    [LEAP_LAYER_CONV] = {build_conv, fwd_conv},
    [LEAP_LAYER_MAXPOOL] = {build_pool, fwd_maxpool},
    [LEAP_LAYER_AVGPOOL] = {build_pool, fwd_avgpool},
    [LEAP_LAYER_GLOBAL_AVGPOOL] = {build_global_avgpool, fwd_global_avgpool},
    [LEAP_LAYER_FLATTEN] = {build_flatten, fwd_flatten},
    [LEAP_LAYER_LINEAR] = {build_linear, fwd_linear},
    [LEAP_LAYER_BATCHNORM] = {build_norm, fwd_batchnorm},
    [LEAP_LAYER_LAYERNORM] = {build_norm, fwd_layernorm},
    [LEAP_LAYER_GROUPNORM] = {build_norm, fwd_groupnorm},
    [LEAP_LAYER_RELU] = {build_elementwise, fwd_relu},
    [LEAP_LAYER_GELU] = {build_elementwise, fwd_gelu},
    [LEAP_LAYER_DROPOUT] = {build_elementwise, fwd_dropout},
    [LEAP_LAYER_EMBEDDING] = {build_embedding, fwd_embedding},
    [LEAP_LAYER_TRANSFORMER] = {build_transformer, fwd_transformer},
    [LEAP_LAYER_TOKENS] = {build_tokens, fwd_tokens},
    [LEAP_LAYER_POSITION] = {build_position, fwd_position},
    [LEAP_LAYER_QUERIES] = {build_queries, fwd_queries},
    [LEAP_LAYER_LAST] = {build_last, fwd_last},
    [LEAP_LAYER_COORDS] = {build_coords, fwd_coords},
};

/* ---- sequential ---------------------------------------------------------------------------------------------- */

/* One pass over a list (dry when b->ps is NULL), from the shape in b; on success b holds the list's output shape. */
static leap_status list_pass(builder *b, seq_layer *layers, int n_layers) {
  b->n_layers = n_layers;
  for (b->index = 0; b->index < n_layers; b->index++) {
    seq_layer *l = &layers[b->index];
    if ((unsigned)l->spec.kind >= LEAP_LAYER_KIND_COUNT) return layer_error(b, "unknown layer kind %d", l->spec.kind);
    if (b->dtype == LEAP_I32 && l->spec.kind != LEAP_LAYER_EMBEDDING)
      return layer_error(b, "the input is i32 token ids, which only an embedding (the list's first layer) takes");
    if (g_layer_ops[l->spec.kind].build(b, l)) return b->err->status;
  }
  if (b->dtype == LEAP_I32) {
    b->index = n_layers > 0 ? n_layers - 1 : 0;
    return layer_error(b, "the list ends with i32 token ids; start it with an embedding");
  }
  return LEAP_OK;
}

static void builder_start(builder *b, const leap_net_input *in, int branch) {
  b->branch = branch;
  b->dtype = in->dtype;
  b->ndim = in->ndim;
  memcpy(b->shape, in->shape, sizeof(int64_t) * (size_t)in->ndim);
  if (branch < 0) snprintf(b->prefix, sizeof b->prefix, "%s", b->net_prefix);
  else snprintf(b->prefix, sizeof b->prefix, "%s%s.", b->net_prefix, b->spec->branches[branch].input);
}

/* Each branch on its input, then the join: (T_i,C) sequences and (C) vectors (one token) of one width C, joined
 * along the sequence; *joined gets the main list's input. */
static leap_status branches_pass(builder *b, seq_net *net, const leap_net_input *inputs, leap_net_input *joined) {
  memset(joined, 0, sizeof *joined);
  joined->dtype = LEAP_F32;
  joined->ndim = 2;
  for (int i = 0; i < net->n_branches; i++) {
    builder_start(b, &inputs[i], i);
    if (list_pass(b, net->branches[i].layers, net->branches[i].n_layers)) return b->err->status;
    char desc[96];
    int64_t width = b->shape[b->ndim - 1];
    b->index = net->branches[i].n_layers > 0 ? net->branches[i].n_layers - 1 : 0;
    if (b->ndim < 1 || b->ndim > 2)
      return layer_error(b, "the branch ends with %s; branches must end with (N,T,C) sequences or (N,C) vectors to "
                            "be joined", describe(b->ndim, b->shape, desc, sizeof desc));
    if (i > 0 && width != joined->shape[1])
      return layer_error(b, "the branch ends with width %lld, the branch of input '%s' with %lld; joined branches "
                            "need one width", (long long)width, b->spec->branches[0].input,
                         (long long)joined->shape[1]);
    joined->shape[0] += b->ndim == 2 ? b->shape[0] : 1;
    joined->shape[1] = width;
  }
  return LEAP_OK;
}

/* The branches (if any) and the main list, one pass. */
static leap_status seq_pass(builder *b, seq_net *net, const leap_net_input *inputs) {
  leap_net_input joined;
  if (net->n_branches > 0 && branches_pass(b, net, inputs, &joined)) return b->err->status;
  builder_start(b, net->n_branches > 0 ? &joined : &inputs[0], -1);
  return list_pass(b, net->layers, net->n_layers);
}

/* Decides the output layer from the dry pass's final shape: keep, or append a linear to out_dim. */
static leap_status seq_output(builder *b, seq_net *net) {
  char desc[96];
  b->index = net->n_layers - 1;
  if (b->ndim < 1 || b->ndim > 2)
    return layer_error(b, "the network ends with %s; it must end with (N,F) vectors or (N,T,F) sequences (add "
                          "flatten or global_avgpool)", describe(b->ndim, b->shape, desc, sizeof desc));
  if (b->shape[b->ndim - 1] == b->out_dim) return LEAP_OK;
  seq_layer *head = &net->layers[net->n_layers++];
  memset(head, 0, sizeof *head);
  head->spec.kind = LEAP_LAYER_LINEAR;
  head->spec.units = (int)b->out_dim;
  return LEAP_OK;
}

/* Copies the spec's lists into the built form; returns the number of transformer blocks (for their init). */
static int seq_copy_spec(seq_net *seq, const leap_net_spec *spec) {
  int depth = 0;
  seq->n_layers = spec->n_layers;
  for (int i = 0; i < spec->n_layers; i++) {
    seq->layers[i].spec = spec->layers[i];
    depth += spec->layers[i].kind == LEAP_LAYER_TRANSFORMER;
  }
  seq->n_branches = spec->n_branches;
  for (int k = 0; k < spec->n_branches; k++) {
    seq->branches[k].n_layers = spec->branches[k].n_layers;
    for (int i = 0; i < spec->branches[k].n_layers; i++) {
      seq->branches[k].layers[i].spec = spec->branches[k].layers[i];
      depth += spec->branches[k].layers[i].kind == LEAP_LAYER_TRANSFORMER;
    }
  }
  return depth;
}

static leap_status seq_check_lists(const leap_net *net, const char *prefix, leap_error *err) {
  const leap_net_spec *spec = &net->spec;
  if (spec->n_layers < 1 || spec->n_layers > LEAP_NET_MAX_LAYERS)
    return net_error(spec, prefix, err, "a layer list has 1 to %d layers, not %d", LEAP_NET_MAX_LAYERS,
                     spec->n_layers);
  if (spec->n_branches < 0 || spec->n_branches > LEAP_NET_MAX_INPUTS)
    return net_error(spec, prefix, err, "%d named inputs; at most %d", spec->n_branches, LEAP_NET_MAX_INPUTS);
  for (int k = 0; k < spec->n_branches; k++) {
    const leap_net_branch *br = &spec->branches[k];
    if (br->n_layers < 1 || br->n_layers > LEAP_NET_MAX_BRANCH_LAYERS || !br->input[0])
      return net_error(spec, prefix, err, "input %d ('%s') needs a name and 1 to %d layers, not %d", k, br->input,
                       LEAP_NET_MAX_BRANCH_LAYERS, br->n_layers);
    for (int j = 0; j < k; j++)
      if (!strcmp(spec->branches[j].input, br->input))
        return net_error(spec, prefix, err, "input '%s' is named twice", br->input);
  }
  int want = spec->n_branches > 0 ? spec->n_branches : 1;
  if (net->n_inputs != want)
    return net_error(spec, prefix, err, "the network takes %d input%s (%s) but is given %d", want,
                     want == 1 ? "" : "s", spec->n_branches ? "one per named input" : "no named inputs",
                     net->n_inputs);
  return LEAP_OK;
}

static leap_status seq_create(leap_net *net, leap_params *ps, const char *prefix, uint64_t seed, leap_error *err) {
  const leap_net_spec *spec = &net->spec;
  if (seq_check_lists(net, prefix, err)) return err->status;
  seq_net *seq = calloc(1, sizeof *seq);
  if (!seq) return leap_error_set(err, LEAP_ERR_MEMORY, "network '%s': out of memory", prefix);
  net->impl = seq;
  builder b = {.spec = spec, .net_prefix = prefix, .seed = seed, .out_dim = net->out_dim, .err = err};
  b.depth = seq_copy_spec(seq, spec);
  if (seq_pass(&b, seq, net->inputs) || seq_output(&b, seq)) return err->status;
  b.ps = ps;
  if (seq_pass(&b, seq, net->inputs)) return err->status;
  net->out_ndim = b.ndim;
  memcpy(net->out_shape, b.shape, sizeof(int64_t) * (size_t)b.ndim);
  /* The net's copy of the spec shows the values the build resolved (pool strides, units 0). */
  for (int i = 0; i < spec->n_layers; i++) net->spec.layers[i] = seq->layers[i].spec;
  for (int k = 0; k < spec->n_branches; k++)
    for (int i = 0; i < spec->branches[k].n_layers; i++) net->spec.branches[k].layers[i] = seq->branches[k].layers[i].spec;
  return LEAP_OK;
}

static leap_tensor *list_forward(const seq_layer *layers, int n_layers, leap_ctx *ctx, leap_tensor *x) {
  for (int i = 0; i < n_layers && x; i++) x = g_layer_ops[layers[i].spec.kind].forward(&layers[i], ctx, x);
  return x;
}

static leap_tensor *seq_forward(const seq_net *seq, leap_ctx *ctx, leap_tensor *const *xs) {
  if (seq->n_branches == 0) return list_forward(seq->layers, seq->n_layers, ctx, xs[0]);
  leap_tensor *parts[LEAP_NET_MAX_INPUTS];
  for (int k = 0; k < seq->n_branches; k++) {
    leap_tensor *y = list_forward(seq->branches[k].layers, seq->branches[k].n_layers, ctx, xs[k]);
    if (y && y->ndim == 2) y = leap_reshape(ctx, y, 3, (int64_t[]){y->shape[0], 1, y->shape[1]});
    if (!y) return NULL;
    parts[k] = y;
  }
  leap_tensor *x = seq->n_branches == 1 ? parts[0] : leap_concat(ctx, seq->n_branches, parts, 1);
  return list_forward(seq->layers, seq->n_layers, ctx, x);
}

/* ---- presets ------------------------------------------------------------------------------------------------- */

static leap_status convnet_create(leap_net *net, leap_params *ps, const char *prefix, uint64_t seed,
                                  leap_error *err) {
  char desc[96];
  if (net->inputs[0].ndim != 3)
    return net_error(&net->spec, prefix, err, "needs (N,H,W,C) images; the input is %s",
                     describe(net->inputs[0].ndim, net->inputs[0].shape, desc, sizeof desc));
  leap_convnet_config c = net->spec.convnet;
  c.in_h = (int)net->inputs[0].shape[0], c.in_w = (int)net->inputs[0].shape[1], c.in_c = (int)net->inputs[0].shape[2];
  c.head.outputs = (int)net->out_dim;
  leap_convnet *impl = calloc(1, sizeof *impl);
  if (!impl) return leap_error_set(err, LEAP_ERR_MEMORY, "network '%s': out of memory", prefix);
  net->impl = impl;
  leap_error inner = {0};
  if (leap_convnet_create(impl, &c, ps, prefix, seed, &inner))
    return net_error(&net->spec, prefix, err, "%s", inner.message);
  net->spec.convnet = impl->config;
  return LEAP_OK;
}

static leap_status mlp_create(leap_net *net, leap_params *ps, const char *prefix, uint64_t seed, leap_error *err) {
  leap_mlp_config c = net->spec.mlp;
  c.inputs = (int)leap_shape_numel(net->inputs[0].ndim, net->inputs[0].shape);
  c.outputs = (int)net->out_dim;
  leap_mlp *impl = calloc(1, sizeof *impl);
  if (!impl) return leap_error_set(err, LEAP_ERR_MEMORY, "network '%s': out of memory", prefix);
  net->impl = impl;
  leap_error inner = {0};
  if (leap_mlp_create(impl, &c, ps, prefix, seed, &inner))
    return net_error(&net->spec, prefix, err, "%s", inner.message);
  net->spec.mlp = c;
  return LEAP_OK;
}

/* Moves the parameters the GPT builder made in its own set into ps, renamed under prefix. */
static leap_status adopt_params(leap_params *ps, leap_params *from, const char *prefix, leap_error *err) {
  int need = ps->count + from->count;
  if (need > ps->capacity) {
    leap_param *items = realloc(ps->items, sizeof *items * (size_t)need);
    if (!items) return leap_error_set(err, LEAP_ERR_MEMORY, "network '%s': out of memory", prefix);
    ps->items = items;
    ps->capacity = need;
  }
  for (int i = 0; i < from->count; i++) {
    leap_tensor *t = from->items[i].tensor;
    size_t len = strlen(prefix) + strlen(t->name) + 1;
    char *name = malloc(len);
    if (!name) return leap_error_set(err, LEAP_ERR_MEMORY, "network '%s': out of memory", prefix);
    snprintf(name, len, "%s%s", prefix, t->name);
    if (leap_params_find(ps, name)) {
      leap_error_set(err, LEAP_ERR_VALUE, "parameter '%s' is defined twice", name);
      free(name);
      return err->status;
    }
    free((char *)t->name);
    t->name = name;
    ps->items[ps->count++] = from->items[i];
    from->items[i].tensor = NULL;
  }
  from->count = 0;
  return LEAP_OK;
}

static leap_status gpt_create(leap_net *net, leap_params *ps, const char *prefix, uint64_t seed, leap_error *err) {
  char desc[96];
  leap_gpt_config c = net->spec.gpt;
  if (net->inputs[0].ndim != 1)
    return net_error(&net->spec, prefix, err, "needs (N,T) token ids; the input is %s",
                     describe(net->inputs[0].ndim, net->inputs[0].shape, desc, sizeof desc));
  if (!c.vocab) c.vocab = (int)net->out_dim;
  if (!c.context) c.context = (int)net->inputs[0].shape[0];
  if (c.vocab != net->out_dim)
    return net_error(&net->spec, prefix, err, "vocab %d differs from the output width %lld", c.vocab,
                     (long long)net->out_dim);
  if (c.context < net->inputs[0].shape[0])
    return net_error(&net->spec, prefix, err, "context %d is shorter than the input's %lld tokens", c.context,
                     (long long)net->inputs[0].shape[0]);
  leap_gpt *impl = calloc(1, sizeof *impl);
  if (!impl) return leap_error_set(err, LEAP_ERR_MEMORY, "network '%s': out of memory", prefix);
  net->impl = impl;
  leap_error inner = {0};
  if (leap_gpt_create(impl, &c, ps->device, seed, &inner))
    return net_error(&net->spec, prefix, err, "%s", inner.message);
  net->spec.gpt = c;
  return adopt_params(ps, &impl->params, prefix, err);
}

/* ---- the public API ------------------------------------------------------------------------------------------ */

static void free_impl(leap_net *net) {
  if (net->impl && net->spec.arch == LEAP_NET_GPT) leap_gpt_destroy(net->impl);
  free(net->impl);
  net->impl = NULL;
}

static leap_status check_inputs(const leap_net_spec *spec, int n_inputs, const leap_net_input *inputs,
                                const char *prefix, leap_error *err) {
  if (n_inputs < 1 || n_inputs > LEAP_NET_MAX_INPUTS)
    return net_error(spec, prefix, err, "%d inputs; a network takes 1 to %d", n_inputs, LEAP_NET_MAX_INPUTS);
  if (spec->arch != LEAP_NET_SEQUENTIAL && (n_inputs != 1 || spec->n_branches))
    return net_error(spec, prefix, err, "takes one input; only a sequential layer list has named inputs");
  for (int k = 0; k < n_inputs; k++) {
    const leap_net_input *in = &inputs[k];
    if (in->ndim < 0 || in->ndim >= LEAP_MAX_DIMS)
      return net_error(spec, prefix, err, "input %d has %d per-sample dims; at most %d", k, in->ndim,
                       LEAP_MAX_DIMS - 1);
    if (in->dtype != LEAP_F32 && in->dtype != LEAP_I32)
      return net_error(spec, prefix, err, "input %d is neither f32 values nor i32 token ids", k);
    for (int i = 0; i < in->ndim; i++)
      if (in->shape[i] < 1)
        return net_error(spec, prefix, err, "input %d: dim %d is %lld", k, i, (long long)in->shape[i]);
  }
  return LEAP_OK;
}

/* The per-sample output shape of the presets: (out_dim), or (T,vocab) for gpt. */
static void preset_output(leap_net *net) {
  net->out_ndim = 1;
  net->out_shape[0] = net->out_dim;
  if (net->spec.arch != LEAP_NET_GPT) return;
  net->out_ndim = 2;
  net->out_shape[0] = net->inputs[0].shape[0];
  net->out_shape[1] = net->out_dim;
}

leap_status leap_net_create_inputs(leap_net *net, const leap_net_spec *spec, int n_inputs,
                                   const leap_net_input *inputs, int64_t out_dim, leap_params *ps, const char *prefix,
                                   uint64_t seed, leap_error *err) {
  memset(net, 0, sizeof *net);
  net->spec = *spec;
  if (check_inputs(spec, n_inputs, inputs, prefix, err)) return err->status;
  if (out_dim < 1) return net_error(spec, prefix, err, "the output width %lld must be >= 1", (long long)out_dim);
  net->n_inputs = n_inputs;
  memcpy(net->inputs, inputs, sizeof *inputs * (size_t)n_inputs);
  net->out_dim = out_dim;
  leap_status status;
  switch (spec->arch) {
    case LEAP_NET_SEQUENTIAL: status = seq_create(net, ps, prefix, seed, err); break;
    case LEAP_NET_CONVNET: status = convnet_create(net, ps, prefix, seed, err); break;
    case LEAP_NET_MLP: status = mlp_create(net, ps, prefix, seed, err); break;
    case LEAP_NET_GPT: status = gpt_create(net, ps, prefix, seed, err); break;
    default: status = net_error(spec, prefix, err, "unknown architecture %d", spec->arch);
  }
  if (status == LEAP_OK && spec->arch != LEAP_NET_SEQUENTIAL) preset_output(net);
  if (status) free_impl(net);
  return status;
}

/* Whether a one-input net reads token ids: gpt, or a list that starts with an embedding. */
static bool takes_tokens(const leap_net_spec *spec) {
  if (spec->arch == LEAP_NET_GPT) return true;
  if (spec->arch != LEAP_NET_SEQUENTIAL) return false;
  const leap_layer_spec *first = spec->n_branches ? spec->branches[0].layers : spec->layers;
  return first->kind == LEAP_LAYER_EMBEDDING;
}

leap_status leap_net_create(leap_net *net, const leap_net_spec *spec, int in_ndim, const int64_t *in_shape,
                            int64_t out_dim, leap_params *ps, const char *prefix, uint64_t seed, leap_error *err) {
  leap_net_input in;
  memset(&in, 0, sizeof in);
  in.dtype = takes_tokens(spec) ? LEAP_I32 : LEAP_F32;
  in.ndim = in_ndim;
  if (in_ndim >= 0 && in_ndim < LEAP_MAX_DIMS) memcpy(in.shape, in_shape, sizeof(int64_t) * (size_t)in_ndim);
  return leap_net_create_inputs(net, spec, 1, &in, out_dim, ps, prefix, seed, err);
}

void leap_net_destroy(leap_net *net) {
  free_impl(net);
  memset(net, 0, sizeof *net);
}

/* Token inputs may be shorter than the built length (greedy decoding feeds growing prefixes). */
static bool input_fits(const leap_net_input *in, const leap_tensor *x, int64_t batch) {
  if (x->ndim != in->ndim + 1 || x->dtype != in->dtype || x->shape[0] != batch) return false;
  for (int i = 0; i < in->ndim; i++) {
    bool ok = x->shape[i + 1] == in->shape[i] || (x->dtype == LEAP_I32 && i == 0 && x->shape[1] <= in->shape[0]);
    if (!ok) return false;
  }
  return true;
}

static const char *input_label(const leap_net *net, int k, char *buf, size_t size) {
  if (net->spec.arch == LEAP_NET_SEQUENTIAL && net->spec.n_branches) snprintf(buf, size, " '%s'",
                                                                              net->spec.branches[k].input);
  else buf[0] = '\0';
  return buf;
}

leap_tensor *leap_net_forward_inputs(const leap_net *net, leap_ctx *ctx, leap_tensor *const *xs) {
  if (!leap_ctx_ok(ctx)) return NULL;
  for (int k = 0; k < net->n_inputs; k++) {
    if (!xs[k]) return NULL;
    if (!input_fits(&net->inputs[k], xs[k], xs[0]->shape[0])) {
      char got[128], want[96], label[LEAP_NET_INPUT_NAME_MAX + 4];
      const leap_net_input *in = &net->inputs[k];
      leap_error_set(&ctx->err, LEAP_ERR_SHAPE, "network (arch %s): input%s %s does not fit what it was built for, "
                     "%s %s", leap_net_arch_name(net->spec.arch), input_label(net, k, label, sizeof label),
                     leap_tensor_describe(xs[k], got, sizeof got), leap_dtype_name(in->dtype),
                     describe(in->ndim, in->shape, want, sizeof want));
      return NULL;
    }
  }
  leap_tensor *x = xs[0];
  switch (net->spec.arch) {
    case LEAP_NET_SEQUENTIAL: return seq_forward(net->impl, ctx, xs);
    case LEAP_NET_CONVNET: return leap_convnet_forward(net->impl, ctx, x);
    case LEAP_NET_GPT: return leap_gpt_forward(net->impl, ctx, x);
    case LEAP_NET_MLP: break;
  }
  if (x->ndim != 2) {
    int64_t shape[2] = {x->shape[0], -1};
    x = leap_reshape(ctx, x, 2, shape);
  }
  return leap_mlp_forward(net->impl, ctx, x);
}

leap_tensor *leap_net_forward(const leap_net *net, leap_ctx *ctx, leap_tensor *x) {
  if (!x || !leap_ctx_ok(ctx)) return NULL;
  if (net->n_inputs != 1) {
    leap_error_set(&ctx->err, LEAP_ERR_SHAPE, "network (arch %s): takes %d inputs, given 1",
                   leap_net_arch_name(net->spec.arch), net->n_inputs);
    return NULL;
  }
  return leap_net_forward_inputs(net, ctx, &x);
}
