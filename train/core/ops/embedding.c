/* embedding: rows of a (V,C) table picked by i32 ids of any shape; ids are checked, since a bad id from a data
 * file would otherwise read outside the table. */
#include "kernels/embedding/embedding.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_embedding(leap_ctx *ctx, leap_tensor *table, leap_tensor *ids) {
  leap_tensor *in[2] = {table, ids};
  if (!leap__check_inputs(ctx, "embedding", 2, in) || !leap__check_dtype(ctx, "embedding", table, LEAP_F32) ||
      !leap__check_dtype(ctx, "embedding", ids, LEAP_I32) || !leap__check_ndim(ctx, "embedding", table, 2, 2) ||
      !leap__check_ndim(ctx, "embedding", ids, 1, LEAP_MAX_DIMS - 1))
    return NULL;
  int64_t V = table->shape[0], C = table->shape[1], N = leap_tensor_numel(ids);
  const int32_t *id = leap__host_view(ctx, ids);
  char desc[128];
  for (int64_t i = 0; i < N; i++)
    if (id[i] < 0 || id[i] >= V)
      return leap__fail(ctx, LEAP_ERR_VALUE, "embedding", "id %d at position %lld is outside table %s", id[i],
                        (long long)i, leap_tensor_describe(table, desc, sizeof desc));
  int64_t shape[LEAP_MAX_DIMS];
  for (int i = 0; i < ids->ndim; i++) shape[i] = ids->shape[i];
  shape[ids->ndim] = C;
  leap_tensor *out = leap__new_act(ctx, ids->ndim + 1, shape);
  LEAP__ON_DEVICE(ctx, leap_embedding_forward_cpu(out->data, ids->data, table->data, N, C),
                  leap_embedding_forward_cuda(out->data, ids->data, table->data, N, C, out->dtype, leap__stream(ctx)));
  leap__record(ctx, LEAP_OP_EMBEDDING, out, 2, in);
  return out;
}

void leap__backward_embedding(leap_ctx *ctx, const leap_tape_record *rec) {
  float *dtable = leap__grad(ctx, rec->inputs[0]);
  const int32_t *ids = leap_i32(rec->inputs[1]);
  int64_t N = leap_tensor_numel(rec->inputs[1]), C = rec->inputs[0]->shape[1];
  if (dtable)
    LEAP__ON_DEVICE(ctx, leap_embedding_backward_cpu(dtable, leap__dout(rec), ids, N, C),
                    leap_embedding_backward_cuda(dtable, leap__dout(rec), ids, N, C, rec->output->dtype,
                                                 leap__stream(ctx)));
}
