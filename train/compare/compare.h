/* `leap compare`: end-to-end versus pipeline versus pipeline+finetune on one config (shared/DESIGN.md, "End-to-end
 * versus pipeline").
 *
 * Every network is trained with the config's batch and the same number of optimizer steps N (train.steps): e2e N
 * steps; the pipeline N steps per stage, each stage on its own target; pipeline+finetune starts from the
 * pipeline's trained stages and trains them jointly on the final target for compare.finetune_steps (default N/4)
 * at compare.finetune_lr (default train.lr).
 * Then, on the test group: each mode's metrics; each pipeline stage's metrics fed the true inputs and fed the
 * previous stage's predictions; latency per sample at batch 1 and throughput at compare.latency_batch (the
 * pipeline including every stage and the hand-off between them); parameters; training time and samples; the loss
 * curves; the baseline (mean predictor or most common answer) and each mode's margin over it; and with several
 * fractions, the headline metric of each mode trained on that fraction of the training data.
 *
 * The result is a plain struct; report_json.c, report_md.c and report_html.c write it, so that the writers can be
 * tested on a filled struct without training anything. */
#ifndef LEAP_TRAIN_COMPARE_COMPARE_H
#define LEAP_TRAIN_COMPARE_COMPARE_H

#include <stdio.h>

#include "train/config/run_config.h"
#include "train/loop/chain.h"
#include "train/tasks/strbuf.h"
#include "train/tasks/task.h"

#define LEAP_COMPARE_N_MODES 3
#define LEAP_COMPARE_MAX_EXAMPLES 16

typedef enum leap_compare_mode { LEAP_MODE_E2E = 0, LEAP_MODE_PIPELINE, LEAP_MODE_FINETUNE } leap_compare_mode;

/* "e2e", "pipeline", "pipeline+finetune". */
const char *leap_compare_mode_name(int mode);

/* A loss curve: n points (step, loss), owned. */
typedef struct leap_compare_curve {
  int n;
  double (*points)[2];
} leap_compare_curve;

/* What training one network (or, summed, several) consumed. */
typedef struct leap_compare_training {
  int64_t steps, samples_seen, nonfinite_skips;
  double seconds;
  leap_compare_curve curve;
} leap_compare_training;

typedef struct leap_compare_stage {
  char name[LEAP_CFG_NAME];
  char target[LEAP_CFG_NAME];  /* the field it predicts */
  leap_metrics metrics_true_input, metrics_chained;
  int64_t params;
  leap_compare_training training;
} leap_compare_stage;

typedef struct leap_compare_mode_result {
  bool done;
  leap_metrics metrics;        /* of the final target on the test group */
  double latency_ms_batch1;    /* median over samples */
  double throughput;           /* samples/s at the result's latency_batch */
  int64_t params;
  leap_compare_training training; /* pipeline: its stages summed; pipeline+finetune: the pipeline's plus its own */
  leap_compare_training own;      /* pipeline+finetune: the joint training alone (the same as training elsewhere) */
  int n_stages;                   /* pipeline: each stage's metrics and training */
  leap_compare_stage stages[LEAP_CFG_MAX_STAGES];
  float *example_preds;           /* (n_examples, example_values), owned */
} leap_compare_mode_result;

typedef struct leap_compare_fraction {
  double fraction;
  int64_t train_samples;
  double headline[LEAP_COMPARE_N_MODES]; /* NAN where a mode was not trained */
} leap_compare_fraction;

typedef struct leap_compare_result {
  char task[LEAP_CFG_NAME];
  char source[LEAP_CFG_PATH];      /* the config file */
  const leap_task *task_def;
  const char *config_json;         /* the resolved config (borrowed from the run config) */
  char target[LEAP_CFG_NAME];      /* the final target field */
  const leap_metric_def *headline;
  const char *baseline_name;       /* "mean_predictor" or "most_common_answer" */
  leap_metrics baseline;
  leap_compare_mode_result modes[LEAP_COMPARE_N_MODES];
  int n_fractions;
  leap_compare_fraction fractions[LEAP_CFG_MAX_FRACTIONS];
  int64_t latency_batch;
  char device[16];
  int threads;
  int64_t n_train, n_test;
  double seconds;                  /* the whole comparison */
  /* Test examples drawn in the report. */
  int n_examples;
  int64_t example_index[LEAP_COMPARE_MAX_EXAMPLES];
  uint8_t *example_images;         /* (n_examples, h, w, c) or NULL when the input is not a picture, owned */
  int example_h, example_w, example_c;
  int64_t example_values;          /* values per sample of the final target */
  float *example_truth;            /* (n_examples, example_values), owned */
} leap_compare_result;

/* Called with stage k's predictions before stage k+1 sees them (tests perturb them; NULL in normal runs). */
typedef void (*leap_compare_handoff_fn)(leap_host_array *pred, int stage, void *user);

typedef struct leap_compare_options {
  const char *out_dir;   /* where the reports and each network's run directory go; NULL: nothing is written */
  int n_fractions;       /* overrides cfg->compare.fractions when > 0 */
  double fractions[LEAP_CFG_MAX_FRACTIONS];
  bool quiet;            /* no progress lines */
  int latency_samples;   /* batch-1 samples timed (>= 50 for a report; tests use fewer); 0: 50 */
  leap_compare_handoff_fn handoff;
  void *handoff_user;
} leap_compare_options;

/* Trains and evaluates everything; res is filled (free it with leap_compare_result_free even on failure). */
leap_status leap_compare_run(const leap_run_config *cfg, leap_runtime *rt, const leap_compare_options *options,
                             leap_compare_result *res, leap_error *err);
void leap_compare_result_free(leap_compare_result *res);

/* Each mode's margin over the baseline for one metric: difference (mode - baseline), ratio (mode / baseline) and
 * the fraction of the gap from the baseline to a perfect value that the mode closes (1: perfect, 0: no better
 * than the baseline, negative: worse). */
typedef struct leap_compare_margin {
  double difference, ratio, gap_closed;
} leap_compare_margin;
leap_compare_margin leap_compare_margin_of(const leap_metric_def *def, double value, double baseline);

/* The reports, composed in memory (tests) or written atomically to OUT/report.{json,md,html}. */
void leap_compare_report_json(leap_strbuf *out, const leap_compare_result *res);
void leap_compare_report_md(leap_strbuf *out, const leap_compare_result *res);
void leap_compare_report_html(leap_strbuf *out, const leap_compare_result *res);
leap_status leap_compare_write_reports(const leap_compare_result *res, const char *out_dir, leap_error *err);
/* The short table printed at the end. */
void leap_compare_print_table(FILE *out, const leap_compare_result *res);

#endif
