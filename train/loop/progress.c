#include "train/loop/progress.h"

#include <time.h>
#include <unistd.h>

double leap_progress_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void leap_progress_init(leap_progress *p, FILE *out, int64_t total_steps, int64_t every, const char *item_unit) {
  p->out = out;
  p->tty = isatty(fileno(out));
  p->total_steps = total_steps;
  p->every = every > 0 ? every : 1;
  p->start = p->last = leap_progress_now();
  p->items = 0;
  p->item_unit = item_unit;
}

void leap_progress_update(leap_progress *p, int64_t step, double loss, double lr, double items) {
  p->items += items;
  double now = leap_progress_now();
  bool last = step == p->total_steps;
  if (!last && step % p->every != 0 && !(p->tty && now - p->last > 0.2)) return;
  p->last = now;
  double elapsed = now - p->start;
  double rate = elapsed > 0 ? p->items / elapsed : 0.0;
  double eta = step > 0 ? elapsed / (double)step * (double)(p->total_steps - step) : 0.0;
  fprintf(p->out, "%sstep %6lld/%lld  loss %.4f  lr %.2e  %.0f %s  elapsed %.1fs  ETA %.1fs%s", p->tty ? "\r" : "",
          (long long)step, (long long)p->total_steps, loss, lr, rate, p->item_unit, elapsed, eta,
          p->tty ? "\033[K" : "\n");
  fflush(p->out);
}

void leap_progress_finish(leap_progress *p) {
  if (p->tty) fputc('\n', p->out);
  fflush(p->out);
}
