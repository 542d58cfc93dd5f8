/* What the task files share inside train/tasks (not part of the public API). */
#ifndef LEAP_TRAIN_TASKS_TASK_INTERNAL_H
#define LEAP_TRAIN_TASKS_TASK_INTERNAL_H

#include "train/tasks/task.h"

extern const leap_metric_def leap__task_generic_f32_metrics[2];
extern const leap_metric_def leap__task_generic_i32_metrics[2];
extern const leap_task leap__robot_task;
extern const leap_task leap__vqa_task;

int64_t leap__task_rows(const leap_host_array *a);
/* Elements per sample (the product of the dims after the first). */
int64_t leap__task_row_numel(const leap_host_array *a);
leap_status leap__task_check_shape(const leap_host_array *pred, const leap_host_array *truth, const char *field,
                                   leap_error *err);
/* mse, mae. */
leap_status leap__task_generic_f32_compute(double *values, const leap_host_array *pred, const leap_host_array *truth,
                                           const char *field, leap_error *err);
/* exact_match (every value of a sample right), token_accuracy (values right). */
leap_status leap__task_generic_i32_compute(double *values, const leap_host_array *pred, const leap_host_array *truth,
                                           const char *field, leap_error *err);

#endif
