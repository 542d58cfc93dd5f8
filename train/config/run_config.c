/* leap_run_config_load: the YAML recipe, --set overrides, then the schema below (each section a table of keys, in
 * the order they are read and written to resolved_json). docs/configs.md documents every key and default. */
#include "train/config/run_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/config/cfg_internal.h"
#include "train/core/device_memory.h"

#define CFG_MAX_STEPS 1e12
#define CFG_MAX_BATCH (1 << 24)

static const char *const g_device_names[] = {"auto", "cpu", "cuda", NULL};
static const char *const g_dtype_names[] = {"f32", "i32", NULL};
static const int g_dtype_values[] = {LEAP_F32, LEAP_I32};
static const char *const g_layout_names[] = {"nhwc", "nchw", NULL};
static const char *const g_loss_names[] = {"mse", "cross_entropy", NULL};
static const char *const g_optimizer_names[] = {"adamw", "sgd", NULL};
static const char *const g_schedule_names[] = {"constant", "warmup_cosine", "warmup_linear", NULL};
static const char *const g_generators[] = {"", "robot", "vqa", "speech", NULL};
/* In leap_precision's order. */
static const char *const g_precision_names[] = {"auto", "fp32", "bf16", NULL};

/* A computed default or a missing required key, in the form every reader reports it. */
static leap_status missing(leap__cfg *c, const leap__cfg_at *at) {
  leap__cfg_at here = *at;
  here.path[0] = '\0';
  return leap__cfg_error(c, &here, "missing required key '%s'", at->path);
}

/* A name used as a key elsewhere (a field, a stage): letters, digits, '_' and '-'. */
static leap_status check_name(leap__cfg *c, const leap__cfg_at *at, const char *name) {
  bool ok = name[0] != '\0';
  for (const char *p = name; *p && ok; p++)
    ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
  return ok ? LEAP_OK : leap__cfg_error(c, at, "'%s' is not a valid name (letters, digits, '_' and '-')", name);
}

/* ---- data ---------------------------------------------------------------------------------------------------- */

/* mean / std: one value (every channel) or one per channel; the target is the field, and which list is read. */
static leap_status read_channel_values(leap__cfg *c, const leap__cfg_at *at, leap_field_config *f, bool is_std) {
  double v[4] = {is_std ? 1.0 : 0.0};
  int n = 1;
  if (leap__cfg_is_absent(at)) leap__json_number(&c->json, v[0], sizeof(float));
  else if (!fy_node_is_sequence(at->node) ? leap__cfg_read_number(c, at, &v[0], sizeof(float), -1e6, 1e6)
                                          : leap__cfg_read_numbers(c, at, v, &n, 1, 4, sizeof(float), -1e6, 1e6))
    return c->err->status;
  for (int i = 0; i < n; i++)
    if (is_std && v[i] <= 0) return leap__cfg_error(c, at, "every std must be positive, got %g", v[i]);
  float *dst = is_std ? f->std : f->mean;
  for (int i = 0; i < 4; i++) dst[i] = (float)(i < n ? v[i] : n == 1 ? v[0] : is_std ? 1.0 : 0.0);
  if (n > 1 && f->n_channels > 1 && n != f->n_channels)
    return leap__cfg_error(c, at, "has %d values but mean has %d", n, f->n_channels);
  if (n > f->n_channels) f->n_channels = n;
  return LEAP_OK;
}
static leap_status read_mean(leap__cfg *c, const leap__cfg_at *at, void *target) {
  return read_channel_values(c, at, target, false);
}
static leap_status read_std(leap__cfg *c, const leap__cfg_at *at, void *target) {
  return read_channel_values(c, at, target, true);
}

static leap_status check_field(leap__cfg *c, const leap__cfg_at *at, void *base) {
  leap_field_config *f = base;
  leap__cfg_at dt;
  leap__cfg_child(c, at, "dtype", &dt);
  if (f->normalize && f->dtype != LEAP_F32)
    return leap__cfg_error(c, &dt, "a normalised field is delivered as f32, not i32");
  leap__cfg_at vocab;
  leap__cfg_child(c, at, "vocab", &vocab);
  if (f->vocab && f->dtype != LEAP_I32)
    return leap__cfg_error(c, &vocab, "only i32 (token) fields have a vocabulary; this field is f32");
  return LEAP_OK;
}

