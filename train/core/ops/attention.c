/* attention: the fused multi-head attention op, over separate q, k, v or one fused qkv projection. The kernel
 * reads strided rows, so neither form copies or transposes anything.
 *
 * On CUDA the op runs the flash kernels (leap_attention_*_cuda). leap_attention_use_reference(true) switches it,
 * for the whole process, to the reference CUDA kernels (leap_attention_*_ref_cuda): the simple warp-per-row path
 * that the flash kernels are validated against, so that a test (or a user chasing a numerical doubt) can train the
 * same model both ways. It is a process-wide setting read when each call is made; flip it only between steps. */
#include <math.h>

#include "kernels/attention/attention.h"
#include "kernels/common/kernel_common.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

/* The one switch of this file (see the file comment): written only by leap_attention_use_reference. */
static bool g_use_reference = false;

void leap_attention_use_reference(bool on) { g_use_reference = on; }

typedef struct attention_attrs {
  leap_attention_shape shape;
  bool fused; /* inputs[0] is qkv; else inputs are q, k, v */
  bool has_key_len;
} attention_attrs;

static bool check_key_len(leap_ctx *ctx, leap_tensor *key_len, int64_t B, int64_t Tk) {
  if (!key_len) return true;
  char desc[128];
  if (key_len->dtype != LEAP_I32 || key_len->ndim != 1 || key_len->shape[0] != B) {
    leap__fail(ctx, LEAP_ERR_SHAPE, "attention", "key_len %s must be i32 (%lld)",
               leap_tensor_describe(key_len, desc, sizeof desc), (long long)B);
    return false;
  }
  const int32_t *len = leap__host_view(ctx, key_len);
  for (int64_t b = 0; b < B; b++)
    if (len[b] < 0 || len[b] > Tk) {
      leap__fail(ctx, LEAP_ERR_VALUE, "attention", "key_len[%lld] = %d is outside [0, %lld]", (long long)b, len[b],
                 (long long)Tk);
      return false;
    }
  return true;
}

/* q, k and v of the inputs: three tensors, or three column blocks of one fused qkv. */
static void qkv_pointers(leap_tensor *const *inputs, const attention_attrs *a, const void **q, const void **k,
                         const void **v) {
  size_t elem = leap_dtype_size(inputs[0]->dtype), HD = (size_t)(a->shape.H * a->shape.D);
  const char *base = inputs[0]->data;
  *q = base;
  *k = a->fused ? base + HD * elem : inputs[1]->data;
  *v = a->fused ? base + 2 * HD * elem : inputs[2]->data;
}

