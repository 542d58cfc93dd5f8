/* Weights during training (train/loop/weights.c): a save/load round trip of parameters and buffers, prep.json read
 * back with libfyaml (normalisation, the chain, escaped names), and the errors: a missing file, a missing tensor, a
 * mis-shaped tensor (each naming the file and the tensor, and leaving the model untouched), a directory that cannot
 * be made; the data file's vocabularies (root string attributes vocab and *_vocab) copied into prep.json. */
#define _GNU_SOURCE
#include <dirent.h>
#include <hdf5.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/common/leap_test.h"
#include "train/loop/trainer.h"

static char g_dir[64];

typedef struct param_case {
  const char *name;
  int ndim;
  int64_t shape[4];
  leap_param_kind kind;
} param_case;

static const param_case g_params[] = {
    {"fit.fc.0.weight", 2, {7, 5}, LEAP_PARAM_TRAINABLE},
    {"fit.fc.0.bias", 1, {7}, LEAP_PARAM_TRAINABLE},
    {"fit.conv.0.weight", 4, {3, 3, 2, 5}, LEAP_PARAM_FROZEN},
    {"fit.bn.0.running_mean", 1, {5}, LEAP_PARAM_BUFFER},
};
#define N_PARAMS ((int)(sizeof g_params / sizeof g_params[0]))

/* Adds g_params[0..n) to ps, filled from seed (0: left zero). */
static void make_params(leap_params *ps, int n, uint64_t seed) {
  leap_error err = {0};
  leap_params_init(ps, LEAP_CPU);
  for (int i = 0; i < n; i++) {
    leap_tensor *t = leap_params_add(ps, g_params[i].name, g_params[i].ndim, g_params[i].shape, g_params[i].kind,
                                     true, &err);
    LEAP_TEST_ASSERT(t != NULL, "add %s: %s", g_params[i].name, err.message);
    if (t && seed) leap_test_fill_normal(leap_f32(t), leap_tensor_numel(t), 1.0f, seed + (uint64_t)i);
  }
}

static bool params_equal(const leap_params *a, const leap_params *b) {
  if (a->count != b->count) return false;
  for (int i = 0; i < a->count; i++)
    if (memcmp(a->items[i].tensor->data, b->items[i].tensor->data, leap_tensor_bytes(a->items[i].tensor))) return false;
  return true;
}

static void make_config(leap_run_config *cfg, const char *task) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->task, sizeof cfg->task, "%s", task);
  snprintf(cfg->source, sizeof cfg->source, "/tmp/some \"quoted\" config.yaml");
  snprintf(cfg->data.file, sizeof cfg->data.file, "data/x.h5");
  cfg->data.n_fields = 2;
  leap_field_config *img = &cfg->data.fields[0];
  snprintf(img->name, sizeof img->name, "image");
  img->dtype = LEAP_F32, img->normalize = true, img->n_channels = 3, img->nchw = true;
  float mean[3] = {0.5f, 0.25f, 0.125f}, std[3] = {0.2f, 0.3f, 0.4f};
  memcpy(img->mean, mean, sizeof mean), memcpy(img->std, std, sizeof std);
  snprintf(cfg->data.fields[1].name, sizeof cfg->data.fields[1].name, "label");
  cfg->data.fields[1].dtype = LEAP_I32;
}

static bool file_exists(const char *dir, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

/* How many entries of dir have ".tmp." in their name (left-over temporary files). */
static int count_temporaries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
  if (d) closedir(d);
  return n;
}

static const char *doc_string(struct fy_document *doc, const char *path, char *buf, size_t size) {
  struct fy_node *n = fy_node_by_path(fy_document_root(doc), path, FY_NT, FYNWF_DONT_FOLLOW);
  size_t len = 0;
  const char *s = n && fy_node_is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;
  snprintf(buf, size, "%.*s", s ? (int)len : 6, s ? s : "(none)");
  return buf;
}