static const leap__cfg_key g_field_keys[] = {
    LEAP__K_CHOICE("dtype", leap_field_config, dtype, 0, g_dtype_names, g_dtype_values),
    LEAP__K_BOOL("normalize", leap_field_config, normalize, 0),
    LEAP__K_FN("mean", 0, read_mean),
    LEAP__K_FN("std", 0, read_std),
    LEAP__K_CHOICE("layout", leap_field_config, nchw, 0, g_layout_names, NULL),
    LEAP__K_INT("vocab", leap_field_config, vocab, 0, 0, 1 << 24),
};
static const leap__cfg_table g_field_table = {g_field_keys, 6, NULL, check_field};

/* fields: a mapping from dataset name to its preparation; the target is the leap_data_config. */
static leap_status read_fields(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_data_config *d = target;
  if (leap__cfg_is_absent(at)) return missing(c, at);
  if (!fy_node_is_mapping(at->node))
    return leap__cfg_error(c, at, "expected a mapping from each dataset's name to how it is prepared");
  int n = fy_node_mapping_item_count(at->node);
  if (n < 1 || n > LEAP_CFG_MAX_FIELDS) return leap__cfg_error(c, at, "has %d fields; 1 to %d allowed", n,
                                                               LEAP_CFG_MAX_FIELDS);
  leap__json_open(&c->json, '{');
  for (int i = 0; i < n; i++) {
    struct fy_node *key = fy_node_pair_key(fy_node_mapping_get_by_index(at->node, i));
    const char *name = key && fy_node_is_scalar(key) ? fy_node_get_scalar0(key) : "";
    leap__cfg_at field;
    leap__cfg_child(c, at, name, &field);
    leap_field_config *f = &d->fields[i];
    memset(f, 0, sizeof *f);
    if (check_name(c, &field, name)) return c->err->status;
    if (strlen(name) >= sizeof f->name) return leap__cfg_error(c, &field, "the name is too long");
    snprintf(f->name, sizeof f->name, "%s", name);
    leap__json_key(&c->json, name);
    if (leap__cfg_read_map(c, &field, &g_field_table, f)) return c->err->status;
  }
  d->n_fields = n;
  leap__json_close(&c->json, '}');
  return LEAP_OK;
}

static const leap__cfg_key g_group_keys[] = {
    LEAP__K_STR("train", leap_data_config, train_group, "train"),
    LEAP__K_STR("val", leap_data_config, val_group, "val"),
    LEAP__K_STR("test", leap_data_config, test_group, "test"),
};
static const leap__cfg_table g_group_table = {g_group_keys, 3, NULL, NULL};

/* generate.task: a generator's name, or "" (the default) for a file that is never generated. */
static leap_status read_generator(leap__cfg *c, const leap__cfg_at *at, void *target) {
  char name[LEAP_CFG_NAME] = "";
  if (!leap__cfg_is_absent(at)) {
    if (leap__cfg_read_string(c, at, name, sizeof name)) return c->err->status;
  } else {
    leap__json_string(&c->json, "");
  }
  bool known = false;
  for (int i = 0; g_generators[i] && !known; i++) known = !strcmp(name, g_generators[i]);
  if (!known) return leap__cfg_error(c, at, "expected robot, vqa or speech (or \"\" for never); got '%s'", name);
  snprintf(target, LEAP_CFG_NAME, "%s", name);
  return LEAP_OK;
}

static const leap__cfg_key g_generate_keys[] = {
    LEAP__K_FN("task", offsetof(leap_data_config, generate_task), read_generator),
    LEAP__K_INT("n", leap_data_config, generate_n, 20000, 1, 1e9),
    LEAP__K_INT("seed", leap_data_config, generate_seed, 1, 0, 9.0e15),
};
static const leap__cfg_table g_generate_table = {g_generate_keys, 3, NULL, NULL};

