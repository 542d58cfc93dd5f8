/* cuDNN's fused attention, the BASELINE of `leap bench` G1/G2 (attention.h, LEAP_WITH_CUDNN): never the engine's
 * path. Built through the cuDNN backend (graph) API from C++ without the frontend library, as the frontend's SDPA
 * nodes build it. Forward:
 *
 *   S = Q K^T (matmul; K seen as (B,H,D,Tk) through its strides)  ->  S * scale  ->  [causal: where row >= col,
 *   else -inf (gen_index on both axes, cmp_ge, binary_select)]  ->  M = max over keys  ->  E = exp(S - M)  ->
 *   Z = sum over keys  ->  lse = M + log Z (the Stats output)  ->  P = E / Z (bf16)  ->  O = P V (matmul)
 *
 * Backward (the frontend's sdpa_backward with its deterministic algorithm, no dropout):
 *
 *   Dsum = rowsum(dO * O) * 1                    (B,H,Tq,1) fp32; the "* 1" is the frontend's dropout-scale slot
 *   P = exp(mask(S * scale) - lse)               S = Q K^T recomputed; lse is the forward's Stats input
 *   dV = P^T dO                                  P^T a reshape of P to (B,H,Tk,Tq) with swapped strides, bf16
 *   dS = ((dO V^T) * 1 - Dsum) * P * scale       V seen as (B,H,D,Tk); the "* 1" is the dropout-mask slot
 *   dK = dS^T Q                                  dS^T a bf16 reshape like P^T
 *   dQ = dS K                                    K a reshape of the (B,H,D,Tk) view back to (B,H,Tk,D)
 *
 * cuDNN's Stats are the natural-log log-sum-exp of the scaled, masked scores, fp32, (B,H,Tq,1) packed: exactly
 * leap's lse (B,H,Tq) contiguous, so the forward writes leap's lse and the backward reads it with no conversion.
 * The backward leaves out the frontend's non-virtual fp32 dQ accumulator (its default, which adds dQ with atomics
 * in an order that changes from run to run): without it cuDNN runs its deterministic kernels, which keep dP in
 * the workspace. dq, dk, dv are written, not accumulated.
 *
 * cuDNN's heuristics (mode A, then the fallback list) are asked for an engine that runs the graph (its fused
 * flash-attention kernels). The tensors are leap's (B,T,H,D) views given to cuDNN as (B,H,T,D) with leap's
 * strides, so nothing is copied. A plan is one direction: create(backward = false) builds the forward graph,
 * create(backward = true) the backward one. Shapes cuDNN (or this file) does not take come back as NULL with the
 * reason: no key_len, no causal mask with Tq != Tk (leap's mask is bottom-right aligned; only the square case is
 * the same mask top-left). None of this has run on a GPU yet. */
#include <cudnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention/attention.h"
#include "kernels/common/cuda_common.cuh"
#include "kernels/common/cudnn_common.cuh"

namespace {

/* Tensor ids of the variant pack; the virtual tensors take ids from V_FIRST on. */
enum {
  UID_Q = 1,
  UID_K,
  UID_V,
  UID_O,
  UID_STATS,
  UID_SCALE,
  UID_NEG_INF,
  UID_DO,
  UID_DQ,
  UID_DK,
  UID_DV,
  UID_ONE,
  UID_V_FIRST = 100
};

/* Every descriptor the plan was built from (kept until destroy), the engine configurations tried, the plan. */
#define MAX_DESCRIPTORS 192
#define MAX_OPS 32
#define MAX_ENGINE_CONFIGS 16

struct builder {
  cudnnBackendDescriptor_t made[MAX_DESCRIPTORS];
  int n;
  int64_t next_uid;
  cudnnStatus_t status;  /* the first failure */
  const char *failed_at; /* what failed first */
};

}  // namespace

struct leap_attention_cudnn {
  cudnnHandle_t handle;
  builder b;
  cudnnBackendDescriptor_t plan;
  void *workspace;
  int64_t workspace_bytes;
  float scale, neg_inf, one;
  bool causal;   /* the graph has the -inf constant of the mask */
  bool backward; /* the plan is the backward graph's (else the forward's) */
};

