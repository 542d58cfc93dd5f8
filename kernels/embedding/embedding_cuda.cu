/* Embedding lookup and its gradient on the GPU (embedding.h).
 *
 * Forward: one thread per output element, a gather from the fp32 table converted to the activation type.
 *
 * Backward, deterministic without atomics or sorting: the work is split by column and by id class. Thread block
 * (cb, s) owns columns [cb * EMBED_COLS, (cb + 1) * EMBED_COLS) of every table row whose id satisfies
 * id % EMBED_ID_CLASSES == s, so each element of dtable has exactly one owner. The block walks all N ids in order
 * (staged through shared memory EMBED_ID_CHUNK at a time; the test id % classes == s is the same for the whole
 * block, so it never diverges) and each thread adds dout[n, c] into its column of row ids[n]. A thread keeps the
 * running value of the row it touched last in a register and writes it back when the id changes, which is the
 * CPU's sequence of additions exactly: every dtable element receives its rows' gradients one by one in the order
 * n = 0, 1, ..., N-1, in fp32, so the result equals the CPU's bit for bit. */
#include "kernels/embedding/embedding.h"

#include "kernels/common/cuda_common.cuh"

#define EMBED_FWD_THREADS 256
#define EMBED_FWD_MAX_BLOCKS 65535
/* Backward: columns per block (one thread each), id classes (blocks along y), ids staged per shared-memory load. */
#define EMBED_COLS 128
#define EMBED_ID_CLASSES 64
#define EMBED_ID_CHUNK 1024

static_assert((EMBED_ID_CLASSES & (EMBED_ID_CLASSES - 1)) == 0, "the id class is a bit mask");

/* out[n, c] = table[ids[n], c]: one thread per output element, grid-stride (coalesced along c). */
template <typename T>
__global__ void embedding_forward_kernel(T *out, const int32_t *ids, const float *table, int64_t N, int64_t C) {
  int64_t total = N * C;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t n = i / C, c = i % C;
    leap_store(out, (size_t)i, table[(int64_t)ids[n] * C + c]);
  }
}

/* Block (cb, s): columns cb * EMBED_COLS + threadIdx.x of the rows whose id is in class s; see the file comment. */
template <typename T>
__global__ void embedding_backward_kernel(float *dtable, const T *dout, const int32_t *ids, int64_t N, int64_t C) {
  __shared__ int32_t chunk[EMBED_ID_CHUNK];
  const int64_t c = (int64_t)blockIdx.x * EMBED_COLS + threadIdx.x;
  const uint32_t cls = blockIdx.y;
  int64_t current = -1; /* the row whose value `acc` holds */
  float acc = 0.0f;
  for (int64_t n0 = 0; n0 < N; n0 += EMBED_ID_CHUNK) {
    int64_t len = N - n0 < EMBED_ID_CHUNK ? N - n0 : EMBED_ID_CHUNK;
    __syncthreads();
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) chunk[k] = ids[n0 + k];
    __syncthreads();
    if (c >= C) continue;
    for (int64_t k = 0; k < len; k++) {
      int64_t id = chunk[k];
      if (((uint32_t)id & (EMBED_ID_CLASSES - 1)) != cls) continue;
      if (id != current) {
        if (current >= 0) dtable[current * C + c] = acc;
        current = id;
        acc = dtable[id * C + c];
      }
      acc += leap_load(dout, (size_t)((n0 + k) * C + c));
    }
  }
  if (c < C && current >= 0) dtable[current * C + c] = acc;
}

LEAP_EXTERN_C_BEGIN

void leap_embedding_forward_cuda(void *out, const int32_t *ids, const float *table, int64_t N, int64_t C,
                                 leap_dtype act, leap_cuda_stream stream) {
  if (N <= 0 || C <= 0) return;
  int64_t blocks = (N * C + EMBED_FWD_THREADS - 1) / EMBED_FWD_THREADS;
  unsigned grid = (unsigned)(blocks > EMBED_FWD_MAX_BLOCKS ? EMBED_FWD_MAX_BLOCKS : blocks);
  LEAP_DISPATCH_ACT(act, T, {
    embedding_forward_kernel<T><<<grid, EMBED_FWD_THREADS, 0, (cudaStream_t)stream>>>((T *)out, ids, table, N, C);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

void leap_embedding_backward_cuda(float *dtable, const void *dout, const int32_t *ids, int64_t N, int64_t C,
                                  leap_dtype act, leap_cuda_stream stream) {
  if (N <= 0 || C <= 0) return;
  dim3 grid((unsigned)((C + EMBED_COLS - 1) / EMBED_COLS), EMBED_ID_CLASSES);
  LEAP_DISPATCH_ACT(act, T, {
    embedding_backward_kernel<T><<<grid, EMBED_COLS, 0, (cudaStream_t)stream>>>(dtable, (const T *)dout, ids, N, C);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

LEAP_EXTERN_C_END
