/* Networks in configs: `arch` picks the table of keys (sequential: a layer list; convnet, mlp, gpt: the presets'
 * settings), and each layer of a list is one key, its kind, mapping to its options ({conv: {channels: 32}}), or
 * the bare kind for a layer without options ("relu"). docs/configs.md lists every key. */
#include <stdio.h>
#include <string.h>

#include "train/config/cfg_internal.h"

#define NET_MAX_WIDTH (1 << 20)
#define NET_MAX_KERNEL 64

static const char *const g_arch_names[] = {"sequential", "convnet", "mlp", "gpt", NULL};
static const char *const g_activation_names[] = {"relu", "gelu", NULL};

/* ---- the presets' keys --------------------------------------------------------------------------------------- */

/* hidden: a list of widths into a leap_mlp_config (the target); absent is no hidden layer. */
static leap_status read_hidden(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_mlp_config *m = target;
  double v[LEAP_MLP_MAX_HIDDEN];
  int n = 0;
  if (leap__cfg_is_absent(at)) {
    leap__json_raw(&c->json, "[]");
  } else if (leap__cfg_read_numbers(c, at, v, &n, 0, LEAP_MLP_MAX_HIDDEN, 0, 1, NET_MAX_WIDTH)) {
    return c->err->status;
  }
  m->n_hidden = n;
  for (int i = 0; i < n; i++) m->hidden[i] = (int)v[i];
  return LEAP_OK;
}

static const leap__cfg_key g_head_keys[] = {
    LEAP__K_FN("hidden", 0, read_hidden),
    LEAP__K_CHOICE("activation", leap_mlp_config, activation, 0, g_activation_names, NULL),
    LEAP__K_NUM("dropout", leap_mlp_config, dropout, 0, 0, 0.99),
};
static const leap__cfg_table g_head_table = {g_head_keys, 3, NULL, NULL};

/* padding: defaults to kernel / 2 ("same" for odd kernels at stride 1); the target is the conv's struct. */
static leap_status read_conv_padding(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_conv_layer_config *l = target;
  int64_t v = l->kernel / 2;
  if (leap__cfg_is_absent(at)) leap__json_int(&c->json, v);
  else if (leap__cfg_read_int(c, at, &v, 0, NET_MAX_KERNEL)) return c->err->status;
  l->padding = (int)v;
  return LEAP_OK;
}

static const leap__cfg_key g_conv_keys[] = {
    LEAP__K_REQ_INT("channels", leap_conv_layer_config, channels, 1, NET_MAX_WIDTH),
    LEAP__K_INT("kernel", leap_conv_layer_config, kernel, 3, 1, NET_MAX_KERNEL),
    LEAP__K_INT("stride", leap_conv_layer_config, stride, 1, 1, NET_MAX_KERNEL),
    LEAP__K_FN("padding", 0, read_conv_padding),
    LEAP__K_INT("pool", leap_conv_layer_config, pool, 1, 0, NET_MAX_KERNEL),
    LEAP__K_BOOL("batchnorm", leap_conv_layer_config, batchnorm, 0),
};
static const leap__cfg_table g_conv_table = {g_conv_keys, 6, NULL, NULL};

/* conv: the convnet's list of conv layers; the target is the leap_convnet_config. */
static leap_status read_conv_list(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_convnet_config *cn = target;
  if (leap__cfg_is_absent(at)) {
    leap__cfg_at here = *at;
    here.path[0] = '\0';
    return leap__cfg_error(c, &here, "missing required key '%s'", at->path);
  }
  if (leap__cfg_sequence(c, at, 1, LEAP_CONVNET_MAX_CONV, &cn->n_conv)) return c->err->status;
  leap__json_open(&c->json, '[');
  for (int i = 0; i < cn->n_conv; i++) {
    leap__cfg_at item;
    leap__cfg_item(c, at, i, &item);
    if (leap__cfg_read_map(c, &item, &g_conv_table, &cn->conv[i])) return c->err->status;
  }
  leap__json_close(&c->json, ']');
  return LEAP_OK;
}

#define ARCH_KEY LEAP__K_CHOICE("arch", leap_net_spec, arch, 0, g_arch_names, NULL)

static const leap__cfg_key g_convnet_keys[] = {
    ARCH_KEY,
    LEAP__K_FN("conv", offsetof(leap_net_spec, convnet), read_conv_list),
    LEAP__K_BOOL("global_pool", leap_net_spec, convnet.global_pool, 0),
    LEAP__K_MAP("head", leap_net_spec, convnet.head, false, &g_head_table),
};