namespace {

bool ok(builder *b, cudnnStatus_t st, const char *what) {
  if (b->status == CUDNN_STATUS_SUCCESS && st != CUDNN_STATUS_SUCCESS) b->status = st, b->failed_at = what;
  return b->status == CUDNN_STATUS_SUCCESS;
}

cudnnBackendDescriptor_t make(builder *b, cudnnBackendDescriptorType_t type, const char *what) {
  cudnnBackendDescriptor_t d = NULL;
  if (b->n >= MAX_DESCRIPTORS) {
    ok(b, CUDNN_STATUS_NOT_SUPPORTED, "too many descriptors");
    return NULL;
  }
  if (!ok(b, cudnnBackendCreateDescriptor(type, &d), what)) return NULL;
  b->made[b->n++] = d;
  return d;
}

void set(builder *b, cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
         int64_t count, const void *value, const char *what) {
  if (b->status == CUDNN_STATUS_SUCCESS && d) ok(b, cudnnBackendSetAttribute(d, name, type, count, value), what);
}

void finalize(builder *b, cudnnBackendDescriptor_t d, const char *what) {
  if (b->status == CUDNN_STATUS_SUCCESS && d) ok(b, cudnnBackendFinalize(d), what);
}

/* A 4-d tensor (dims and strides in elements). uid 0 makes a virtual tensor with a fresh id. */
cudnnBackendDescriptor_t tensor(builder *b, cudnnDataType_t type, const int64_t dims[4], const int64_t strides[4],
                                int64_t uid, bool by_value) {
  cudnnBackendDescriptor_t t = make(b, CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor");
  const bool virt = uid == 0;
  const int64_t id = virt ? b->next_uid++ : uid, align = 16;
  set(b, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "tensor type");
  set(b, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims, "tensor dims");
  set(b, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides, "tensor strides");
  set(b, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &id, "tensor id");
  set(b, t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, "tensor alignment");
  set(b, t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt, "tensor virtual");
  if (by_value) set(b, t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value, "tensor by value");
  finalize(b, t, "tensor");
  return t;
}

/* A virtual tensor of the score shape (B,H,Tq,Tk) or the row shape (B,H,Tq,1), packed. */
cudnnBackendDescriptor_t scores(builder *b, const leap_attention_shape *s, cudnnDataType_t type, bool rows) {
  const int64_t n = rows ? 1 : s->Tk;
  const int64_t dims[4] = {s->B, s->H, s->Tq, n}, strides[4] = {s->H * s->Tq * n, s->Tq * n, n, 1};
  return tensor(b, type, dims, strides, 0, false);
}

cudnnBackendDescriptor_t matmul(builder *b, cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t bm,
                                cudnnBackendDescriptor_t c) {
  cudnnBackendDescriptor_t desc = make(b, CUDNN_BACKEND_MATMUL_DESCRIPTOR, "matmul");
  const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
  set(b, desc, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp, "matmul type");
  finalize(b, desc, "matmul");
  cudnnBackendDescriptor_t op = make(b, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, "matmul op");
  set(b, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a, "matmul a");
  set(b, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bm, "matmul b");
  set(b, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c, "matmul c");
  set(b, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &desc, "matmul desc");
  finalize(b, op, "matmul op");
  return op;
}

/* y = mode(x[, in1[, in2]]) computed in `prec`; axis >= 0 for GEN_INDEX. */
cudnnBackendDescriptor_t pointwise(builder *b, cudnnPointwiseMode_t mode, cudnnDataType_t prec, int64_t axis,
                                   cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t in1,
                                   cudnnBackendDescriptor_t in2, cudnnBackendDescriptor_t y) {
  cudnnBackendDescriptor_t desc = make(b, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise");
  set(b, desc, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pointwise mode");
  set(b, desc, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec, "pointwise precision");
  if (axis >= 0) set(b, desc, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis, "pointwise axis");
  finalize(b, desc, "pointwise");
  cudnnBackendDescriptor_t op = make(b, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "pointwise op");
  set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &desc, "pointwise desc");
  set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "pointwise x");
  if (in1) set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &in1, "pointwise b");
  if (in2) set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &in2, "pointwise t");
  set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "pointwise y");
  finalize(b, op, "pointwise op");
  return op;
}