static const leap__cfg_key g_loader_keys[] = {
    LEAP__K_INT("threads", leap_data_config, loader_threads, 2, 1, 256),
    LEAP__K_INT("prefetch", leap_data_config, prefetch, 4, 1, 256),
};
static const leap__cfg_table g_loader_table = {g_loader_keys, 2, NULL, NULL};

static const leap__cfg_key g_data_keys[] = {
    LEAP__K_STR("file", leap_data_config, file, NULL),
    LEAP__K_MAP_HERE("groups", false, &g_group_table),
    LEAP__K_MAP_HERE("generate", false, &g_generate_table),
    LEAP__K_FN("fields", 0, read_fields),
    LEAP__K_MAP_HERE("loader", false, &g_loader_table),
};
static const leap__cfg_table g_data_table = {g_data_keys, 5, NULL, NULL};

/* ---- stages -------------------------------------------------------------------------------------------------- */

static leap_status need_field(leap__cfg *c, const leap__cfg_at *at, const char *name) {
  if (leap_run_config_field(c->cfg, name)) return LEAP_OK;
  return leap__cfg_error(c, at, "'%s' is not a field of data.fields", name);
}

/* input: one field name or a list of up to LEAP_CFG_MAX_STAGE_INPUTS; written as a list. */
static leap_status read_inputs(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_stage_config *s = target;
  if (leap__cfg_is_absent(at)) return missing(c, at);
  leap__json_open(&c->json, '[');
  if (fy_node_is_sequence(at->node)) {
    if (leap__cfg_sequence(c, at, 1, LEAP_CFG_MAX_STAGE_INPUTS, &s->n_inputs)) return c->err->status;
    for (int i = 0; i < s->n_inputs; i++) {
      leap__cfg_at item;
      leap__cfg_item(c, at, i, &item);
      if (leap__cfg_read_string(c, &item, s->inputs[i], LEAP_CFG_NAME) || need_field(c, &item, s->inputs[i]))
        return c->err->status;
    }
  } else {
    s->n_inputs = 1;
    if (leap__cfg_read_string(c, at, s->inputs[0], LEAP_CFG_NAME) || need_field(c, at, s->inputs[0]))
      return c->err->status;
  }
  leap__json_close(&c->json, ']');
  for (int i = 1; i < s->n_inputs; i++)
    if (!strcmp(s->inputs[i], s->inputs[0])) return leap__cfg_error(c, at, "'%s' is named twice", s->inputs[i]);
  return LEAP_OK;
}

/* A stage's output: a field; an i32 one needs its vocab (the width of the network's output). */
static leap_status read_output(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_stage_config *s = target;
  if (leap__cfg_is_absent(at)) return missing(c, at);
  if (leap__cfg_read_string(c, at, s->output, LEAP_CFG_NAME) || need_field(c, at, s->output)) return c->err->status;
  const leap_field_config *f = leap_run_config_field(c->cfg, s->output);
  if (f->dtype == LEAP_I32 && f->vocab < 1)
    return leap__cfg_error(c, at, "the i32 field '%s' is predicted, so data.fields.%s.vocab must say how many ids "
                                  "it has", s->output, s->output);
  return LEAP_OK;
}

/* loss: defaults to cross_entropy for an i32 output field, mse for f32; it must agree with the field. */
static leap_status read_loss(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_stage_config *s = target;
  const leap_field_config *f = leap_run_config_field(c->cfg, s->output);
  int want = f && f->dtype == LEAP_I32 ? LEAP_LOSS_CROSS_ENTROPY : LEAP_LOSS_MSE, got = want;
  if (leap__cfg_is_absent(at)) leap__json_string(&c->json, g_loss_names[want]);
  else if (leap__cfg_read_choice(c, at, g_loss_names, &got)) return c->err->status;
  if (got != want)
    return leap__cfg_error(c, at, "loss %s needs an %s output field; '%s' is %s", g_loss_names[got],
                           got == LEAP_LOSS_MSE ? "f32" : "i32", s->output, want == LEAP_LOSS_MSE ? "f32" : "i32");
  s->loss = (leap_loss_kind)got;
  return LEAP_OK;
}

