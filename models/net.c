/* Networks described by data: the named presets (convnet, mlp, gpt) wrap their builders; a "sequential" list is
 * built layer by layer from a table indexed by the layer kind, each entry inferring its output shape from its input
 * shape (per sample, without N), adding its parameters, and running its forward.
 *
 * Building runs the list twice: a dry pass that only infers shapes (so that every shape error is found before any
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
    "queries",   "last"};

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

typedef struct seq_net {
  int n_layers; /* with an appended head */
  seq_layer layers[LEAP_NET_MAX_LAYERS + 1];
} seq_net;

/* Shape inference and parameter creation for one list. */
typedef struct builder {
  const leap_net_spec *spec;
  const char *prefix;
  leap_params *ps; /* NULL in the dry pass */
  uint64_t seed;
  int index, n_layers, depth;
  int ndim; /* the current per-sample shape */
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
/* The kind of the layer being built (an appended output layer is a linear). */
static leap_layer_kind current_kind(const builder *b) {
  return b->index < b->spec->n_layers ? b->spec->layers[b->index].kind : LEAP_LAYER_LINEAR;
}

static leap_status layer_error(builder *b, const char *fmt, ...) {
  char at[LEAP_NET_SOURCE_MAX * 2 + 32], msg[LEAP_ERROR_MESSAGE_MAX];
  bool appended = b->index >= b->spec->n_layers;
  int line = appended ? b->spec->line : b->spec->layers[b->index].line;
  where(b->spec, b->prefix, line > 0 ? line : b->spec->line, at, sizeof at);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *kind = leap_layer_kind_name(current_kind(b));
  return leap_error_set(b->err, LEAP_ERR_CONFIG, "%s: layer %d (%s%s): %s", at, b->index, kind,
                        appended ? ", appended output layer" : "", msg);
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
  char name[192];
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

static leap_status build_linear(builder *b, seq_layer *l) {
  leap_layer_spec *s = &l->spec;
  if (need_ndim(b, 1, 3, "(N,F) vectors, (N,T,F) sequences or (N,H,W,F) maps")) return b->err->status;
  bool last = b->index == b->n_layers - 1;
  if (s->units == 0 && last) s->units = (int)b->out_dim;
  if (s->units < 1)
    return layer_error(b, "units %d: must be >= 1 (units 0, the output width, only on the last layer)", s->units);
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

static leap_status build_embedding(builder *b, seq_layer *l) {
  leap_layer_spec *s = &l->spec;
  if (b->index != 0) return layer_error(b, "an embedding takes i32 token ids, so it must be the first layer");
  if (need_ndim(b, 0, 3, "(N,...) token ids")) return b->err->status;
  if (s->vocab < 1 || s->units < 1)
    return layer_error(b, "vocab %d and channels %d must be >= 1", s->vocab, s->units);
  b->shape[b->ndim++] = s->units;
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
  char prefix[192];
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
  return leap_embedding(ctx, l->w, x);
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
};

/* ---- sequential ---------------------------------------------------------------------------------------------- */

/* One pass over the list (dry when b->ps is NULL). On success b holds the output shape. */
static leap_status seq_pass(builder *b, seq_net *net, int in_ndim, const int64_t *in_shape) {
  b->ndim = in_ndim;
  memcpy(b->shape, in_shape, sizeof(int64_t) * (size_t)in_ndim);
  for (b->index = 0; b->index < net->n_layers; b->index++) {
    seq_layer *l = &net->layers[b->index];
    if ((unsigned)l->spec.kind >= LEAP_LAYER_KIND_COUNT) return layer_error(b, "unknown layer kind %d", l->spec.kind);
    if (g_layer_ops[l->spec.kind].build(b, l)) return b->err->status;
  }
  return LEAP_OK;
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

static leap_status seq_create(leap_net *net, leap_params *ps, const char *prefix, uint64_t seed, leap_error *err) {
  const leap_net_spec *spec = &net->spec;
  if (spec->n_layers < 1 || spec->n_layers > LEAP_NET_MAX_LAYERS)
    return net_error(spec, prefix, err, "a layer list has 1 to %d layers, not %d", LEAP_NET_MAX_LAYERS,
                     spec->n_layers);
  seq_net *seq = calloc(1, sizeof *seq);
  if (!seq) return leap_error_set(err, LEAP_ERR_MEMORY, "network '%s': out of memory", prefix);
  net->impl = seq;
  builder b = {.spec = spec, .prefix = prefix, .seed = seed, .out_dim = net->out_dim, .err = err};
  seq->n_layers = b.n_layers = spec->n_layers;
  for (int i = 0; i < spec->n_layers; i++) {
    seq->layers[i].spec = spec->layers[i];
    b.depth += spec->layers[i].kind == LEAP_LAYER_TRANSFORMER;
  }
  if (seq_pass(&b, seq, net->in_ndim, net->in_shape) || seq_output(&b, seq)) return err->status;
  b.n_layers = seq->n_layers;
  b.ps = ps;
  if (seq_pass(&b, seq, net->in_ndim, net->in_shape)) return err->status;
  /* The net's copy of the spec shows the values the build resolved (pool strides, units 0). */
  for (int i = 0; i < spec->n_layers; i++) net->spec.layers[i] = seq->layers[i].spec;
  return LEAP_OK;
}

static leap_tensor *seq_forward(const seq_net *seq, leap_ctx *ctx, leap_tensor *x) {
  for (int i = 0; i < seq->n_layers && x; i++) {
    const seq_layer *l = &seq->layers[i];
    x = g_layer_ops[l->spec.kind].forward(l, ctx, x);
  }
  return x;
}

/* ---- presets ------------------------------------------------------------------------------------------------- */

static leap_status convnet_create(leap_net *net, leap_params *ps, const char *prefix, uint64_t seed,
                                  leap_error *err) {
  char desc[96];
  if (net->in_ndim != 3)
    return net_error(&net->spec, prefix, err, "needs (N,H,W,C) images; the input is %s",
                     describe(net->in_ndim, net->in_shape, desc, sizeof desc));
  leap_convnet_config c = net->spec.convnet;
  c.in_h = (int)net->in_shape[0], c.in_w = (int)net->in_shape[1], c.in_c = (int)net->in_shape[2];
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
  c.inputs = (int)leap_shape_numel(net->in_ndim, net->in_shape);
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
  if (net->in_ndim != 1)
    return net_error(&net->spec, prefix, err, "needs (N,T) token ids; the input is %s",
                     describe(net->in_ndim, net->in_shape, desc, sizeof desc));
  if (!c.vocab) c.vocab = (int)net->out_dim;
  if (!c.context) c.context = (int)net->in_shape[0];
  if (c.vocab != net->out_dim)
    return net_error(&net->spec, prefix, err, "vocab %d differs from the output width %lld", c.vocab,
                     (long long)net->out_dim);
  if (c.context < net->in_shape[0])
    return net_error(&net->spec, prefix, err, "context %d is shorter than the input's %lld tokens", c.context,
                     (long long)net->in_shape[0]);
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

leap_status leap_net_create(leap_net *net, const leap_net_spec *spec, int in_ndim, const int64_t *in_shape,
                            int64_t out_dim, leap_params *ps, const char *prefix, uint64_t seed, leap_error *err) {
  memset(net, 0, sizeof *net);
  net->spec = *spec;
  if (in_ndim < 0 || in_ndim >= LEAP_MAX_DIMS)
    return net_error(spec, prefix, err, "inputs have %d per-sample dims; at most %d", in_ndim, LEAP_MAX_DIMS - 1);
  for (int i = 0; i < in_ndim; i++)
    if (in_shape[i] < 1) return net_error(spec, prefix, err, "input dim %d is %lld", i, (long long)in_shape[i]);
  if (out_dim < 1) return net_error(spec, prefix, err, "the output width %lld must be >= 1", (long long)out_dim);
  net->in_ndim = in_ndim;
  memcpy(net->in_shape, in_shape, sizeof(int64_t) * (size_t)in_ndim);
  net->out_dim = out_dim;
  leap_status status;
  switch (spec->arch) {
    case LEAP_NET_SEQUENTIAL: status = seq_create(net, ps, prefix, seed, err); break;
    case LEAP_NET_CONVNET: status = convnet_create(net, ps, prefix, seed, err); break;
    case LEAP_NET_MLP: status = mlp_create(net, ps, prefix, seed, err); break;
    case LEAP_NET_GPT: status = gpt_create(net, ps, prefix, seed, err); break;
    default: status = net_error(spec, prefix, err, "unknown architecture %d", spec->arch);
  }
  if (status) free_impl(net);
  return status;
}

void leap_net_destroy(leap_net *net) {
  free_impl(net);
  memset(net, 0, sizeof *net);
}

/* Token inputs may be shorter than the built length (greedy decoding feeds growing prefixes). */
static bool input_fits(const leap_net *net, const leap_tensor *x) {
  if (x->ndim != net->in_ndim + 1) return false;
  bool tokens = x->dtype == LEAP_I32 && (net->spec.arch == LEAP_NET_GPT ||
                                         (net->spec.arch == LEAP_NET_SEQUENTIAL &&
                                          net->spec.layers[0].kind == LEAP_LAYER_EMBEDDING));
  for (int i = 0; i < net->in_ndim; i++) {
    bool ok = x->shape[i + 1] == net->in_shape[i] || (tokens && i == 0 && x->shape[1] <= net->in_shape[0]);
    if (!ok) return false;
  }
  return true;
}

leap_tensor *leap_net_forward(const leap_net *net, leap_ctx *ctx, leap_tensor *x) {
  if (!x || !leap_ctx_ok(ctx)) return NULL;
  if (!input_fits(net, x)) {
    char got[128], want[96];
    leap_error_set(&ctx->err, LEAP_ERR_SHAPE, "network (arch %s): input %s does not fit the shape it was built for, %s",
                   leap_net_arch_name(net->spec.arch), leap_tensor_describe(x, got, sizeof got),
                   describe(net->in_ndim, net->in_shape, want, sizeof want));
    return NULL;
  }
  switch (net->spec.arch) {
    case LEAP_NET_SEQUENTIAL: return seq_forward(net->impl, ctx, x);
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