static leap_tensor *run(leap_ctx *ctx, leap_tensor *const *inputs, int n_inputs, leap_tensor *key_len,
                        const attention_attrs *a) {
  const leap_attention_shape *s = &a->shape;
  int64_t out_shape[3] = {s->B, s->Tq, s->H * s->D};
  int64_t lse_shape[3] = {s->B, s->H, s->Tq};
  leap_dtype dtype = inputs[0]->dtype;
  leap_tensor *out = leap__new_tensor(ctx, dtype, 3, out_shape);
  leap_tensor *lse = leap__new_tensor(ctx, LEAP_F32, 3, lse_shape);
  const void *q, *k, *v;
  qkv_pointers(inputs, a, &q, &k, &v);
  const int32_t *len = key_len ? leap_i32(key_len) : NULL;
  LEAP__ON_DEVICE(ctx,
                  leap_attention_forward_cpu(out->data, leap_f32(lse), q, k, v, len, s,
                                             leap__workspace(ctx, leap_attention_workspace_floats(s, leap_kernels_threads()))),
                  (g_use_reference ? leap_attention_forward_ref_cuda : leap_attention_forward_cuda)(
                      out->data, leap_f32(lse), q, k, v, len, s, dtype, leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_ATTENTION, out, n_inputs, inputs);
  if (rec) {
    rec->saved[0] = lse;
    rec->saved[1] = key_len;
    *LEAP_TAPE_ATTRS(rec, attention_attrs) = *a;
  }
  return out;
}

leap_tensor *leap_attention(leap_ctx *ctx, leap_tensor *q, leap_tensor *k, leap_tensor *v, leap_tensor *key_len,
                            int heads, bool causal) {
  leap_tensor *in[3] = {q, k, v};
  if (!leap__check_inputs(ctx, "attention", 3, in)) return NULL;
  for (int i = 0; i < 3; i++)
    if (!leap__check_float(ctx, "attention", in[i]) || !leap__check_ndim(ctx, "attention", in[i], 3, 3))
      return NULL;
  char dq[128], dk[128], dv[128];
  int64_t B = q->shape[0], C = q->shape[2];
  if (heads < 1 || C % heads || k->shape[0] != B || v->shape[0] != B || k->shape[2] != C || v->shape[2] != C ||
      k->shape[1] != v->shape[1])
    return leap__fail(ctx, LEAP_ERR_SHAPE, "attention", "q %s, k %s, v %s do not fit %d heads",
                      leap_tensor_describe(q, dq, sizeof dq), leap_tensor_describe(k, dk, sizeof dk),
                      leap_tensor_describe(v, dv, sizeof dv), heads);
  if (!check_key_len(ctx, key_len, B, k->shape[1])) return NULL;
  attention_attrs a = {{B, heads, q->shape[1], k->shape[1], C / heads, C, C, C, C, causal, 1.0f / sqrtf((float)(C / heads))},
                       false, key_len != NULL};
  return run(ctx, in, 3, key_len, &a);
}

leap_tensor *leap_attention_qkv(leap_ctx *ctx, leap_tensor *qkv, leap_tensor *key_len, int heads, bool causal) {
  if (!leap__check_inputs(ctx, "attention", 1, &qkv) || !leap__check_float(ctx, "attention", qkv) ||
      !leap__check_ndim(ctx, "attention", qkv, 3, 3))
    return NULL;
  char desc[128];
  int64_t B = qkv->shape[0], T = qkv->shape[1], C3 = qkv->shape[2];
  if (heads < 1 || C3 % (3 * heads))
    return leap__fail(ctx, LEAP_ERR_SHAPE, "attention", "qkv %s: last dim must be 3 x heads (%d) x head size",
                      leap_tensor_describe(qkv, desc, sizeof desc), heads);
  if (!check_key_len(ctx, key_len, B, T)) return NULL;
  int64_t C = C3 / 3;
  attention_attrs a = {{B, heads, T, T, C / heads, C3, C3, C3, C, causal, 1.0f / sqrtf((float)(C / heads))}, true,
                       key_len != NULL};
  return run(ctx, &qkv, 1, key_len, &a);
}

void leap__backward_attention(leap_ctx *ctx, const leap_tape_record *rec) {
  const attention_attrs *a = LEAP_TAPE_ATTRS(rec, attention_attrs);
  const leap_attention_shape *s = &a->shape;
  int64_t HD = s->H * s->D;
  leap_dtype dtype = rec->inputs[0]->dtype;
  size_t elem = leap_dtype_size(dtype);
  const void *q, *k, *v;
  qkv_pointers(rec->inputs, a, &q, &k, &v);
  void *dq, *dk, *dv;
  if (a->fused) {
    char *dqkv = leap__grad(ctx, rec->inputs[0]);
    dq = dqkv, dk = dqkv ? dqkv + HD * elem : NULL, dv = dqkv ? dqkv + 2 * HD * elem : NULL;
  } else {
    dq = leap__grad(ctx, rec->inputs[0]), dk = leap__grad(ctx, rec->inputs[1]), dv = leap__grad(ctx, rec->inputs[2]);
  }
  const int32_t *key_len = a->has_key_len ? leap_i32(rec->saved[1]) : NULL;
  const float *lse = leap_f32(rec->saved[0]);
  LEAP__ON_DEVICE(ctx,
                  leap_attention_backward_cpu(dq, dk, dv, leap__dout(rec), q, k, v, rec->output->data, lse, key_len, s,
                                              leap__workspace(ctx, leap_attention_workspace_floats(s, leap_kernels_threads()))),
                  (g_use_reference ? leap_attention_backward_ref_cuda : leap_attention_backward_cuda)(
                      dq, dk, dv, leap__dout(rec), q, k, v, rec->output->data, lse, key_len, s,
                      leap__workspace(ctx, g_use_reference ? leap_attention_workspace_floats_ref_cuda(s)
                                                           : leap_attention_workspace_floats_cuda(s)),
                      dtype, leap__stream(ctx)));
}
