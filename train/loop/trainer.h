/* The training loop: steps of micro-batches with gradient accumulation, the LR schedule, global-norm clipping,
 * evaluation on the val group every N steps, early stopping, a guard that skips (and counts) a step whose loss is
 * not finite, the progress line, metrics.jsonl, and the best and latest weights saved as
 * RUN_DIR/checkpoints/{best,latest}/model.safetensors with the data preparation (prep.json) beside them. */
#ifndef LEAP_TRAIN_LOOP_TRAINER_H
#define LEAP_TRAIN_LOOP_TRAINER_H

#include "train/loop/chain.h"

#define LEAP_TRAIN_MAX_CURVE 512

typedef struct leap_train_options {
  int64_t steps;           /* optimizer steps (cfg->train.steps, or compare's finetune steps) */
  double fraction;         /* use the first fraction of the training samples (data efficiency); 1 for all */
  const char *run_dir;     /* where metrics.jsonl and checkpoints/ go; NULL: write nothing */
  const char *label;       /* shown on the progress line, e.g. "e2e" */
  bool quiet;              /* no progress line (tests) */
} leap_train_options;

typedef struct leap_train_result {
  int64_t steps_done, samples_seen, nonfinite_skips;
  double seconds;                        /* wall time of training (evaluation included) */
  double best_val_loss, final_train_loss;
  int64_t best_step;
  bool stopped_early;
  int n_curve;                           /* (step, smoothed training loss) points, evenly thinned */
  double curve[LEAP_TRAIN_MAX_CURVE][2];
} leap_train_result;

leap_status leap_train_chain(const leap_run_config *cfg, leap_runtime *rt, const leap_chain *chain,
                             const leap_train_options *options, leap_train_result *result, leap_error *err);

/* Saves every parameter and buffer of ps (names as they are) to DIR/model.safetensors atomically, with
 * DIR/prep.json holding the data preparation of cfg (fields, normalisation) and the chain's description. */
leap_status leap_save_weights(const char *dir, const leap_params *ps, const leap_run_config *cfg,
                              const leap_chain *chain, leap_error *err);
/* Generates cfg's data file (data.generate) when it is absent; nothing when it exists or no generator is named. */
leap_status leap_ensure_data(const leap_run_config *cfg, leap_error *err);

/* Loads parameters by name into ps; a missing or mis-shaped tensor is an error naming it. */
leap_status leap_load_weights(const char *dir, leap_params *ps, leap_error *err);

#endif