static void test_round_trip(void) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/run/checkpoints/best", g_dir);
  leap_params ps, back;
  make_params(&ps, N_PARAMS, 11);
  make_params(&back, N_PARAMS, 0);
  leap_run_config cfg;
  make_config(&cfg, "weird \"task\" \\ name\n");
  leap_chain chain;
  memset(&chain, 0, sizeof chain);
  snprintf(chain.name, sizeof chain.name, "pipeline.fit");
  chain.n_inputs = 2;
  snprintf(chain.inputs[0], sizeof chain.inputs[0], "image");
  snprintf(chain.inputs[1], sizeof chain.inputs[1], "question");
  snprintf(chain.target, sizeof chain.target, "label");
  chain.loss = LEAP_LOSS_CROSS_ENTROPY;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_save_weights(dir, &ps, &cfg, &chain, &err) == LEAP_OK, "save: %s", err.message);
  LEAP_TEST_ASSERT(file_exists(dir, "model.safetensors") && file_exists(dir, "prep.json"), "files in %s", dir);
  LEAP_TEST_ASSERT(count_temporaries(dir) == 0, "temporary files left in %s", dir);
  LEAP_TEST_ASSERT(!params_equal(&ps, &back), "the fresh parameters differ before loading");
  LEAP_TEST_ASSERT(leap_load_weights(dir, &back, &err) == LEAP_OK, "load: %s", err.message);
  LEAP_TEST_ASSERT(params_equal(&ps, &back), "every parameter and buffer reloads bit for bit");
  /* Saving again over the same directory replaces the files. */
  leap_test_fill_normal(leap_f32(ps.items[0].tensor), 35, 1.0f, 99);
  LEAP_TEST_ASSERT(leap_save_weights(dir, &ps, &cfg, &chain, &err) == LEAP_OK, "resave: %s", err.message);
  LEAP_TEST_ASSERT(leap_load_weights(dir, &back, &err) == LEAP_OK && params_equal(&ps, &back), "reload after resave");

  char path[256], buf[128];
  snprintf(path, sizeof path, "%s/prep.json", dir);
  struct fy_document *doc = fy_document_build_from_file(NULL, path);
  LEAP_TEST_ASSERT(doc != NULL, "prep.json parses");
  if (doc) {
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/task", buf, sizeof buf), cfg.task), "task round trip: '%s'", buf);
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/config", buf, sizeof buf), cfg.source), "config: '%s'", buf);
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/chain/inputs/0", buf, sizeof buf), "image"), "input 0: '%s'", buf);
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/chain/inputs/1", buf, sizeof buf), "question"), "input 1: '%s'", buf);
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/chain/loss", buf, sizeof buf), "cross_entropy"), "loss: '%s'", buf);
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/fields/image/mean/1", buf, sizeof buf), "0.25"), "mean[1]: '%s'", buf);
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/fields/image/std/2", buf, sizeof buf), "0.400000006"), "std[2]: '%s'",
                     buf);
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/fields/image/stored_layout", buf, sizeof buf), "nchw"), "layout");
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/fields/label/dtype", buf, sizeof buf), "i32"), "dtype: '%s'", buf);
    fy_document_destroy(doc);
  }
  leap_params_free(&ps);
  leap_params_free(&back);
}

/* A load that fails must name the file and tensor and leave every parameter as it was. */
static void expect_load_error(const char *dir, leap_params *ps, leap_status status, const char *const *needles) {
  leap_params before;
  make_params(&before, 0, 0);
  leap_error err = {0};
  float first = leap_f32(ps->items[0].tensor)[0];
  LEAP_TEST_ASSERT(leap_load_weights(dir, ps, &err) == status, "status %s: %s", leap_status_name(err.status),
                   err.message);
  for (int i = 0; needles[i]; i++)
    LEAP_TEST_ASSERT(strstr(err.message, needles[i]) != NULL, "'%s' names '%s'", err.message, needles[i]);
  LEAP_TEST_ASSERT(leap_f32(ps->items[0].tensor)[0] == first, "the model is untouched after a failed load");
  leap_params_free(&before);
}