static const leap__cfg_key g_mlp_keys[] = {
    ARCH_KEY,
    LEAP__K_FN("hidden", offsetof(leap_net_spec, mlp), read_hidden),
    LEAP__K_CHOICE("activation", leap_net_spec, mlp.activation, 0, g_activation_names, NULL),
    LEAP__K_NUM("dropout", leap_net_spec, mlp.dropout, 0, 0, 0.99),
};

static const leap__cfg_key g_gpt_keys[] = {
    ARCH_KEY,
    LEAP__K_INT("vocab", leap_net_spec, gpt.vocab, 0, 0, NET_MAX_WIDTH),
    LEAP__K_INT("context", leap_net_spec, gpt.context, 0, 0, NET_MAX_WIDTH),
    LEAP__K_REQ_INT("layers", leap_net_spec, gpt.layers, 1, 1024),
    LEAP__K_REQ_INT("heads", leap_net_spec, gpt.heads, 1, 1024),
    LEAP__K_REQ_INT("channels", leap_net_spec, gpt.channels, 1, NET_MAX_WIDTH),
    LEAP__K_NUM("dropout", leap_net_spec, gpt.dropout, 0, 0, 0.99),
};

/* ---- layer lists --------------------------------------------------------------------------------------------- */

/* pool stride: defaults to the window (non-overlapping); the target is the layer. */
static leap_status read_pool_stride(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_layer_spec *l = target;
  int64_t v = l->kernel;
  if (leap__cfg_is_absent(at)) leap__json_int(&c->json, v);
  else if (leap__cfg_read_int(c, at, &v, 1, NET_MAX_KERNEL)) return c->err->status;
  l->stride = (int)v;
  return LEAP_OK;
}

static leap_status read_layer_padding(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_layer_spec *l = target;
  int64_t v = l->kernel / 2;
  if (leap__cfg_is_absent(at)) leap__json_int(&c->json, v);
  else if (leap__cfg_read_int(c, at, &v, 0, NET_MAX_KERNEL)) return c->err->status;
  l->padding = (int)v;
  return LEAP_OK;
}

static const leap__cfg_key g_layer_conv[] = {
    LEAP__K_REQ_INT("channels", leap_layer_spec, units, 1, NET_MAX_WIDTH),
    LEAP__K_INT("kernel", leap_layer_spec, kernel, 3, 1, NET_MAX_KERNEL),
    LEAP__K_INT("stride", leap_layer_spec, stride, 1, 1, NET_MAX_KERNEL),
    LEAP__K_FN("padding", 0, read_layer_padding),
};
static const leap__cfg_key g_layer_pool[] = {
    LEAP__K_INT("kernel", leap_layer_spec, kernel, 2, 1, NET_MAX_KERNEL),
    LEAP__K_FN("stride", 0, read_pool_stride),
    LEAP__K_INT("padding", leap_layer_spec, padding, 0, 0, NET_MAX_KERNEL),
};
static const leap__cfg_key g_layer_linear[] = {LEAP__K_INT("units", leap_layer_spec, units, 0, 0, NET_MAX_WIDTH)};
static const leap__cfg_key g_layer_groupnorm[] = {LEAP__K_REQ_INT("groups", leap_layer_spec, groups, 1, 4096)};
static const leap__cfg_key g_layer_dropout[] = {LEAP__K_NUM("p", leap_layer_spec, p, 0.1, 0, 0.99)};
static const leap__cfg_key g_layer_embedding[] = {
    LEAP__K_REQ_INT("vocab", leap_layer_spec, vocab, 1, NET_MAX_WIDTH),
    LEAP__K_REQ_INT("channels", leap_layer_spec, units, 1, NET_MAX_WIDTH),
};
static const leap__cfg_key g_layer_transformer[] = {
    LEAP__K_REQ_INT("heads", leap_layer_spec, heads, 1, 1024),
    LEAP__K_INT("hidden", leap_layer_spec, units, 0, 0, NET_MAX_WIDTH),
    LEAP__K_BOOL("causal", leap_layer_spec, causal, 0),
    LEAP__K_NUM("dropout", leap_layer_spec, p, 0, 0, 0.99),
};

static const leap__cfg_key g_layer_length[] = {LEAP__K_REQ_INT("length", leap_layer_spec, units, 1, NET_MAX_WIDTH)};