static leap_status read_stage_name(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_stage_config *s = target;
  if (leap__cfg_is_absent(at)) return missing(c, at);
  if (leap__cfg_read_string(c, at, s->name, LEAP_CFG_NAME)) return c->err->status;
  return check_name(c, at, s->name);
}

static const leap__cfg_key g_stage_keys[] = {
    LEAP__K_FN("name", 0, read_stage_name),
    LEAP__K_FN("input", 0, read_inputs),
    LEAP__K_FN("output", 0, read_output),
    LEAP__K_FN("loss", 0, read_loss),
    LEAP__K_FN("network", offsetof(leap_stage_config, network), leap__cfg_read_network),
};
static const leap__cfg_table g_stage_table = {g_stage_keys, 5, NULL, NULL};

static bool stage_has_input(const leap_stage_config *s, const char *name) {
  for (int k = 0; k < s->n_inputs; k++)
    if (!strcmp(s->inputs[k], name)) return true;
  return false;
}

/* The network's named inputs are the stage's inputs; a stage of two inputs needs them named. */
static leap_status check_stage_network(leap__cfg *c, const leap__cfg_at *item, const leap_stage_config *s) {
  const leap_net_spec *net = &s->network;
  leap__cfg_at key;
  leap__cfg_child(c, item, "network", &key);
  if (net->n_branches == 0 && s->n_inputs > 1)
    return leap__cfg_error(c, &key, "stage '%s' takes %d inputs, so its network must name them, one layer list "
                                    "each: arch sequential with inputs: {%s: [...], %s: [...]}", s->name,
                           s->n_inputs, s->inputs[0], s->inputs[1]);
  bool same = net->n_branches == 0 || net->n_branches == s->n_inputs;
  for (int k = 0; k < net->n_branches && same; k++) same = stage_has_input(s, net->branches[k].input);
  if (same) return LEAP_OK;
  leap__cfg_at inputs;
  leap__cfg_child(c, &key, "inputs", &inputs);
  return leap__cfg_error(c, &inputs, "the network's inputs must be the stage's inputs (%s%s%s), one layer list each",
                         s->inputs[0], s->n_inputs > 1 ? ", " : "", s->n_inputs > 1 ? s->inputs[1] : "");
}

/* Stage i's name is new, its network takes its inputs, and stage i > 0 takes stage i-1's output among its inputs
 * (the chain). */
static leap_status check_stage(leap__cfg *c, const leap__cfg_at *item, int i) {
  const leap_stage_config *s = &c->cfg->stages[i];
  leap__cfg_at key;
  if (check_stage_network(c, item, s)) return c->err->status;
  for (int j = 0; j < i; j++)
    if (!strcmp(c->cfg->stages[j].name, s->name)) {
      leap__cfg_child(c, item, "name", &key);
      return leap__cfg_error(c, &key, "stage '%s' is defined twice", s->name);
    }
  if (i == 0) return LEAP_OK;
  const char *prev = c->cfg->stages[i - 1].output;
  if (stage_has_input(s, prev)) return LEAP_OK;
  leap__cfg_child(c, item, "input", &key);
  return leap__cfg_error(c, &key, "stage '%s' must take the previous stage's output '%s' as an input (stages form "
                                  "a chain)", s->name, prev);
}

static leap_status read_stages(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_run_config *cfg = target;
  if (leap__cfg_is_absent(at)) return missing(c, at);
  if (leap__cfg_sequence(c, at, 1, LEAP_CFG_MAX_STAGES, &cfg->n_stages)) return c->err->status;
  leap__json_open(&c->json, '[');
  for (int i = 0; i < cfg->n_stages; i++) {
    leap__cfg_at item;
    leap__cfg_item(c, at, i, &item);
    if (leap__cfg_read_map(c, &item, &g_stage_table, &cfg->stages[i]) || check_stage(c, &item, i))
      return c->err->status;
  }
  leap__json_close(&c->json, ']');
  return LEAP_OK;
}