cudnnBackendDescriptor_t reduction(builder *b, cudnnReduceTensorOp_t mode, cudnnBackendDescriptor_t x,
                                   cudnnBackendDescriptor_t y) {
  cudnnBackendDescriptor_t desc = make(b, CUDNN_BACKEND_REDUCTION_DESCRIPTOR, "reduction");
  const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
  set(b, desc, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode, "reduction mode");
  set(b, desc, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp, "reduction type");
  finalize(b, desc, "reduction");
  cudnnBackendDescriptor_t op = make(b, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, "reduction op");
  set(b, op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "reduction x");
  set(b, op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "reduction y");
  set(b, op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &desc, "reduction desc");
  finalize(b, op, "reduction op");
  return op;
}

/* y = x seen through y's dims and strides (a transpose when they swap two axes). */
cudnnBackendDescriptor_t reshape(builder *b, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
  cudnnBackendDescriptor_t op = make(b, CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, "reshape op");
  set(b, op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "reshape x");
  set(b, op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "reshape y");
  finalize(b, op, "reshape op");
  return op;
}

/* A virtual tensor of the transposed score shape (B,H,Tk,Tq) with the strides of the packed (B,H,Tq,Tk) scores:
 * the same memory read the other way, which is how the frontend hands P^T and dS^T to the dV and dK matmuls. */
cudnnBackendDescriptor_t scores_t(builder *b, const leap_attention_shape *s, cudnnDataType_t type) {
  const int64_t dims[4] = {s->B, s->H, s->Tk, s->Tq}, strides[4] = {s->H * s->Tq * s->Tk, s->Tq * s->Tk, 1, s->Tk};
  return tensor(b, type, dims, strides, 0, false);
}

/* The causal mask of the file comment on the scaled scores x: where row >= col x, else neg_inf. Adds its four
 * operations at ops[*n] and returns the masked scores. */
cudnnBackendDescriptor_t causal_mask(builder *b, const leap_attention_shape *s, cudnnBackendDescriptor_t x,
                                     cudnnBackendDescriptor_t neg_inf, cudnnBackendDescriptor_t *ops, int *n) {
  const cudnnDataType_t F32 = CUDNN_DATA_FLOAT;
  cudnnBackendDescriptor_t row = scores(b, s, CUDNN_DATA_INT32, false), col = scores(b, s, CUDNN_DATA_INT32, false);
  cudnnBackendDescriptor_t seen = scores(b, s, CUDNN_DATA_BOOLEAN, false), masked = scores(b, s, F32, false);
  ops[(*n)++] = pointwise(b, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, 2, x, NULL, NULL, row);
  ops[(*n)++] = pointwise(b, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, 3, x, NULL, NULL, col);
  ops[(*n)++] = pointwise(b, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, -1, row, col, NULL, seen);
  ops[(*n)++] = pointwise(b, CUDNN_POINTWISE_BINARY_SELECT, F32, -1, x, neg_inf, seen, masked);
  return masked;
}

