#include "models/convnet.h"

#include <stdio.h>
#include <string.h>

#include "train/core/init.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

static leap_status add_batchnorm(leap_convnet *net, int i, leap_params *ps, const char *prefix, leap_error *err) {
  int64_t C = net->config.conv[i].channels;
  char name[128];
  static const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
  leap_tensor **slots[4] = {&net->bn_gamma[i], &net->bn_beta[i], &net->bn_mean[i], &net->bn_var[i]};
  for (int j = 0; j < 4; j++) {
    snprintf(name, sizeof name, "%sbn.%d.%s", prefix, i, suffix[j]);
    leap_param_kind kind = j < 2 ? LEAP_PARAM_TRAINABLE : LEAP_PARAM_BUFFER;
    if (!(*slots[j] = leap_params_add(ps, name, 1, &C, kind, false, err))) return err->status;
  }
  leap_init_constant(net->bn_gamma[i], 1.0f);
  leap_init_constant(net->bn_var[i], 1.0f);
  return LEAP_OK;
}

/* Output size of one spatial dim through a conv (and its pool); 0 when the layer does not fit. */
static int conv_out(int in, const leap_conv_layer_config *l) {
  int out = (in + 2 * l->padding - l->kernel) / l->stride + 1;
  if (in + 2 * l->padding < l->kernel) return 0;
  return l->pool > 1 ? out / l->pool : out;
}

leap_status leap_convnet_create(leap_convnet *net, const leap_convnet_config *config, leap_params *ps,
                                const char *prefix, uint64_t seed, leap_error *err) {
  memset(net, 0, sizeof *net);
  net->config = *config;
  if (config->n_conv < 0 || config->n_conv > LEAP_CONVNET_MAX_CONV)
    return leap_error_set(err, LEAP_ERR_CONFIG, "convnet '%s': 0 to %d conv layers", prefix, LEAP_CONVNET_MAX_CONV);
  int h = config->in_h, w = config->in_w, c = config->in_c;
  for (int i = 0; i < config->n_conv; i++) {
    const leap_conv_layer_config *l = &config->conv[i];
    if (l->channels < 1 || l->kernel < 1 || l->stride < 1 || l->padding < 0)
      return leap_error_set(err, LEAP_ERR_CONFIG, "convnet '%s': conv layer %d has an invalid geometry", prefix, i);
    int64_t shape[4] = {l->channels, l->kernel, l->kernel, c};
    char name[32];
    snprintf(name, sizeof name, "conv.%d", i);
    if (leap__model_add_layer(ps, prefix, name, 4, shape, (int64_t)l->kernel * l->kernel * c, 0, false, seed,
                              &net->w[i], &net->b[i], err))
      return err->status;
    if (l->batchnorm && add_batchnorm(net, i, ps, prefix, err)) return err->status;
    h = conv_out(h, l), w = conv_out(w, l), c = l->channels;
    if (h < 1 || w < 1)
      return leap_error_set(err, LEAP_ERR_CONFIG, "convnet '%s': the image is too small for conv layer %d", prefix, i);
  }
  net->config.head.inputs = config->global_pool ? c : h * w * c;
  char head_prefix[128];
  snprintf(head_prefix, sizeof head_prefix, "%shead.", prefix);
  return leap_mlp_create(&net->head, &net->config.head, ps, head_prefix, seed, err);
}

leap_tensor *leap_convnet_forward(const leap_convnet *net, leap_ctx *ctx, leap_tensor *x) {
  for (int i = 0; i < net->config.n_conv; i++) {
    const leap_conv_layer_config *l = &net->config.conv[i];
    /* Without batch norm the ReLU directly follows the convolution and is fused into it (one op, one pass). */
    if (l->batchnorm) {
      x = leap_conv2d(ctx, x, net->w[i], net->b[i], l->stride, l->padding);
      x = leap_batchnorm(ctx, x, net->bn_gamma[i], net->bn_beta[i], net->bn_mean[i], net->bn_var[i], BN_MOMENTUM,
                         BN_EPS);
      x = leap_relu(ctx, x);
    } else {
      x = leap_conv2d_relu(ctx, x, net->w[i], net->b[i], l->stride, l->padding);
    }
    if (l->pool > 1) x = leap_maxpool(ctx, x, l->pool, l->pool, 0);
  }
  if (!x) return NULL;
  if (net->config.global_pool) {
    x = leap_global_avgpool(ctx, x);
  } else {
    int64_t shape[2] = {x->shape[0], -1};
    x = leap_reshape(ctx, x, 2, shape);
  }
  return leap_mlp_forward(&net->head, ctx, x);
}

leap_convnet_config leap_convnet_config_w2(int outputs) {
  leap_convnet_config c;
  memset(&c, 0, sizeof c);
  c.in_h = 64, c.in_w = 64, c.in_c = 3;
  c.n_conv = 3;
  int channels[3] = {32, 64, 128};
  for (int i = 0; i < 3; i++) c.conv[i] = (leap_conv_layer_config){channels[i], 3, 1, 1, 2, false};
  c.head = (leap_mlp_config){.outputs = outputs, .n_hidden = 1, .hidden = {256}, .activation = LEAP_ACT_RELU};
  return c;
}