/* ---- e2e, train, compare, output ----------------------------------------------------------------------------- */

static leap_status read_e2e_network(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_run_config *cfg = target;
  cfg->e2e_has_network = !leap__cfg_is_absent(at);
  if (!cfg->e2e_has_network) {
    leap__json_raw(&c->json, "null");
    return LEAP_OK;
  }
  return leap__cfg_read_network(c, at, &cfg->e2e_network);
}

static leap_status check_e2e(leap__cfg *c, const leap__cfg_at *at, void *base) {
  leap_run_config *cfg = base;
  leap__cfg_at interface;
  leap__cfg_child(c, at, "interface", &interface);
  if (cfg->e2e_has_network && cfg->e2e_interface)
    return leap__cfg_error(c, &interface, "e2e.interface composes the stages' networks; with an explicit "
                                          "e2e.network it means nothing (remove one of them)");
  return LEAP_OK;
}

static const leap__cfg_key g_e2e_keys[] = {
    LEAP__K_INT("interface", leap_run_config, e2e_interface, 0, 0, 1 << 20),
    LEAP__K_FN("network", 0, read_e2e_network),
};
static const leap__cfg_table g_e2e_table = {g_e2e_keys, 2, NULL, check_e2e};

static const leap__cfg_key g_optimizer_keys[] = {
    LEAP__K_CHOICE("name", leap_optimizer_config, kind, 0, g_optimizer_names, NULL),
    LEAP__K_NUM("beta1", leap_optimizer_config, beta1, 0.9, 0, 0.999999),
    LEAP__K_NUM("beta2", leap_optimizer_config, beta2, 0.999, 0, 0.999999),
    LEAP__K_NUM("eps", leap_optimizer_config, eps, 1e-8, 1e-30, 1),
    LEAP__K_NUM("momentum", leap_optimizer_config, momentum, 0.9, 0, 0.999999),
    LEAP__K_BOOL("nesterov", leap_optimizer_config, nesterov, 0),
    LEAP__K_NUM("weight_decay", leap_optimizer_config, weight_decay, 0.01, 0, 10),
    LEAP__K_NUM("clip_norm", leap_optimizer_config, clip_norm, 1.0, 0, 1e9),
};
static const leap__cfg_table g_optimizer_table = {g_optimizer_keys, 8, NULL, NULL};

/* schedule.warmup: defaults to a tenth of train.steps, at most 100. */
static leap_status read_warmup(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_schedule *s = target;
  int64_t v = c->cfg->train.steps / 10 < 100 ? c->cfg->train.steps / 10 : 100;
  if (leap__cfg_is_absent(at)) leap__json_int(&c->json, v);
  else if (leap__cfg_read_int(c, at, &v, 0, CFG_MAX_STEPS)) return c->err->status;
  s->warmup_steps = v;
  return LEAP_OK;
}

static const leap__cfg_key g_schedule_keys[] = {
    LEAP__K_CHOICE("kind", leap_schedule, kind, 1, g_schedule_names, NULL),
    LEAP__K_FN("warmup", 0, read_warmup),
    LEAP__K_NUM("min_lr", leap_schedule, min_lr, 0, 0, 10),
};
static const leap__cfg_table g_schedule_table = {g_schedule_keys, 3, NULL, NULL};

static leap_status check_train(leap__cfg *c, const leap__cfg_at *at, void *base) {
  leap_train_config *t = base;
  leap__cfg_at key, sched;
  if (t->batch % t->micro_batches) {
    leap__cfg_child(c, at, "micro_batches", &key);
    return leap__cfg_error(c, &key, "%lld micro-batches do not divide the batch of %lld", (long long)t->micro_batches,
                           (long long)t->batch);
  }
  leap__cfg_child(c, at, "schedule", &sched);
  leap__cfg_child(c, &sched, "warmup", &key);
  if (t->schedule.warmup_steps > t->steps)
    return leap__cfg_error(c, &key, "a warmup of %lld steps is longer than the %lld training steps",
                           (long long)t->schedule.warmup_steps, (long long)t->steps);
  leap__cfg_child(c, &sched, "min_lr", &key);
  if (t->schedule.min_lr > t->schedule.base_lr)
    return leap__cfg_error(c, &key, "min_lr %g is above the learning rate train.lr %g", t->schedule.min_lr,
                           t->schedule.base_lr);
  t->schedule.total_steps = t->steps;
  return LEAP_OK;
}