/* The forward graph of the file comment; returns its number of operations, written to ops. */
int forward_graph(builder *b, const leap_attention_shape *s, cudnnBackendDescriptor_t *ops) {
  const cudnnDataType_t BF16 = CUDNN_DATA_BFLOAT16, F32 = CUDNN_DATA_FLOAT;
  const int64_t D = s->D;
  const int64_t qd[4] = {s->B, s->H, s->Tq, D}, qs[4] = {s->Tq * s->ldq, D, s->ldq, 1};
  const int64_t kd[4] = {s->B, s->H, D, s->Tk}, ks[4] = {s->Tk * s->ldk, D, 1, s->ldk};
  const int64_t vd[4] = {s->B, s->H, s->Tk, D}, vs[4] = {s->Tk * s->ldv, D, s->ldv, 1};
  const int64_t os[4] = {s->Tq * s->ldo, D, s->ldo, 1};
  const int64_t ld[4] = {s->B, s->H, s->Tq, 1}, ls[4] = {s->H * s->Tq, s->Tq, 1, 1};
  const int64_t one[4] = {1, 1, 1, 1};
  cudnnBackendDescriptor_t q = tensor(b, BF16, qd, qs, UID_Q, false), k = tensor(b, BF16, kd, ks, UID_K, false);
  cudnnBackendDescriptor_t v = tensor(b, BF16, vd, vs, UID_V, false), o = tensor(b, BF16, qd, os, UID_O, false);
  cudnnBackendDescriptor_t stats = tensor(b, F32, ld, ls, UID_STATS, false);
  cudnnBackendDescriptor_t scale = tensor(b, F32, one, one, UID_SCALE, true);
  int n = 0;
  cudnnBackendDescriptor_t sc = scores(b, s, F32, false), scaled = scores(b, s, F32, false);
  ops[n++] = matmul(b, q, k, sc);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, F32, -1, sc, scale, NULL, scaled);
  if (s->causal) scaled = causal_mask(b, s, scaled, tensor(b, F32, one, one, UID_NEG_INF, true), ops, &n);
  cudnnBackendDescriptor_t m = scores(b, s, F32, true), shifted = scores(b, s, F32, false);
  cudnnBackendDescriptor_t e = scores(b, s, F32, false), z = scores(b, s, F32, true), logz = scores(b, s, F32, true);
  cudnnBackendDescriptor_t p = scores(b, s, BF16, false);
  ops[n++] = reduction(b, CUDNN_REDUCE_TENSOR_MAX, scaled, m);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_SUB, F32, -1, scaled, m, NULL, shifted);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_EXP, F32, -1, shifted, NULL, NULL, e);
  ops[n++] = reduction(b, CUDNN_REDUCE_TENSOR_ADD, e, z);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_LOG, F32, -1, z, NULL, NULL, logz);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_ADD, F32, -1, m, logz, NULL, stats);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_DIV, F32, -1, e, z, NULL, p);
  ops[n++] = matmul(b, p, v, o);
  return n;
}