#define LAYER_TABLE(keys) {keys, sizeof keys / sizeof keys[0], NULL, NULL}
static const leap__cfg_table g_layer_tables[LEAP_LAYER_KIND_COUNT] = {
    [LEAP_LAYER_CONV] = LAYER_TABLE(g_layer_conv),
    [LEAP_LAYER_MAXPOOL] = LAYER_TABLE(g_layer_pool),
    [LEAP_LAYER_AVGPOOL] = LAYER_TABLE(g_layer_pool),
    [LEAP_LAYER_LINEAR] = LAYER_TABLE(g_layer_linear),
    [LEAP_LAYER_GROUPNORM] = LAYER_TABLE(g_layer_groupnorm),
    [LEAP_LAYER_DROPOUT] = LAYER_TABLE(g_layer_dropout),
    [LEAP_LAYER_EMBEDDING] = LAYER_TABLE(g_layer_embedding),
    [LEAP_LAYER_TRANSFORMER] = LAYER_TABLE(g_layer_transformer),
    [LEAP_LAYER_QUERIES] = LAYER_TABLE(g_layer_length),
    [LEAP_LAYER_LAST] = LAYER_TABLE(g_layer_length),
};

/* The kind a layer item names: its one key, or the item itself when it is a bare name. */
static leap_status layer_kind(leap__cfg *c, const leap__cfg_at *item, const char **name) {
  struct fy_node *node = item->node;
  if (node && fy_node_is_mapping(node) && fy_node_mapping_item_count(node) == 1) {
    struct fy_node *key = fy_node_pair_key(fy_node_mapping_get_by_index(node, 0));
    *name = key && fy_node_is_scalar(key) ? fy_node_get_scalar0(key) : NULL;
  } else if (node && fy_node_is_scalar(node) && !leap__cfg_is_absent(item)) {
    *name = fy_node_get_scalar0(node);
  } else {
    return leap__cfg_error(c, item, "a layer is its kind with its options, e.g. {conv: {channels: 32}}, or a bare "
                                    "kind such as relu");
  }
  if (*name && leap_layer_kind_from_name(*name) >= 0) return LEAP_OK;
  const char *kinds[LEAP_LAYER_KIND_COUNT];
  for (int k = 0; k < LEAP_LAYER_KIND_COUNT; k++) kinds[k] = leap_layer_kind_name(k);
  const char *close = *name ? leap__cfg_closest(*name, kinds, LEAP_LAYER_KIND_COUNT) : NULL;
  if (close) return leap__cfg_error(c, item, "unknown layer kind '%s' (did you mean '%s'?)", *name, close);
  return leap__cfg_error(c, item, "unknown layer kind '%s' (kinds: conv, maxpool, avgpool, global_avgpool, flatten, "
                                  "linear, batchnorm, layernorm, groupnorm, relu, gelu, dropout, embedding, "
                                  "transformer, tokens, position, queries, last, coords)", *name ? *name : "?");
}

static leap_status read_layer(leap__cfg *c, const leap__cfg_at *item, leap_layer_spec *layer) {
  const char *name = NULL;
  if (layer_kind(c, item, &name)) return c->err->status;
  memset(layer, 0, sizeof *layer);
  layer->kind = leap_layer_kind_from_name(name);
  layer->line = item->set ? 0 : item->line;
  leap__cfg_at options;
  leap__cfg_child(c, item, name, &options);
  static const leap__cfg_table no_options = {NULL, 0, NULL, NULL};
  const leap__cfg_table *table = g_layer_tables[layer->kind].keys ? &g_layer_tables[layer->kind] : &no_options;
  leap__json_open(&c->json, '{');
  leap__json_key(&c->json, name);
  if (leap__cfg_read_map(c, &options, table, layer)) return c->err->status;
  leap__json_close(&c->json, '}');
  return LEAP_OK;
}

/* A layer list at `at` of 1 to max layers into layers[], *n its length; absent is a missing required key. */
static leap_status read_layer_list(leap__cfg *c, const leap__cfg_at *at, leap_layer_spec *layers, int max, int *n) {
  if (leap__cfg_is_absent(at)) {
    leap__cfg_at here = *at;
    here.path[0] = '\0';
    return leap__cfg_error(c, &here, "missing required key '%s'", at->path);
  }
  if (leap__cfg_sequence(c, at, 1, max, n)) return c->err->status;
  leap__json_open(&c->json, '[');
  for (int i = 0; i < *n; i++) {
    leap__cfg_at item;
    leap__cfg_item(c, at, i, &item);
    if (read_layer(c, &item, &layers[i])) return c->err->status;
  }
  leap__json_close(&c->json, ']');
  return LEAP_OK;
}

