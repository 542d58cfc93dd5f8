/* Chains from a run configuration: the stages alone, composed, or the explicit end-to-end network; and the field
 * facts (shapes, widths, delivered dtypes) that building them needs, read from the HDF5 file's metadata. */
#include "train/loop/build.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/loop/loop_internal.h"

/* Copies a name into a LEAP_CFG_NAME field, cutting it short if it does not fit. */
static void copy_name(char *dst, const char *src) {
  size_t n = strnlen(src, LEAP_CFG_NAME - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static bool is_cross_entropy_target(const leap_run_config *cfg, const char *field) {
  for (int i = 0; i < cfg->n_stages; i++)
    if (cfg->stages[i].loss == LEAP_LOSS_CROSS_ENTROPY && !strcmp(cfg->stages[i].output, field)) return true;
  return false;
}

leap_field_spec leap_field_spec_for(const leap_run_config *cfg, const char *field) {
  leap_field_spec s;
  memset(&s, 0, sizeof s);
  s.dataset = field;
  s.kind = LEAP_FIELD_SAMPLES;
  s.dtype = LEAP_F32;
  for (int c = 0; c < LEAP_LOADER_MAX_CHANNELS; c++) s.std[c] = 1.0f;
  const leap_field_config *fc = leap_run_config_field(cfg, field);
  if (fc) {
    s.dtype = fc->dtype;
    s.normalize = fc->normalize;
    s.nchw = fc->nchw;
    /* The config fills all four entries (one value given applies to every channel). */
    for (int c = 0; c < LEAP_LOADER_MAX_CHANNELS; c++) s.mean[c] = fc->mean[c], s.std[c] = fc->std[c];
  }
  if (is_cross_entropy_target(cfg, field)) s.dtype = LEAP_I32;
  return s;
}

/* HDF5 prints its own error stack on every failed call; leap reports errors itself, so printing is switched off
 * for the duration of each query and restored after. */
typedef struct quiet_h5 {
  H5E_auto2_t func;
  void *data;
} quiet_h5;

static quiet_h5 h5_quiet(void) {
  quiet_h5 q;
  H5Eget_auto2(H5E_DEFAULT, &q.func, &q.data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return q;
}

static void h5_restore(quiet_h5 q) { H5Eset_auto2(H5E_DEFAULT, q.func, q.data); }

static const char *group_path(const char *group) { return group && *group ? group : "/"; }

/* Opens group/field of cfg's file: returns the dataset and the file through *file, or a negative id with err set. */
static hid_t open_field(const leap_run_config *cfg, const char *group, const char *field, hid_t *file,
                        leap_error *err) {
  *file = H5Fopen(cfg->data.file, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (*file < 0) {
    leap_error_set(err, LEAP_ERR_IO, "%s: cannot open the HDF5 file", cfg->data.file);
    return -1;
  }
  char path[2 * LEAP_CFG_NAME + 4];
  snprintf(path, sizeof path, "%s/%s", group_path(group), field);
  hid_t ds = H5Dopen2(*file, path, H5P_DEFAULT);
  if (ds < 0) {
    leap_error_set(err, LEAP_ERR_CONFIG, "%s: no dataset '%s' (field '%s' of group '%s')", cfg->data.file, path,
                   field, group_path(group));
    H5Fclose(*file);
    *file = -1;
  }
  return ds;
}

leap_status leap_field_sample_shape(const leap_run_config *cfg, const char *group, const char *field, int *ndim,
                                    int64_t *shape, leap_error *err) {
  quiet_h5 q = h5_quiet();
  hid_t file, ds = open_field(cfg, group, field, &file, err);
  if (ds < 0) return h5_restore(q), err->status;
  hid_t space = H5Dget_space(ds);
  hsize_t dims[H5S_MAX_RANK];
  int rank = space < 0 ? -1 : H5Sget_simple_extent_dims(space, dims, NULL);
  if (space >= 0) H5Sclose(space);
  H5Dclose(ds);
  H5Fclose(file);
  h5_restore(q);
  if (rank < 1 || rank > LEAP_MAX_DIMS)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: dataset '%s/%s' has rank %d (1 to %d supported)",
                          cfg->data.file, group_path(group), field, rank, LEAP_MAX_DIMS);
  const leap_field_config *fc = leap_run_config_field(cfg, field);
  bool nchw = fc && fc->nchw && rank == 4;
  *ndim = rank - 1;
  for (int d = 1; d < rank; d++) shape[d - 1] = (int64_t)dims[d];
  if (nchw) shape[0] = (int64_t)dims[2], shape[1] = (int64_t)dims[3], shape[2] = (int64_t)dims[1];
  return LEAP_OK;
}

/* An integer attribute called name on obj, or 0 when there is none. */
static int64_t int_attribute(hid_t obj, const char *name) {
  if (obj < 0 || H5Aexists(obj, name) <= 0) return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  long long v = 0;
  if (a >= 0 && H5Aread(a, H5T_NATIVE_LLONG, &v) < 0) v = 0;
  if (a >= 0) H5Aclose(a);
  return (int64_t)v;
}

static int64_t class_count_attribute(const leap_run_config *cfg, const char *field) {
  static const char *const names[] = {"vocab_size", "num_classes", "n_classes"};
  quiet_h5 q = h5_quiet();
  leap_error ignored = {0};
  hid_t file, ds = open_field(cfg, cfg->data.train_group, field, &file, &ignored);
  int64_t n = 0;
  if (ds >= 0) {
    hid_t group = H5Gopen2(file, group_path(cfg->data.train_group), H5P_DEFAULT);
    hid_t objs[3] = {ds, group, file};
    for (int o = 0; o < 3 && n <= 0; o++)
      for (size_t k = 0; k < sizeof names / sizeof names[0] && n <= 0; k++) n = int_attribute(objs[o], names[k]);
    if (group >= 0) H5Gclose(group);
    H5Dclose(ds);
    H5Fclose(file);
  }
  h5_restore(q);
  return n;
}

leap_status leap_field_out_dim(const leap_run_config *cfg, const char *field, leap_loss_kind loss, int64_t *out_dim,
                               leap_error *err) {
  if (loss == LEAP_LOSS_MSE) {
    int ndim;
    int64_t shape[LEAP_MAX_DIMS];
    if (leap_field_sample_shape(cfg, cfg->data.train_group, field, &ndim, shape, err)) return err->status;
    *out_dim = leap_shape_numel(ndim, shape);
    return LEAP_OK;
  }
  const leap_field_config *fc = leap_run_config_field(cfg, field);
  if (fc && fc->vocab > 0) return *out_dim = fc->vocab, LEAP_OK;
  if ((*out_dim = class_count_attribute(cfg, field)) > 0) return LEAP_OK;
  leap_host_array labels;
  if (leap_read_field(cfg, cfg->data.train_group, field, &labels, err)) return err->status;
  int64_t n = leap_shape_numel(labels.ndim, labels.shape), top = -1;
  for (int64_t i = 0; i < n; i++)
    if (((int32_t *)labels.data)[i] > top) top = ((int32_t *)labels.data)[i];
  leap_host_array_free(&labels);
  if (top < 0)
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: field '%s' has no class labels >= 0", cfg->data.file, field);
  *out_dim = top + 1;
  return LEAP_OK;
}

/* The text of a scalar string attribute (variable or fixed length), malloc'd; NULL when it is not one. */
static char *string_attribute(hid_t attr) {
  hid_t type = H5Aget_type(attr), space = H5Aget_space(attr), mem = -1;
  char *text = NULL;
  if (type >= 0 && space >= 0 && H5Tget_class(type) == H5T_STRING && H5Sget_simple_extent_npoints(space) == 1) {
    /* HDF5 converts strings only between types of the same character set (leap data writes UTF-8). */
    mem = H5Tcopy(H5T_C_S1);
    if (mem >= 0 && H5Tset_cset(mem, H5Tget_cset(type)) < 0) H5Tclose(mem), mem = -1;
    if (H5Tis_variable_str(type) > 0) {
      char *vlen = NULL;
      if (mem >= 0 && H5Tset_size(mem, H5T_VARIABLE) >= 0 && H5Aread(attr, mem, &vlen) >= 0 && vlen) {
        text = strdup(vlen);
        H5free_memory(vlen);
      }
    } else {
      size_t size = H5Tget_size(type);
      text = calloc(size + 1, 1);
      if (text && (mem < 0 || H5Tset_size(mem, size) < 0 || H5Aread(attr, mem, text) < 0)) free(text), text = NULL;
    }
  }
  if (mem >= 0) H5Tclose(mem);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  return text;
}

typedef struct vocab_writer {
  FILE *out;
  int count;
} vocab_writer;

/* Emits a root attribute named vocab or *_vocab (one token per line) as a JSON array of strings. */
static herr_t vocab_attribute(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  vocab_writer *w = data;
  size_t len = strlen(name);
  if (strcmp(name, "vocab") && (len < 6 || strcmp(name + len - 6, "_vocab"))) return 0;
  hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
  char *text = attr >= 0 ? string_attribute(attr) : NULL;
  if (attr >= 0) H5Aclose(attr);
  if (!text) return 0;
  fputs(w->count++ ? ",\n    " : ",\n  \"vocabularies\": {\n    ", w->out);
  leap__loop_json_string(w->out, name);
  fputs(": [", w->out);
  for (char *line = text, *next; line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    if (line != text) fputs(", ", w->out);
    leap__loop_json_string(w->out, line);
  }
  fputc(']', w->out);
  free(text);
  return 0;
}

void leap__write_vocabularies(FILE *out, const char *path) {
  quiet_h5 q = h5_quiet();
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  vocab_writer w = {out, 0};
  if (file >= 0) {
    H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, vocab_attribute, &w);
    H5Fclose(file);
  }
  if (w.count) fputc('}', out);
  h5_restore(q);
}

static void model_start(leap_chain_model *m, const char *name, leap_device device) {
  memset(m, 0, sizeof *m);
  leap_params_init(&m->params, device);
  m->chain.params = &m->params;
  copy_name(m->chain.name, name);
}

/* What a net input reading `field` gets from the data: the delivered dtype and the per-sample shape. */
static leap_status field_input(const leap_run_config *cfg, const char *field, leap_net_input *in, leap_error *err) {
  memset(in, 0, sizeof *in);
  in->dtype = leap_field_spec_for(cfg, field).dtype;
  return leap_field_sample_shape(cfg, cfg->data.train_group, field, &in->ndim, in->shape, err);
}

/* The names of the inputs a stage's (or the e2e) network reads, in its input order: its named inputs, else the one
 * input given. */
static int net_input_names(const leap_net_spec *spec, const char *only, const char *names[LEAP_NET_MAX_INPUTS]) {
  if (spec->arch != LEAP_NET_SEQUENTIAL || spec->n_branches == 0) {
    names[0] = only;
    return 1;
  }
  for (int i = 0; i < spec->n_branches; i++) names[i] = spec->branches[i].input;
  return spec->n_branches;
}

/* The chain input reading field (added when new): its index, or -1 with err set when there are too many. */
static int chain_input(leap_chain *chain, const char *field, leap_error *err) {
  int i = leap_chain_input_index(chain, field);
  if (i >= 0) return i;
  if (chain->n_inputs == LEAP_CHAIN_MAX_INPUTS) {
    leap_error_set(err, LEAP_ERR_CONFIG, "%s: more than %d data fields feed the chain", chain->name,
                   LEAP_CHAIN_MAX_INPUTS);
    return -1;
  }
  copy_name(chain->inputs[chain->n_inputs], field);
  return chain->n_inputs++;
}

/* Adds a net reading `names` (each a data field, or the output field of a net already in the chain: produced[j] is
 * net j's output field, "" for none) with its inputs wired into the chain. */
static leap_status add_net(leap_chain_model *m, const leap_run_config *cfg, const leap_net_spec *spec,
                           const char *const *names, int n_names, const char *const *produced, int64_t out_dim,
                           const char *prefix, uint64_t seed, leap_error *err) {
  int k = m->chain.n_nets;
  leap_net_input inputs[LEAP_NET_MAX_INPUTS];
  for (int i = 0; i < n_names; i++) {
    int from = -1;
    for (int j = 0; j < k; j++)
      if (produced && !strcmp(produced[j], names[i])) from = j;
    if (from >= 0) {
      const leap_net *src = &m->nets[from];
      inputs[i] = (leap_net_input){.dtype = LEAP_F32, .ndim = src->out_ndim};
      memcpy(inputs[i].shape, src->out_shape, sizeof inputs[i].shape);
      m->chain.sources[k][i] = LEAP_CHAIN_FROM_NET(from);
      continue;
    }
    int index = chain_input(&m->chain, names[i], err);
    if (index < 0 || field_input(cfg, names[i], &inputs[i], err)) return err->status;
    m->chain.sources[k][i] = index;
  }
  leap_net *net = &m->nets[k];
  if (leap_net_create_inputs(net, spec, n_names, inputs, out_dim, &m->params, prefix, seed, err)) return err->status;
  m->chain.nets[m->chain.n_nets++] = net;
  return LEAP_OK;
}

leap_status leap_chain_build_stage(leap_chain_model *m, const leap_run_config *cfg, int stage, leap_device device,
                                   leap_error *err) {
  const leap_stage_config *s = &cfg->stages[stage];
  char name[LEAP_CFG_NAME + 16], prefix[LEAP_CFG_NAME + 2];
  snprintf(name, sizeof name, "pipeline.%s", s->name);
  snprintf(prefix, sizeof prefix, "%s.", s->name);
  model_start(m, name, device);
  if (leap_run_config_act(cfg, device, &m->chain.act, err)) return leap_chain_model_free(m), err->status;
  copy_name(m->chain.target, s->output);
  m->chain.loss = s->loss;
  const char *names[LEAP_NET_MAX_INPUTS];
  int n = net_input_names(&s->network, s->inputs[0], names);
  int64_t out_dim;
  if (leap_field_out_dim(cfg, s->output, s->loss, &out_dim, err) ||
      add_net(m, cfg, &s->network, names, n, NULL, out_dim, prefix, cfg->train.seed + (uint64_t)stage, err)) {
    leap_chain_model_free(m);
    return err->status;
  }
  return LEAP_OK;
}

/* Stage k's net reads its inputs: the fields no earlier stage produces from the data, the others from the earlier
 * stage's net, whose output (the last stage's aside) is `interface` features wide (0: the output field's width). */
static leap_status build_composed(leap_chain_model *m, const leap_run_config *cfg, int64_t interface,
                                  leap_error *err) {
  const char *produced[LEAP_CFG_MAX_STAGES];
  for (int k = 0; k < cfg->n_stages; k++) {
    const leap_stage_config *s = &cfg->stages[k];
    bool last = k == cfg->n_stages - 1;
    int64_t width = 0;
    if (!last && interface > 0) width = interface;
    else if (leap_field_out_dim(cfg, s->output, s->loss, &width, err)) return err->status;
    char prefix[LEAP_CFG_NAME + 2];
    snprintf(prefix, sizeof prefix, "%s.", s->name);
    const char *names[LEAP_NET_MAX_INPUTS];
    int n = net_input_names(&s->network, s->inputs[0], names);
    if (add_net(m, cfg, &s->network, names, n, produced, width, prefix, cfg->train.seed + (uint64_t)k, err))
      return err->status;
    produced[k] = s->output;
  }
  return LEAP_OK;
}

leap_status leap_chain_build_composed(leap_chain_model *m, const leap_run_config *cfg, int64_t interface,
                                      const char *name, leap_device device, leap_error *err) {
  model_start(m, name, device);
  if (leap_run_config_act(cfg, device, &m->chain.act, err)) return leap_chain_model_free(m), err->status;
  if (cfg->n_stages < 1) return leap_error_set(err, LEAP_ERR_CONFIG, "%s: no stages to compose", cfg->source);
  const leap_stage_config *last = &cfg->stages[cfg->n_stages - 1];
  copy_name(m->chain.target, last->output);
  m->chain.loss = last->loss;
  if (build_composed(m, cfg, interface, err)) {
    leap_chain_model_free(m);
    return err->status;
  }
  return LEAP_OK;
}

leap_status leap_chain_build_e2e(leap_chain_model *m, const leap_run_config *cfg, leap_device device,
                                 leap_error *err) {
  if (!cfg->e2e_has_network) return leap_chain_build_composed(m, cfg, cfg->e2e_interface, "e2e", device, err);
  model_start(m, "e2e", device);
  if (leap_run_config_act(cfg, device, &m->chain.act, err)) return leap_chain_model_free(m), err->status;
  if (cfg->n_stages < 1) return leap_error_set(err, LEAP_ERR_CONFIG, "%s: e2e needs the stages' input and output",
                                               cfg->source);
  const leap_stage_config *first = &cfg->stages[0], *last = &cfg->stages[cfg->n_stages - 1];
  copy_name(m->chain.target, last->output);
  m->chain.loss = last->loss;
  const char *names[LEAP_NET_MAX_INPUTS];
  int n = net_input_names(&cfg->e2e_network, first->inputs[0], names);
  int64_t out_dim;
  if (leap_field_out_dim(cfg, last->output, last->loss, &out_dim, err) ||
      add_net(m, cfg, &cfg->e2e_network, names, n, NULL, out_dim, "e2e.", cfg->train.seed, err)) {
    leap_chain_model_free(m);
    return err->status;
  }
  return LEAP_OK;
}

void leap_chain_model_free(leap_chain_model *m) {
  for (int i = 0; i < m->chain.n_nets; i++) leap_net_destroy(&m->nets[i]);
  m->chain.n_nets = 0;
  leap_params_free(&m->params);
}