/* The one rule for bf16 on the CPU, at load (FILE:LINE) and at use (the final device). */
static const char *precision_problem(leap_precision precision, leap_device device) {
  return precision == LEAP_PRECISION_BF16 && device != LEAP_CUDA
             ? "bf16 mixed precision needs device cuda; this run is on the cpu (use fp32 or auto)"
             : NULL;
}

static bool precision_is_bf16(leap_precision precision, leap_device device) {
  return precision == LEAP_PRECISION_BF16 || (precision == LEAP_PRECISION_AUTO && device == LEAP_CUDA);
}

/* precision: auto, fp32 or bf16, resolved against the device (read before the train section) and written
 * resolved (fp32 or bf16). */
static leap_status read_precision(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_train_config *t = target;
  int choice = LEAP_PRECISION_AUTO;
  if (!leap__cfg_is_absent(at)) {
    const char *s = fy_node_is_scalar(at->node) ? fy_node_get_scalar0(at->node) : NULL;
    int found = -1;
    for (int i = 0; s && g_precision_names[i]; i++)
      if (!strcmp(s, g_precision_names[i])) found = i;
    /* Anything else: read_choice reports it the usual way ("expected auto, fp32 or bf16"). */
    if (found < 0) return leap__cfg_read_choice(c, at, g_precision_names, &choice);
    choice = found;
  }
  t->precision = (leap_precision)choice;
  const char *problem = precision_problem(t->precision, c->cfg->device);
  if (problem) return leap__cfg_error(c, at, "%s", problem);
  leap__json_string(&c->json, precision_is_bf16(t->precision, c->cfg->device) ? "bf16" : "fp32");
  return LEAP_OK;
}

static const leap__cfg_key g_train_keys[] = {
    LEAP__K_INT("steps", leap_train_config, steps, 2000, 1, CFG_MAX_STEPS),
    LEAP__K_INT("batch", leap_train_config, batch, 64, 1, CFG_MAX_BATCH),
    LEAP__K_INT("micro_batches", leap_train_config, micro_batches, 1, 1, CFG_MAX_BATCH),
    LEAP__K_NUM("lr", leap_train_config, schedule.base_lr, 1e-3, 1e-12, 10),
    LEAP__K_MAP("optimizer", leap_train_config, optimizer, false, &g_optimizer_table),
    LEAP__K_MAP("schedule", leap_train_config, schedule, false, &g_schedule_table),
    LEAP__K_INT("eval_every", leap_train_config, eval_every, 250, 0, CFG_MAX_STEPS),
    LEAP__K_INT("eval_samples", leap_train_config, eval_samples, 1000, 0, 1e12),
    LEAP__K_INT("early_stop_patience", leap_train_config, early_stop_patience, 0, 0, 1e9),
    LEAP__K_INT("log_every", leap_train_config, log_every, 50, 1, CFG_MAX_STEPS),
    LEAP__K_INT("seed", leap_train_config, seed, 1, 0, 9.0e15),
    LEAP__K_INT("threads", leap_train_config, threads, 0, 0, 4096),
    LEAP__K_FN("precision", 0, read_precision),
};
static const leap__cfg_table g_train_table = {g_train_keys, 13, NULL, check_train};

static leap_status read_fractions(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_compare_config *cmp = target;
  if (leap__cfg_is_absent(at)) {
    cmp->n_fractions = 1;
    cmp->fractions[0] = 1.0;
    leap__json_raw(&c->json, "[1]");
    return LEAP_OK;
  }
  return leap__cfg_read_numbers(c, at, cmp->fractions, &cmp->n_fractions, 1, LEAP_CFG_MAX_FRACTIONS, sizeof(double),
                                1e-6, 1.0);
}

