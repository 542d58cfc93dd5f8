/* Batched matrix product over the last two dimensions, with optional transposes and a B shared by the batch:
 *
 *   out[i] (M,N) = op_a(a[i]) (M,K) * op_b(b[i]) (K,N)   for i in [0, batch)
 *
 * a[i] is stored (M,K), or (K,M) when trans_a (op_a transposes it); b[i] is stored (K,N), or (N,K) when trans_b.
 * With broadcast_b, b is one matrix used for every i (a (batch,M,K) times a weight (K,N), say). All arrays are
 * contiguous and row-major. Products go through leap_sgemm_cpu (OpenBLAS), whose results do not depend on the
 * number of threads; the choice between one threaded product at a time and many single-threaded products in
 * parallel depends only on the shapes, so results are bit-identical whatever the number of threads. */
#ifndef LEAP_KERNELS_MATMUL_MATMUL_H
#define LEAP_KERNELS_MATMUL_MATMUL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct leap_matmul_shape {
  int64_t batch, M, N, K;
  bool trans_a;     /* a[i] is stored (K,M) */
  bool trans_b;     /* b[i] is stored (N,K) */
  bool broadcast_b; /* one b for the whole batch */
} leap_matmul_shape;

/* out = op_a(a) op_b(b). */
void leap_matmul_forward_cpu(float *out,     /* (batch,M,N) */
                             const float *a, /* (batch,M,K), or (batch,K,M) when trans_a */
                             const float *b, /* (batch,K,N), or (batch,N,K) when trans_b; no batch dim if broadcast */
                             const leap_matmul_shape *s);

/* Gradients of the product. ACCUMULATES: da += dL/da, db += dL/db, in a's and b's stored layouts; either may be
 * NULL when not wanted. For a broadcast b, db sums over the batch in batch order. */
void leap_matmul_backward_cpu(float *da,         /* like a, or NULL */
                              float *db,         /* like b, or NULL */
                              const float *dout, /* (batch,M,N) */
                              const float *a,    /* like a */
                              const float *b,    /* like b */
                              const leap_matmul_shape *s);

#endif
