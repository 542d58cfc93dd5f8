/* GELU (tanh approximation) and ReLU on the GPU (activation.h): one thread per element, grid-stride, fp32 math.
 * GELU uses the CPU's formulation, 0.5 * (1 + tanh(u)) = 1 / (1 + exp(-2u)), with the exponent clamped at
 * GELU_EXP_MAX as the CPU's exp clamps it, so that e * s stays finite (and no inf * 0) for very negative x. */
#include "kernels/activation/activation.h"

#include "kernels/common/cuda_common.cuh"

#define ACT_THREADS 256
#define ACT_MAX_BLOCKS 65535
#define GELU_K0 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_K1 0.044715f
#define GELU_EXP_MAX 88.0f

typedef enum act_kind { ACT_GELU, ACT_RELU } act_kind;

static unsigned act_blocks(int64_t n) {
  int64_t b = (n + ACT_THREADS - 1) / ACT_THREADS;
  return (unsigned)(b > ACT_MAX_BLOCKS ? ACT_MAX_BLOCKS : b);
}

/* s = sigmoid(2u), u = K0 * (x + K1 * x^3); *e_out = exp(-2u). */
__device__ __forceinline__ float gelu_gate(float x, float *e_out) {
  float u = GELU_K0 * x * (1.0f + GELU_K1 * x * x);
  float e = expf(fminf(-2.0f * u, GELU_EXP_MAX));
  *e_out = e;
  return 1.0f / (1.0f + e);
}

/* out[i] = gelu(x[i]) or relu(x[i]): one thread per element, grid-stride; in place is safe. */
template <act_kind K, typename T>
__global__ void act_forward_kernel(T *out, const T *inp, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float x = leap_load(inp, (size_t)i), e;
    if (K == ACT_GELU)
      leap_store(out, (size_t)i, x * gelu_gate(x, &e));
    else
      leap_store(out, (size_t)i, x < 0.0f ? 0.0f : x);
  }
}

/* gelu'(x) = s + 2 x u'(x) s (1 - s), with 1 - s = e s (exact for large x); relu'(x) = [x > 0]. */
template <act_kind K, typename T>
__global__ void act_backward_kernel(T *dinp, const T *dout, const T *inp, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float x = leap_load(inp, (size_t)i), g = leap_load(dout, (size_t)i), d;
    if (K == ACT_GELU) {
      float e, s = gelu_gate(x, &e);
      float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * x * x);
      d = g * (s + 2.0f * x * du * (e * s) * s);
    } else {
      d = x > 0.0f ? g : 0.0f;
    }
    leap_store(dinp, (size_t)i, leap_load(dinp, (size_t)i) + d);
  }
}

template <act_kind K>
static void forward(void *out, const void *inp, int64_t n, leap_dtype act, cudaStream_t st) {
  if (n <= 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    act_forward_kernel<K, T><<<act_blocks(n), ACT_THREADS, 0, st>>>((T *)out, (const T *)inp, n);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

template <act_kind K>
static void backward(void *dinp, const void *dout, const void *inp, int64_t n, leap_dtype act, cudaStream_t st) {
  if (n <= 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    act_backward_kernel<K, T><<<act_blocks(n), ACT_THREADS, 0, st>>>((T *)dinp, (const T *)dout, (const T *)inp, n);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

LEAP_EXTERN_C_BEGIN

void leap_gelu_forward_cuda(void *out, const void *inp, int64_t n, leap_dtype act, leap_cuda_stream stream) {
  forward<ACT_GELU>(out, inp, n, act, (cudaStream_t)stream);
}

void leap_gelu_backward_cuda(void *dinp, const void *dout, const void *inp, int64_t n, leap_dtype act,
                             leap_cuda_stream stream) {
  backward<ACT_GELU>(dinp, dout, inp, n, act, (cudaStream_t)stream);
}

void leap_relu_forward_cuda(void *out, const void *inp, int64_t n, leap_dtype act, leap_cuda_stream stream) {
  forward<ACT_RELU>(out, inp, n, act, (cudaStream_t)stream);
}

void leap_relu_backward_cuda(void *dinp, const void *dout, const void *inp, int64_t n, leap_dtype act,
                             leap_cuda_stream stream) {
  backward<ACT_RELU>(dinp, dout, inp, n, act, (cudaStream_t)stream);
}

LEAP_EXTERN_C_END