static void test_errors(void) {
  char dir[128], missing_dir[128];
  snprintf(dir, sizeof dir, "%s/errors", g_dir);
  snprintf(missing_dir, sizeof missing_dir, "%s/nothing_here", g_dir);
  leap_params ps;
  make_params(&ps, 2, 5);
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_save_weights(dir, &ps, NULL, NULL, &err) == LEAP_OK, "save without cfg: %s", err.message);
  LEAP_TEST_ASSERT(file_exists(dir, "prep.json"), "prep.json is written without a config too");

  /* A file holding more tensors than the model needs loads (a stage from a composed chain's weights). */
  leap_params one;
  make_params(&one, 1, 0);
  LEAP_TEST_ASSERT(leap_load_weights(dir, &one, &err) == LEAP_OK, "subset loads: %s", err.message);
  LEAP_TEST_ASSERT(!memcmp(one.items[0].tensor->data, ps.items[0].tensor->data, 35 * sizeof(float)), "subset values");
  leap_params_free(&one);

  leap_params more;
  make_params(&more, 3, 7);
  const char *missing[] = {"model.safetensors", "fit.conv.0.weight", NULL};
  expect_load_error(dir, &more, LEAP_ERR_VALUE, missing);
  leap_params_free(&more);

  leap_params wrong;
  leap_params_init(&wrong, LEAP_CPU);
  int64_t shape_a[2] = {5, 7}, shape_b[1] = {7};
  leap_tensor *a = leap_params_add(&wrong, "fit.fc.0.weight", 2, shape_a, LEAP_PARAM_TRAINABLE, true, &err);
  leap_params_add(&wrong, "fit.fc.0.bias", 1, shape_b, LEAP_PARAM_TRAINABLE, false, &err);
  leap_test_fill_normal(leap_f32(a), 35, 1.0f, 3);
  const char *misshaped[] = {"model.safetensors", "fit.fc.0.weight", "(7,5)", "(5,7)", NULL};
  expect_load_error(dir, &wrong, LEAP_ERR_SHAPE, misshaped);
  leap_params_free(&wrong);

  const char *no_file[] = {"nothing_here/model.safetensors", NULL};
  expect_load_error(missing_dir, &ps, LEAP_ERR_IO, no_file);

  char blocked[160];
  snprintf(blocked, sizeof blocked, "%s/errors/model.safetensors/sub", g_dir);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_save_weights(blocked, &ps, NULL, NULL, &err) == LEAP_ERR_IO, "a file in the way: %s",
                   err.message);
  LEAP_TEST_ASSERT(strstr(err.message, "model.safetensors") != NULL, "names the path: %s", err.message);
  leap_params_free(&ps);
}

/* A scalar string attribute: variable-length UTF-8 (as h5py and leap data write them) or fixed-length ASCII. */
static void put_string(hid_t file, const char *name, const char *value, bool variable) {
  hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR);
  H5Tset_size(type, variable ? H5T_VARIABLE : strlen(value));
  if (variable) H5Tset_cset(type, H5T_CSET_UTF8);
  hid_t a = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, type, variable ? (const void *)&value : (const void *)value);
  H5Aclose(a), H5Sclose(space), H5Tclose(type);
}

static void test_vocabularies(void) {
  leap_run_config cfg;
  make_config(&cfg, "vocab");
  snprintf(cfg.data.file, sizeof cfg.data.file, "%s/vocab.h5", g_dir);
  hid_t file = H5Fcreate(cfg.data.file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  put_string(file, "vocab", "<pad>\n<bos>\nred \"quoted\"", true);
  put_string(file, "unit_vocab", "a\nb", false);
  put_string(file, "description", "not a vocabulary", true);
  H5Fclose(file);
  char dir[128], path[160], buf[64];
  snprintf(dir, sizeof dir, "%s/vocab_ckpt", g_dir);
  leap_params ps;
  make_params(&ps, 1, 3);
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_save_weights(dir, &ps, &cfg, NULL, &err) == LEAP_OK, "save: %s", err.message);
  snprintf(path, sizeof path, "%s/prep.json", dir);
  struct fy_document *doc = fy_document_build_from_file(NULL, path);
  if (LEAP_TEST_ASSERT(doc != NULL, "prep.json parses")) {
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/vocabularies/vocab/2", buf, sizeof buf), "red \"quoted\""),
                     "vocab[2]: '%s'", buf);
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/vocabularies/unit_vocab/1", buf, sizeof buf), "b"),
                     "unit_vocab[1]: '%s'", buf);
    LEAP_TEST_ASSERT(!strcmp(doc_string(doc, "/vocabularies/description", buf, sizeof buf), "(none)"),
                     "other attributes are not vocabularies");
    fy_document_destroy(doc);
  }
  leap_params_free(&ps);
}

static void remove_tree(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/leap_test_weights_XXXXXX");
  if (!mkdtemp(g_dir)) return fprintf(stderr, "mkdtemp failed\n"), 1;
  test_round_trip();
  test_errors();
  test_vocabularies();
  remove_tree(g_dir);
  return leap_test_finish();
}