/* The backward graph of the file comment; returns its number of operations, written to ops. */
int backward_graph(builder *b, const leap_attention_shape *s, cudnnBackendDescriptor_t *ops) {
  const cudnnDataType_t BF16 = CUDNN_DATA_BFLOAT16, F32 = CUDNN_DATA_FLOAT;
  const int64_t D = s->D;
  const int64_t qd[4] = {s->B, s->H, s->Tq, D}, qs[4] = {s->Tq * s->ldq, D, s->ldq, 1};
  const int64_t kd[4] = {s->B, s->H, s->Tk, D}, ks[4] = {s->Tk * s->ldk, D, s->ldk, 1};
  const int64_t ktd[4] = {s->B, s->H, D, s->Tk}, kts[4] = {s->Tk * s->ldk, D, 1, s->ldk};
  const int64_t vd[4] = {s->B, s->H, s->Tk, D}, vs[4] = {s->Tk * s->ldv, D, s->ldv, 1};
  const int64_t vtd[4] = {s->B, s->H, D, s->Tk}, vts[4] = {s->Tk * s->ldv, D, 1, s->ldv};
  const int64_t os[4] = {s->Tq * s->ldo, D, s->ldo, 1};
  /* dO * O with the frontend's dims and strides for it, copied as they are: the tensor is virtual, never in memory,
   * and cuDNN's pattern for the fused backward is the frontend's graph. */
  const int64_t pd[4] = {s->B, s->H, s->Tq, D}, ps[4] = {s->H * s->Tq * D, s->Tq * D, s->H * D, 1};
  const int64_t ld[4] = {s->B, s->H, s->Tq, 1}, ls[4] = {s->H * s->Tq, s->Tq, 1, 1};
  const int64_t one[4] = {1, 1, 1, 1};
  cudnnBackendDescriptor_t q = tensor(b, BF16, qd, qs, UID_Q, false), kt = tensor(b, BF16, ktd, kts, UID_K, false);
  cudnnBackendDescriptor_t vt = tensor(b, BF16, vtd, vts, UID_V, false), o = tensor(b, BF16, qd, os, UID_O, false);
  cudnnBackendDescriptor_t dout = tensor(b, BF16, qd, os, UID_DO, false);
  cudnnBackendDescriptor_t stats = tensor(b, F32, ld, ls, UID_STATS, false);
  cudnnBackendDescriptor_t dq = tensor(b, BF16, qd, qs, UID_DQ, false), dk = tensor(b, BF16, kd, ks, UID_DK, false);
  cudnnBackendDescriptor_t dv = tensor(b, BF16, vd, vs, UID_DV, false);
  cudnnBackendDescriptor_t scale = tensor(b, F32, one, one, UID_SCALE, true);
  cudnnBackendDescriptor_t unit = tensor(b, F32, one, one, UID_ONE, true);
  int n = 0;
  /* Dsum = rowsum(dO * O) * 1. */
  cudnnBackendDescriptor_t dout_o = tensor(b, F32, pd, ps, 0, false);
  cudnnBackendDescriptor_t rowsum = tensor(b, F32, ld, ls, 0, false), dsum = tensor(b, F32, ld, ls, 0, false);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, F32, -1, dout, o, NULL, dout_o);
  ops[n++] = reduction(b, CUDNN_REDUCE_TENSOR_ADD, dout_o, rowsum);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, F32, -1, rowsum, unit, NULL, dsum);
  /* P = exp(mask(Q K^T * scale) - lse). */
  cudnnBackendDescriptor_t sc = scores(b, s, F32, false), scaled = scores(b, s, F32, false);
  ops[n++] = matmul(b, q, kt, sc);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, F32, -1, sc, scale, NULL, scaled);
  if (s->causal) scaled = causal_mask(b, s, scaled, tensor(b, F32, one, one, UID_NEG_INF, true), ops, &n);
  cudnnBackendDescriptor_t shifted = scores(b, s, F32, false), p = scores(b, s, F32, false);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_SUB, F32, -1, scaled, stats, NULL, shifted);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_EXP, F32, -1, shifted, NULL, NULL, p);
  /* dV = P^T dO. */
  cudnnBackendDescriptor_t pt = scores_t(b, s, BF16);
  ops[n++] = reshape(b, p, pt);
  ops[n++] = matmul(b, pt, dout, dv);
  /* dS = ((dO V^T) * 1 - Dsum) * P * scale. */
  cudnnBackendDescriptor_t dp = scores(b, s, F32, false), dp1 = scores(b, s, F32, false);
  cudnnBackendDescriptor_t centred = scores(b, s, F32, false), dsp = scores(b, s, F32, false);
  cudnnBackendDescriptor_t ds = scores(b, s, F32, false);
  ops[n++] = matmul(b, dout, vt, dp);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, F32, -1, dp, unit, NULL, dp1);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_SUB, F32, -1, dp1, dsum, NULL, centred);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, F32, -1, centred, p, NULL, dsp);
  ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, F32, -1, dsp, scale, NULL, ds);
  /* dK = dS^T Q. */
  cudnnBackendDescriptor_t dst = scores_t(b, s, BF16);
  ops[n++] = reshape(b, ds, dst);
  ops[n++] = matmul(b, dst, q, dk);
  /* dQ = dS K, K the (B,H,D,Tk) view reshaped back. */
  cudnnBackendDescriptor_t k = tensor(b, BF16, kd, ks, 0, false);
  ops[n++] = reshape(b, kt, k);
  ops[n++] = matmul(b, ds, k, dq);
  return n;
}