/* finetune_steps: defaults to a quarter of train.steps (at least 1). */
static leap_status read_finetune_steps(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_compare_config *cmp = target;
  int64_t v = c->cfg->train.steps / 4 > 0 ? c->cfg->train.steps / 4 : 1;
  if (leap__cfg_is_absent(at)) leap__json_int(&c->json, v);
  else if (leap__cfg_read_int(c, at, &v, 0, CFG_MAX_STEPS)) return c->err->status;
  cmp->finetune_steps = v;
  return LEAP_OK;
}

/* finetune_lr: defaults to train.lr. */
static leap_status read_finetune_lr(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_compare_config *cmp = target;
  double v = c->cfg->train.schedule.base_lr;
  if (leap__cfg_is_absent(at)) leap__json_number(&c->json, v, sizeof(float));
  else if (leap__cfg_read_number(c, at, &v, sizeof(float), 1e-12, 10)) return c->err->status;
  cmp->finetune_lr = (float)v;
  return LEAP_OK;
}

static const leap__cfg_key g_compare_keys[] = {
    LEAP__K_FN("fractions", 0, read_fractions),
    LEAP__K_FN("finetune_steps", 0, read_finetune_steps),
    LEAP__K_FN("finetune_lr", 0, read_finetune_lr),
    LEAP__K_INT("latency_batch", leap_compare_config, latency_batch, 64, 1, CFG_MAX_BATCH),
    LEAP__K_INT("examples", leap_compare_config, n_examples, 6, 0, 1000),
};
static const leap__cfg_table g_compare_table = {g_compare_keys, 5, NULL, NULL};

/* output.dir: defaults to runs/<task>. */
static leap_status read_out_dir(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_run_config *cfg = target;
  if (!leap__cfg_is_absent(at)) return leap__cfg_read_string(c, at, cfg->out_dir, sizeof cfg->out_dir);
  snprintf(cfg->out_dir, sizeof cfg->out_dir, "runs/%s", cfg->task);
  leap__json_string(&c->json, cfg->out_dir);
  return LEAP_OK;
}

static const leap__cfg_key g_output_keys[] = {LEAP__K_FN("dir", 0, read_out_dir)};
static const leap__cfg_table g_output_table = {g_output_keys, 1, NULL, NULL};

/* device: auto is CUDA when this build and machine have a device, else the CPU; written resolved. */
static leap_status read_device(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_run_config *cfg = target;
  int choice = 0;
  if (!leap__cfg_is_absent(at)) {
    const char *s = fy_node_is_scalar(at->node) ? fy_node_get_scalar0(at->node) : NULL;
    for (int i = 0; s && g_device_names[i]; i++)
      if (!strcmp(s, g_device_names[i])) choice = i;
    if (!s || (choice == 0 && strcmp(s, "auto"))) return leap__cfg_read_choice(c, at, g_device_names, &choice);
  }
  if (choice == 0) cfg->device = leap_device_available(LEAP_CUDA) ? LEAP_CUDA : LEAP_CPU;
  else cfg->device = choice == 2 ? LEAP_CUDA : LEAP_CPU;
  leap__json_string(&c->json, leap_device_name(cfg->device));
  return LEAP_OK;
}

static leap_status read_task(leap__cfg *c, const leap__cfg_at *at, void *target) {
  leap_run_config *cfg = target;
  if (leap__cfg_is_absent(at)) return missing(c, at);
  if (leap__cfg_read_string(c, at, cfg->task, sizeof cfg->task)) return c->err->status;
  return check_name(c, at, cfg->task);
}

static const leap__cfg_key g_top_keys[] = {
    LEAP__K_FN("task", 0, read_task),
    LEAP__K_FN("device", 0, read_device),
    LEAP__K_MAP("data", leap_run_config, data, true, &g_data_table),
    LEAP__K_FN("stages", 0, read_stages),
    LEAP__K_MAP_HERE("e2e", false, &g_e2e_table),
    LEAP__K_MAP("train", leap_run_config, train, false, &g_train_table),
    LEAP__K_MAP("compare", leap_run_config, compare, false, &g_compare_table),
    LEAP__K_MAP_HERE("output", false, &g_output_table),
};
static const leap__cfg_table g_top_table = {g_top_keys, 8, NULL, NULL};