/* layers: the sequential list; the target is the leap_net_spec. */
static leap_status read_layers(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_net_spec *spec = target;
  return read_layer_list(c, at, spec->layers, LEAP_NET_MAX_LAYERS, &spec->n_layers);
}

/* inputs: a mapping from each named input (a data field) to the layer list it goes through before the join, in the
 * order the inputs are joined; absent or {} is one unnamed input. The target is the leap_net_spec. */
static leap_status read_branches(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_net_spec *spec = target;
  spec->n_branches = 0;
  if (leap__cfg_is_absent(at)) {
    leap__json_raw(&c->json, "{}");
    return LEAP_OK;
  }
  if (!fy_node_is_mapping(at->node))
    return leap__cfg_error(c, at, "expected a mapping from each input's field name to its layer list, e.g. {image: "
                                  "[{conv: {channels: 32}}, relu, tokens]}");
  int n = fy_node_mapping_item_count(at->node);
  if (n > LEAP_NET_MAX_INPUTS)
    return leap__cfg_error(c, at, "has %d inputs; a network takes at most %d", n, LEAP_NET_MAX_INPUTS);
  leap__json_open(&c->json, '{');
  for (int i = 0; i < n; i++) {
    struct fy_node *key = fy_node_pair_key(fy_node_mapping_get_by_index(at->node, i));
    const char *name = key && fy_node_is_scalar(key) ? fy_node_get_scalar0(key) : "";
    leap_net_branch *br = &spec->branches[i];
    leap__cfg_at list;
    leap__cfg_child(c, at, name, &list);
    if (!leap_run_config_field(c->cfg, name))
      return leap__cfg_error(c, &list, "'%s' is not a field of data.fields (a network's inputs are named by the "
                                       "fields they read)", name);
    snprintf(br->input, sizeof br->input, "%s", name);
    br->line = list.set ? 0 : list.line;
    leap__json_key(&c->json, name);
    if (read_layer_list(c, &list, br->layers, LEAP_NET_MAX_BRANCH_LAYERS, &br->n_layers)) return c->err->status;
  }
  spec->n_branches = n;
  leap__json_close(&c->json, '}');
  return LEAP_OK;
}

static const leap__cfg_key g_sequential_keys[] = {ARCH_KEY, LEAP__K_FN("inputs", 0, read_branches),
                                                  LEAP__K_FN("layers", 0, read_layers)};

static const leap__cfg_table g_net_tables[] = {
    [LEAP_NET_SEQUENTIAL] = {g_sequential_keys, 3, "arch sequential", NULL},
    [LEAP_NET_CONVNET] = {g_convnet_keys, 4, "arch convnet", NULL},
    [LEAP_NET_MLP] = {g_mlp_keys, 4, "arch mlp", NULL},
    [LEAP_NET_GPT] = {g_gpt_keys, 7, "arch gpt", NULL},
};

leap_status leap__cfg_read_network(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_net_spec *spec = target;
  memset(spec, 0, sizeof *spec);
  if (leap__cfg_is_absent(at)) {
    leap__cfg_at here = *at;
    here.path[0] = '\0';
    return leap__cfg_error(c, &here, "missing required key '%s'", at->path);
  }
  if (!fy_node_is_mapping(at->node))
    return leap__cfg_error(c, at, "expected a mapping with an arch (sequential, convnet, mlp or gpt) and its keys");
  leap__cfg_at arch_at;
  leap__cfg_child(c, at, "arch", &arch_at);
  int arch = LEAP_NET_SEQUENTIAL;
  if (!leap__cfg_is_absent(&arch_at)) {
    const char *name = fy_node_is_scalar(arch_at.node) ? fy_node_get_scalar0(arch_at.node) : NULL;
    arch = leap_net_arch_from_name(name);
    if (arch < 0) return leap__cfg_read_choice(c, &arch_at, g_arch_names, &arch);
  }
  if (at->set) snprintf(spec->source, sizeof spec->source, "--set %s", at->set);
  else snprintf(spec->source, sizeof spec->source, "%s", c->file);
  snprintf(spec->key, sizeof spec->key, "%s", at->path);
  spec->line = at->set ? 0 : at->line;
  return leap__cfg_read_map(c, at, &g_net_tables[arch], spec);
}