/* The first engine configuration of the heuristics' list in `mode` that finalizes into a plan for the graph. */
cudnnBackendDescriptor_t plan_of_mode(builder *b, cudnnHandle_t handle, cudnnBackendDescriptor_t graph,
                                      cudnnBackendHeurMode_t mode) {
  cudnnBackendDescriptor_t heur = make(b, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "heuristics");
  set(b, heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph, "heuristics graph");
  set(b, heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "heuristics mode");
  finalize(b, heur, "heuristics");
  cudnnBackendDescriptor_t cfgs[MAX_ENGINE_CONFIGS];
  int64_t count = 0;
  for (int i = 0; i < MAX_ENGINE_CONFIGS; i++) cfgs[i] = make(b, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config");
  if (b->status == CUDNN_STATUS_SUCCESS)
    ok(b, cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                   MAX_ENGINE_CONFIGS, &count, cfgs),
       "heuristics results");
  if (b->status != CUDNN_STATUS_SUCCESS) return NULL;
  if (count > MAX_ENGINE_CONFIGS) count = MAX_ENGINE_CONFIGS;
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  for (int64_t i = 0; i < count; i++) {
    cudnnBackendDescriptor_t plan = NULL;
    last = cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan);
    if (last != CUDNN_STATUS_SUCCESS) break;
    last = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    if (last == CUDNN_STATUS_SUCCESS)
      last = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                      1, &cfgs[i]);
    if (last == CUDNN_STATUS_SUCCESS) last = cudnnBackendFinalize(plan);
    if (last == CUDNN_STATUS_SUCCESS) return plan;
    cudnnBackendDestroyDescriptor(plan);
  }
  ok(b, last, count ? "no engine of the heuristics' list finalized a plan" : "the heuristics offered no engine");
  return NULL;
}

/* A plan from heuristics mode A, else from the fallback list; the builder keeps the failure of mode A when both
 * fail (it is the informative one: the fallback list is usually empty for fused attention). */
cudnnBackendDescriptor_t plan_for(builder *b, cudnnHandle_t handle, cudnnBackendDescriptor_t graph) {
  cudnnBackendDescriptor_t plan = plan_of_mode(b, handle, graph, CUDNN_HEUR_MODE_A);
  if (plan || b->failed_at == NULL || strcmp(b->failed_at, "too many descriptors") == 0) return plan;
  const cudnnStatus_t status = b->status;
  const char *failed_at = b->failed_at;
  b->status = CUDNN_STATUS_SUCCESS, b->failed_at = NULL;
  plan = plan_of_mode(b, handle, graph, CUDNN_HEUR_MODE_FALLBACK);
  if (!plan) b->status = status, b->failed_at = failed_at;
  return plan;
}

void release(leap_attention_cudnn *a) {
  if (a->plan) cudnnBackendDestroyDescriptor(a->plan);
  for (int i = a->b.n - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(a->b.made[i]);
  if (a->workspace) LEAP_CUDA_CHECK(cudaFree(a->workspace));
  if (a->handle) cudnnDestroy(a->handle);
  free(a);
}

/* NULL with the reason in msg. */
leap_attention_cudnn *unsupported(leap_attention_cudnn *a, char *msg, size_t msg_size, const char *why,
                                  cudnnStatus_t st) {
  if (msg && msg_size)
    snprintf(msg, msg_size, "cuDNN attention: %s%s%s", why, st != CUDNN_STATUS_SUCCESS ? ": " : "",
             st != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(st) : "");
  if (a) release(a);
  return NULL;
}

/* Runs the plan on `stream` with the variant pack of the n tensors (ids and pointers) and the workspace. */
void execute(leap_attention_cudnn *a, int64_t n, int64_t *uids, void **ptrs, leap_cuda_stream stream) {
  LEAP_CUDNN_CHECK(cudnnSetStream(a->handle, stream));
  cudnnBackendDescriptor_t pack = NULL;
  LEAP_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack));
  LEAP_CUDNN_CHECK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids));
  LEAP_CUDNN_CHECK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs));
  LEAP_CUDNN_CHECK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                                            &a->workspace));
  LEAP_CUDNN_CHECK(cudnnBackendFinalize(pack));
  LEAP_CUDNN_CHECK(cudnnBackendExecute(a->handle, a->plan, pack));
  LEAP_CUDNN_CHECK(cudnnBackendDestroyDescriptor(pack));
}