/* ---- loading ------------------------------------------------------------------------------------------------- */

static struct fy_document *parse_file(const char *path, leap_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    leap_error_set(err, LEAP_ERR_IO, "%s: cannot read the config: %s", path, strerror(errno));
    return NULL;
  }
  fclose(f);
  struct fy_diag_cfg dcfg;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL;
  dcfg.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dcfg);
  if (!diag) {
    leap_error_set(err, LEAP_ERR_MEMORY, "%s: cannot create a YAML parser", path);
    return NULL;
  }
  fy_diag_set_collect_errors(diag, true);
  struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT, .diag = diag};
  struct fy_document *doc = fy_document_build_from_file(&pcfg, path);
  if (!doc || fy_diag_got_error(diag)) {
    void *iter = NULL;
    struct fy_diag_error *e = fy_diag_errors_iterate(diag, &iter);
    if (e) leap_error_set(err, LEAP_ERR_CONFIG, "%s:%d:%d: invalid YAML: %s", path, e->line, e->column, e->msg);
    else leap_error_set(err, LEAP_ERR_CONFIG, "%s:1: the config is empty (it needs task, data and stages)", path);
    if (doc) fy_document_destroy(doc);
    doc = NULL;
  }
  fy_diag_destroy(diag);
  return doc;
}

leap_status leap_run_config_load(leap_run_config *cfg, const char *path, const char *const *overrides, int n_overrides,
                                 leap_error *err) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->source, sizeof cfg->source, "%s", path);
  if (n_overrides > LEAP__CFG_MAX_OVERRIDES)
    return leap_error_set(err, LEAP_ERR_CONFIG, "at most %d --set overrides", LEAP__CFG_MAX_OVERRIDES);
  leap__cfg c = {.file = path, .cfg = cfg, .err = err};
  if (!(c.doc = parse_file(path, err))) return err->status;
  leap__cfg_at root;
  leap__cfg_root(&c, &root);
  if (!root.node || !fy_node_is_mapping(root.node)) {
    leap__cfg_error(&c, &root, "a config is a mapping of keys (task, data, stages, ...)");
  } else {
    for (int i = 0; i < n_overrides && !err->status; i++) leap__cfg_apply_override(&c, overrides[i]);
    if (!err->status) leap__cfg_read_map(&c, &root, &g_top_table, cfg);
  }
  fy_document_destroy(c.doc);
  if (!err->status && c.json.failed) leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", path);
  if (err->status) {
    free(c.json.buf);
    return err->status;
  }
  cfg->resolved_json = c.json.buf;
  return LEAP_OK;
}

void leap_run_config_free(leap_run_config *cfg) {
  free(cfg->resolved_json);
  cfg->resolved_json = NULL;
}

const leap_field_config *leap_run_config_field(const leap_run_config *cfg, const char *name) {
  for (int i = 0; i < cfg->data.n_fields; i++)
    if (!strcmp(cfg->data.fields[i].name, name)) return &cfg->data.fields[i];
  return NULL;
}

const leap_stage_config *leap_run_config_stage(const leap_run_config *cfg, const char *name) {
  for (int i = 0; i < cfg->n_stages; i++)
    if (!strcmp(cfg->stages[i].name, name)) return &cfg->stages[i];
  return NULL;
}

leap_status leap_run_config_act(const leap_run_config *cfg, leap_device device, leap_dtype *act, leap_error *err) {
  const char *problem = precision_problem(cfg->train.precision, device);
  if (problem) return leap_error_set(err, LEAP_ERR_CONFIG, "%s: key 'train.precision': %s", cfg->source, problem);
  *act = precision_is_bf16(cfg->train.precision, device) ? LEAP_BF16 : LEAP_F32;
  return LEAP_OK;
}
