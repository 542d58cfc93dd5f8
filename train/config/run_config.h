/* A run's whole configuration, resolved from a YAML recipe (a file in configs/) and --set overrides: the task, the
 * data (file, groups, which datasets are inputs, targets and intermediates, and how each is prepared), the stages
 * (input, output, network, loss), the end-to-end network, training and comparison settings, and the output.
 *
 * Every key is documented in docs/configs.md. leap_run_config_load reports an unknown key, a wrong type or a
 * missing required key as LEAP_ERR_CONFIG with "FILE:LINE: key 'a.b.c': ..." before any work starts. */
#ifndef LEAP_TRAIN_CONFIG_RUN_CONFIG_H
#define LEAP_TRAIN_CONFIG_RUN_CONFIG_H

#include "models/net.h"
#include "train/core/optimizer.h"
#include "train/core/schedule.h"

#define LEAP_CFG_NAME 64
#define LEAP_CFG_PATH 512
#define LEAP_CFG_MAX_FIELDS 8
#define LEAP_CFG_MAX_STAGES 4
#define LEAP_CFG_MAX_STAGE_INPUTS 2
#define LEAP_CFG_MAX_FRACTIONS 8

_Static_assert(LEAP_CFG_NAME <= LEAP_NET_INPUT_NAME_MAX, "a network's input names are field names");
_Static_assert(LEAP_CFG_MAX_STAGE_INPUTS <= LEAP_NET_MAX_INPUTS, "a stage's network takes each of its inputs");

typedef enum leap_loss_kind { LEAP_LOSS_MSE = 0, LEAP_LOSS_CROSS_ENTROPY } leap_loss_kind;

/* One dataset of the file and how it is prepared (data.fields.<name>). */
typedef struct leap_field_config {
  char name[LEAP_CFG_NAME];  /* the dataset's name in each group, e.g. "image" */
  leap_dtype dtype;          /* delivered dtype: f32 (default for floats and normalised images) or i32 */
  bool normalize;            /* u8 -> f32 (x/255 - mean)/std per channel */
  int n_channels;
  float mean[4], std[4];
  bool nchw;                 /* stored (N,C,H,W) */
  int vocab;                 /* i32 fields: how many token (class) ids there are, the width of a net predicting
                              * them; 0 for f32 fields */
} leap_field_config;

typedef struct leap_data_config {
  char file[LEAP_CFG_PATH];                         /* resolved relative to the working directory */
  char train_group[LEAP_CFG_NAME], val_group[LEAP_CFG_NAME], test_group[LEAP_CFG_NAME];
  int n_fields;
  leap_field_config fields[LEAP_CFG_MAX_FIELDS];
  /* data.generate: made with `leap data make` when the file is absent (empty task: never generated) */
  char generate_task[LEAP_CFG_NAME];
  int64_t generate_n;
  uint64_t generate_seed;
  int loader_threads, prefetch;
} leap_data_config;

typedef struct leap_stage_config {
  char name[LEAP_CFG_NAME];
  int n_inputs;
  /* Field names (the previous stage's output in a chain). A network of two inputs names them (leap_net_spec's
   * branches), each with its own layers, which decides the order they are joined in. */
  char inputs[LEAP_CFG_MAX_STAGE_INPUTS][LEAP_CFG_NAME];
  char output[LEAP_CFG_NAME];                           /* the field it is trained to predict */
  leap_net_spec network;
  leap_loss_kind loss;
} leap_stage_config;

/* train.precision: the activation dtype of a run (shared/DESIGN.md, "Precision"). */
typedef enum leap_precision {
  LEAP_PRECISION_AUTO = 0, /* bf16 on CUDA, fp32 on the CPU */
  LEAP_PRECISION_FP32,     /* fp32 everywhere: the mode compared exactly with the CPU */
  LEAP_PRECISION_BF16,     /* mixed precision: bf16 activations and weight copies, fp32 masters and reductions */
} leap_precision;

typedef struct leap_train_config {
  int64_t steps;              /* optimizer steps per network trained */
  int64_t batch;              /* samples per optimizer step (across micro-batches) */
  int64_t micro_batches;      /* gradient accumulation: batch is split into this many */
  leap_optimizer_config optimizer;
  leap_schedule schedule;     /* base_lr is the learning rate; total_steps = steps */
  int64_t eval_every;         /* 0: only at the end */
  int64_t eval_samples;       /* val samples per evaluation; 0 for the whole group */
  int64_t early_stop_patience;/* evaluations without improvement before stopping; 0: never */
  int64_t log_every;
  uint64_t seed;
  int threads;
  leap_precision precision;   /* as written; leap_run_config_act resolves it for a device */
} leap_train_config;

typedef struct leap_compare_config {
  int n_fractions;
  double fractions[LEAP_CFG_MAX_FRACTIONS];  /* data efficiency; default {1.0} */
  int64_t finetune_steps;                     /* pipeline+finetune's joint steps; default steps/4 */
  float finetune_lr;                          /* pipeline+finetune's peak learning rate; default train.lr */
  int64_t latency_batch;                      /* throughput batch, default 64 */
  int n_examples;                             /* test samples drawn in the report, default 6 */
} leap_compare_config;

typedef struct leap_run_config {
  char source[LEAP_CFG_PATH];     /* the YAML file it came from */
  char task[LEAP_CFG_NAME];       /* "robot", "vqa", "speech", or a user's name */
  leap_data_config data;
  int n_stages;
  leap_stage_config stages[LEAP_CFG_MAX_STAGES];
  /* e2e: an explicit network to the last stage's output (e2e.network) from the fields its named inputs give, else
   * from the first stage's first input; or, when absent, the stages' networks composed through a learned interface
   * of e2e.interface features (default: the width of each intermediate). */
  bool e2e_has_network;
  leap_net_spec e2e_network;
  int64_t e2e_interface;
  leap_train_config train;
  leap_compare_config compare;
  char out_dir[LEAP_CFG_PATH];    /* output.dir */
  leap_device device;             /* --device, default cuda when available else cpu */
  char *resolved_json;            /* the resolved config as one JSON object (owned), for report.json */
} leap_run_config;

/* Loads path, applies overrides ("a.b.c=value", as --set gives them), validates, fills cfg. */
leap_status leap_run_config_load(leap_run_config *cfg, const char *path, const char *const *overrides, int n_overrides,
                                 leap_error *err);
void leap_run_config_free(leap_run_config *cfg);
const leap_field_config *leap_run_config_field(const leap_run_config *cfg, const char *name);
const leap_stage_config *leap_run_config_stage(const leap_run_config *cfg, const char *name);
/* The activation dtype of cfg's passes on `device` (the run's final device, after --device): train.precision, with
 * auto bf16 on CUDA and fp32 on the CPU. bf16 on the CPU is LEAP_ERR_CONFIG naming the key. */
leap_status leap_run_config_act(const leap_run_config *cfg, leap_device device, leap_dtype *act, leap_error *err);

#endif
