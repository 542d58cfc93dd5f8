/* Making a config's data file when it is absent: the same generator `leap data make` runs, with val and test a
 * tenth of train each, into the file's directory (created if missing). */
#include <stdio.h>
#include <unistd.h>

#include "data/hdf5/gen_write.h"
#include "train/loop/loop_internal.h"
#include "train/loop/progress.h"
#include "train/loop/trainer.h"

leap_status leap_ensure_data(const leap_run_config *cfg, leap_error *err) {
  if (access(cfg->data.file, F_OK) == 0 || !cfg->data.generate_task[0]) return LEAP_OK;
  if (leap__make_parent_dirs(cfg->data.file, err)) return err->status;
  int64_t n = cfg->data.generate_n, n_eval = n / 10 > 0 ? n / 10 : 1;
  leap_gen_options g = {cfg->data.generate_task, cfg->data.file, n, n_eval, n_eval, cfg->data.generate_seed};
  printf("leap: %s is absent: generating it (leap data make %s --n %lld --seed %llu)\n", cfg->data.file, g.task,
         (long long)n, (unsigned long long)g.seed);
  fflush(stdout);
  double t0 = leap_progress_now();
  if (leap_gen_write(&g, err)) return err->status;
  printf("leap: wrote %s in %.1f s\n", cfg->data.file, leap_progress_now() - t0);
  return LEAP_OK;
}