/* Running a plan in the direction it was not built for is a programming error: fatal, like a failed CUDA call. */
[[noreturn]] void wrong_direction(const char *run, const char *built) {
  fprintf(stderr, "leap: fatal: cuDNN attention %s run on a plan created for the %s\n", run, built);
  abort();
}

}  // namespace

LEAP_EXTERN_C_BEGIN

leap_attention_cudnn *leap_attention_cudnn_create(const leap_attention_shape *s, bool backward, char *msg,
                                                  size_t msg_size) {
  if (s->causal && s->Tq != s->Tk)
    return unsupported(NULL, msg, msg_size, "a causal mask with Tq != Tk (bottom-right aligned) is not built",
                       CUDNN_STATUS_SUCCESS);
  leap_attention_cudnn *a = (leap_attention_cudnn *)calloc(1, sizeof *a);
  a->b.next_uid = UID_V_FIRST;
  a->scale = s->scale, a->neg_inf = -INFINITY, a->one = 1.0f, a->causal = s->causal, a->backward = backward;
  cudnnStatus_t st = cudnnCreate(&a->handle);
  if (st != CUDNN_STATUS_SUCCESS) {
    a->handle = NULL;
    return unsupported(a, msg, msg_size, "cudnnCreate", st);
  }
  builder *b = &a->b;
  cudnnBackendDescriptor_t ops[MAX_OPS];
  const int64_t nops = backward ? backward_graph(b, s, ops) : forward_graph(b, s, ops);
  cudnnBackendDescriptor_t graph = make(b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
  set(b, graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, nops, ops, "graph ops");
  set(b, graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &a->handle, "graph handle");
  finalize(b, graph, "operation graph");
  if (b->status == CUDNN_STATUS_SUCCESS) a->plan = plan_for(b, a->handle, graph);
  if (b->status != CUDNN_STATUS_SUCCESS) return unsupported(a, msg, msg_size, b->failed_at, b->status);
  st = cudnnBackendGetAttribute(a->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, NULL,
                                &a->workspace_bytes);
  if (st != CUDNN_STATUS_SUCCESS) return unsupported(a, msg, msg_size, "plan workspace size", st);
  if (a->workspace_bytes > 0) LEAP_CUDA_CHECK(cudaMalloc(&a->workspace, (size_t)a->workspace_bytes));
  return a;
}

void leap_attention_cudnn_forward(leap_attention_cudnn *a, void *out, float *lse, const void *q, const void *k,
                                  const void *v, leap_cuda_stream stream) {
  if (a->backward) wrong_direction("forward", "backward");
  int64_t uids[7] = {UID_Q, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE, UID_NEG_INF};
  void *ptrs[7] = {(void *)q, (void *)k, (void *)v, out, lse, &a->scale, &a->neg_inf};
  execute(a, a->causal ? 7 : 6, uids, ptrs, stream);
}

void leap_attention_cudnn_backward(leap_attention_cudnn *a, void *dq, void *dk, void *dv, const void *dout,
                                   const void *q, const void *k, const void *v, const void *out, const float *lse,
                                   leap_cuda_stream stream) {
  if (!a->backward) wrong_direction("backward", "forward");
  int64_t uids[12] = {UID_Q,  UID_K,  UID_V,  UID_O,     UID_DO,  UID_STATS,
                      UID_DQ, UID_DK, UID_DV, UID_SCALE, UID_ONE, UID_NEG_INF};
  void *ptrs[12] = {(void *)q, (void *)k, (void *)v, (void *)out, (void *)dout, (void *)lse,
                    dq,        dk,        dv,        &a->scale,   &a->one,      &a->neg_inf};
  execute(a, a->causal ? 12 : 11, uids, ptrs, stream);
}

void leap_attention_cudnn_destroy(leap_attention_cudnn *a) {
  if (a) release(a);
}

LEAP_EXTERN_C_END
