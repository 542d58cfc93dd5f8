/* transpose, concat, slice: data movement with a gradient that moves the same elements back. */
#include "kernels/shape/shape.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

typedef struct transpose_attrs {
  int perm[LEAP_MAX_DIMS];
} transpose_attrs;

leap_tensor *leap_transpose(leap_ctx *ctx, leap_tensor *x, const int *perm) {
  if (!leap__check_inputs(ctx, "transpose", 1, &x) || !leap__check_float(ctx, "transpose", x)) return NULL;
  transpose_attrs a;
  int64_t shape[LEAP_MAX_DIMS];
  bool seen[LEAP_MAX_DIMS] = {false};
  for (int i = 0; i < x->ndim; i++) {
    if (perm[i] < 0 || perm[i] >= x->ndim || seen[perm[i]])
      return leap__fail(ctx, LEAP_ERR_VALUE, "transpose", "perm is not a permutation of %d dims", x->ndim);
    seen[perm[i]] = true;
    a.perm[i] = perm[i];
    shape[i] = x->shape[perm[i]];
  }
  leap_tensor *out = leap__new_tensor(ctx, x->dtype, x->ndim, shape);
  LEAP__ON_DEVICE(ctx, leap_transpose_forward_cpu(out->data, x->data, x->shape, a.perm, x->ndim),
                  leap_transpose_forward_cuda(out->data, x->data, x->shape, a.perm, x->ndim, x->dtype,
                                              leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_TRANSPOSE, out, 1, &x);
  if (rec) *LEAP_TAPE_ATTRS(rec, transpose_attrs) = a;
  return out;
}

void leap__backward_transpose(leap_ctx *ctx, const leap_tape_record *rec) {
  void *dx = leap__grad(ctx, rec->inputs[0]);
  const leap_tensor *x = rec->inputs[0];
  const int *perm = LEAP_TAPE_ATTRS(rec, transpose_attrs)->perm;
  if (dx)
    LEAP__ON_DEVICE(ctx, leap_transpose_backward_cpu(dx, leap__dout(rec), x->shape, perm, x->ndim),
                    leap_transpose_backward_cuda(dx, leap__dout(rec), x->shape, perm, x->ndim, x->dtype,
                                                 leap__stream(ctx)));
}

/* outer = product of dims before axis, inner = product after. */
static void split_at(const leap_tensor *t, int axis, int64_t *outer, int64_t *inner) {
  *outer = leap_shape_numel(axis, t->shape);
  *inner = leap_shape_numel(t->ndim - axis - 1, t->shape + axis + 1);
}

leap_tensor *leap_concat(leap_ctx *ctx, int n, leap_tensor *const *xs, int axis) {
  if (n < 1 || n > LEAP_TAPE_MAX_INPUTS)
    return leap__fail(ctx, LEAP_ERR_VALUE, "concat", "%d inputs (1 to %d)", n, LEAP_TAPE_MAX_INPUTS);
  if (!leap__check_inputs(ctx, "concat", n, xs)) return NULL;
  const leap_tensor *x0 = xs[0];
  if (axis < 0) axis += x0->ndim;
  if (axis < 0 || axis >= x0->ndim) return leap__fail(ctx, LEAP_ERR_VALUE, "concat", "axis out of range");
  int64_t shape[LEAP_MAX_DIMS], sizes[LEAP_TAPE_MAX_INPUTS];
  const void *ptrs[LEAP_TAPE_MAX_INPUTS];
  for (int d = 0; d < x0->ndim; d++) shape[d] = x0->shape[d];
  shape[axis] = 0;
  char d0[128], di[128];
  for (int i = 0; i < n; i++) {
    bool fits = xs[i]->ndim == x0->ndim && xs[i]->dtype == x0->dtype && leap__check_float(ctx, "concat", xs[i]);
    for (int d = 0; fits && d < x0->ndim; d++) fits = d == axis || xs[i]->shape[d] == x0->shape[d];
    if (!fits)
      return leap__fail(ctx, LEAP_ERR_SHAPE, "concat", "input %d %s does not fit input 0 %s along axis %d", i,
                        leap_tensor_describe(xs[i], di, sizeof di), leap_tensor_describe(x0, d0, sizeof d0), axis);
    sizes[i] = xs[i]->shape[axis];
    shape[axis] += sizes[i];
    ptrs[i] = xs[i]->data;
  }
  int64_t outer, inner;
  split_at(x0, axis, &outer, &inner);
  leap_tensor *out = leap__new_tensor(ctx, x0->dtype, x0->ndim, shape);
  LEAP__ON_DEVICE(ctx, leap_concat_forward_cpu(out->data, (const float *const *)ptrs, sizes, n, outer, inner),
                  leap_concat_forward_cuda(out->data, ptrs, sizes, n, outer, inner, x0->dtype, leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_CONCAT, out, n, xs);
  if (rec) *LEAP_TAPE_ATTRS(rec, int) = axis;
  return out;
}

void leap__backward_concat(leap_ctx *ctx, const leap_tape_record *rec) {
  int axis = *LEAP_TAPE_ATTRS(rec, int);
  int64_t sizes[LEAP_TAPE_MAX_INPUTS], outer, inner;
  void *grads[LEAP_TAPE_MAX_INPUTS];
  for (int i = 0; i < rec->n_inputs; i++) {
    sizes[i] = rec->inputs[i]->shape[axis];
    grads[i] = leap__grad(ctx, rec->inputs[i]);
  }
  split_at(rec->inputs[0], axis, &outer, &inner);
  LEAP__ON_DEVICE(ctx, leap_concat_backward_cpu((float *const *)grads, leap__dout(rec), sizes, rec->n_inputs, outer, inner),
                  leap_concat_backward_cuda(grads, leap__dout(rec), sizes, rec->n_inputs, outer, inner,
                                            rec->output->dtype, leap__stream(ctx)));
}

typedef struct slice_attrs {
  int axis;
  int64_t start, end;
} slice_attrs;

leap_tensor *leap_slice(leap_ctx *ctx, leap_tensor *x, int axis, int64_t start, int64_t end) {
  if (!leap__check_inputs(ctx, "slice", 1, &x) || !leap__check_float(ctx, "slice", x)) return NULL;
  if (axis < 0) axis += x->ndim;
  char desc[128];
  if (axis < 0 || axis >= x->ndim || start < 0 || end > x->shape[axis] || start >= end)
    return leap__fail(ctx, LEAP_ERR_VALUE, "slice", "[%lld, %lld) along axis %d is outside %s", (long long)start,
                      (long long)end, axis, leap_tensor_describe(x, desc, sizeof desc));
  int64_t shape[LEAP_MAX_DIMS], outer, inner;
  for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
  shape[axis] = end - start;
  split_at(x, axis, &outer, &inner);
  leap_tensor *out = leap__new_tensor(ctx, x->dtype, x->ndim, shape);
  LEAP__ON_DEVICE(ctx, leap_slice_forward_cpu(out->data, x->data, outer, x->shape[axis], inner, start, end),
                  leap_slice_forward_cuda(out->data, x->data, outer, x->shape[axis], inner, start, end, x->dtype,
                                          leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_SLICE, out, 1, &x);
  if (rec) *LEAP_TAPE_ATTRS(rec, slice_attrs) = (slice_attrs){axis, start, end};
  return out;
}

void leap__backward_slice(leap_ctx *ctx, const leap_tape_record *rec) {
  const slice_attrs *a = LEAP_TAPE_ATTRS(rec, slice_attrs);
  void *dx = leap__grad(ctx, rec->inputs[0]);
  if (!dx) return;
  const leap_tensor *x = rec->inputs[0];
  int64_t outer, inner;
  split_at(x, a->axis, &outer, &inner);
  LEAP__ON_DEVICE(ctx, leap_slice_backward_cpu(dx, leap__dout(rec), outer, x->shape[a->axis], inner, a->start, a->end),
                  leap_slice_backward_cuda(dx, leap__dout(rec), outer, x->shape[a->axis], inner, a->start, a->end,
                                           x->dtype, leap__stream(ctx)));
}
