/* cuDNN's convolution as the BASELINE of the implicit-GEMM kernels (compiled only with LEAP_WITH_CUDNN; never the
 * engine's default path): the same NHWC activations, KRSC filter (cuDNN's NHWC filter format) and precision (bf16
 * data with fp32 accumulation on tensor cores in bf16 mode, fp32 with FMA math, no TF32, in fp32 mode).
 *
 * A context holds the cuDNN handle, a small cache of per-shape plans (tensor, filter and convolution descriptors
 * and, per pass, the algorithm cudnnFind* measured fastest with its workspace size; each pass is measured the
 * first time it runs for a shape) and the device buffers it grows as shapes need: the algorithms' workspace, a bf16
 * copy of an fp32 weight (bf16 mode without weight_lowp), the bf16 filter gradient and the bias-gradient chunks.
 * What cuDNN's legacy API does not do the way leap's contract asks is done by small kernels here: the bias and
 * fused ReLU after the forward convolution, adding the bf16 filter gradient into the fp32 dweight, and the bias
 * gradient (the fixed-order reduction of conv2d_reduce.cuh). Every cuDNN status is checked by LEAP_CUDNN_CHECK. */
#include <cudnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/cuda_common.cuh"
#include "kernels/common/cudnn_common.cuh"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_reduce.cuh"

/* Plans a context keeps (the oldest is replaced beyond that), and algorithms asked of each cudnnFind*. */
#define CUDNN_PLANS 32
#define CUDNN_FIND_ALGOS 16
#define CUDNN_EW_THREADS 256
#define CUDNN_EW_MAX_BLOCKS 65535

typedef struct cudnn_plan {
  bool used;
  leap_conv2d_shape s;
  leap_dtype act;
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  bool have_fwd, have_data, have_filter;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t data;
  cudnnConvolutionBwdFilterAlgo_t filter;
  size_t fwd_bytes, data_bytes, filter_bytes;
} cudnn_plan;

struct leap_conv2d_cudnn {
  cudnnHandle_t handle;
  cudnn_plan plans[CUDNN_PLANS];
  int next; /* the plan slot a new shape takes */
  void *workspace, *weight_bf16, *dweight_bf16;
  float *bias_part;
  size_t workspace_bytes, weight_bf16_bytes, dweight_bf16_bytes, bias_part_bytes;
};

/* *buf holds at least `need` bytes afterwards (cudaFree waits for the work that may still use the old buffer). */
static void ensure_bytes(void **buf, size_t *have, size_t need) {
  if (need <= *have) return;
  if (*buf) LEAP_CUDA_CHECK(cudaFree(*buf));
  *buf = NULL;
  LEAP_CUDA_CHECK(cudaMalloc(buf, need));
  *have = need;
}

static unsigned ew_grid(int64_t n) {
  int64_t blocks = (n + CUDNN_EW_THREADS - 1) / CUDNN_EW_THREADS;
  return (unsigned)(blocks < CUDNN_EW_MAX_BLOCKS ? blocks : CUDNN_EW_MAX_BLOCKS);
}

/* out[m][k] = out[m][k] + bias[k], clamped at 0 when relu. */
template <typename T>
__global__ void cudnn_bias_relu_kernel(T *out, const float *bias, int64_t n, int64_t K, bool relu) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float v = leap_load(out, (size_t)i) + (bias ? bias[i % K] : 0.0f);
    leap_store(out, (size_t)i, relu && v < 0.0f ? 0.0f : v);
  }
}

__global__ void cudnn_to_bf16_kernel(__nv_bfloat16 *dst, const float *src, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = __float2bfloat16(src[i]);
}

__global__ void cudnn_add_bf16_kernel(float *dst, const __nv_bfloat16 *src, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dst[i] += __bfloat162float(src[i]);
}

static int int_dim(int64_t v) {
  if (v < 0 || v > 0x7fffffff) {
    fprintf(stderr, "leap: fatal: conv2d_cudnn: dimension %lld does not fit cuDNN's int\n", (long long)v);
    abort();
  }
  return (int)v;
}

static void plan_init(cudnn_plan *p, const leap_conv2d_shape *s, leap_dtype act) {
  const cudnnDataType_t type = act == LEAP_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  memset(p, 0, sizeof *p);
  p->used = true;
  p->s = *s;
  p->act = act;
  LEAP_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  LEAP_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  LEAP_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  LEAP_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  LEAP_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, type, int_dim(s->N), int_dim(s->C),
                                              int_dim(s->H), int_dim(s->W)));
  LEAP_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, type, int_dim(s->N), int_dim(s->K),
                                              int_dim(s->P), int_dim(s->Q)));
  LEAP_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, type, CUDNN_TENSOR_NHWC, int_dim(s->K), int_dim(s->C),
                                              int_dim(s->R), int_dim(s->S)));
  LEAP_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, int_dim(s->pad_h), int_dim(s->pad_w),
                                                   int_dim(s->stride_h), int_dim(s->stride_w), 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  LEAP_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, act == LEAP_BF16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
}

static void plan_free(cudnn_plan *p) {
  if (!p->used) return;
  LEAP_CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->x));
  LEAP_CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->y));
  LEAP_CUDNN_CHECK(cudnnDestroyFilterDescriptor(p->w));
  LEAP_CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(p->conv));
  p->used = false;
}

static cudnn_plan *plan_for(leap_conv2d_cudnn *c, const leap_conv2d_shape *s, leap_dtype act) {
  for (int i = 0; i < CUDNN_PLANS; i++)
    if (c->plans[i].used && c->plans[i].act == act && !memcmp(&c->plans[i].s, s, sizeof *s)) return &c->plans[i];
  cudnn_plan *p = &c->plans[c->next];
  c->next = (c->next + 1) % CUDNN_PLANS;
  plan_free(p);
  plan_init(p, s, act);
  return p;
}

/* The first (fastest) of cudnnFind*'s results that succeeded, preferring the descriptor's math type. */
template <typename Perf>
static int pick(const Perf *perf, int n, cudnnMathType_t math, const char *pass) {
  int any = -1;
  for (int i = 0; i < n; i++) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (perf[i].mathType == math) return i;
    if (any < 0) any = i;
  }
  if (any < 0) {
    fprintf(stderr, "leap: fatal: conv2d_cudnn: cuDNN has no %s algorithm for this shape\n", pass);
    abort();
  }
  return any;
}

static cudnnMathType_t plan_math(const cudnn_plan *p) {
  return p->act == LEAP_BF16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
}

static void find_forward(leap_conv2d_cudnn *c, cudnn_plan *p) {
  if (p->have_fwd) return;
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_FIND_ALGOS];
  int n = 0;
  LEAP_CUDNN_CHECK(
      cudnnFindConvolutionForwardAlgorithm(c->handle, p->x, p->w, p->conv, p->y, CUDNN_FIND_ALGOS, &n, perf));
  int i = pick(perf, n, plan_math(p), "forward");
  p->fwd = perf[i].algo;
  LEAP_CUDNN_CHECK(
      cudnnGetConvolutionForwardWorkspaceSize(c->handle, p->x, p->w, p->conv, p->y, p->fwd, &p->fwd_bytes));
  p->have_fwd = true;
}

static void find_data(leap_conv2d_cudnn *c, cudnn_plan *p) {
  if (p->have_data) return;
  cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_FIND_ALGOS];
  int n = 0;
  LEAP_CUDNN_CHECK(
      cudnnFindConvolutionBackwardDataAlgorithm(c->handle, p->w, p->y, p->conv, p->x, CUDNN_FIND_ALGOS, &n, perf));
  int i = pick(perf, n, plan_math(p), "backward-data");
  p->data = perf[i].algo;
  LEAP_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(c->handle, p->w, p->y, p->conv, p->x, p->data,
                                                                &p->data_bytes));
  p->have_data = true;
}

static void find_filter(leap_conv2d_cudnn *c, cudnn_plan *p) {
  if (p->have_filter) return;
  cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_FIND_ALGOS];
  int n = 0;
  LEAP_CUDNN_CHECK(
      cudnnFindConvolutionBackwardFilterAlgorithm(c->handle, p->x, p->y, p->conv, p->w, CUDNN_FIND_ALGOS, &n, perf));
  int i = pick(perf, n, plan_math(p), "backward-filter");
  p->filter = perf[i].algo;
  LEAP_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(c->handle, p->x, p->y, p->conv, p->w, p->filter,
                                                                  &p->filter_bytes));
  p->have_filter = true;
}

/* The weight as cuDNN reads it: fp32 in fp32 mode, the bf16 copy in bf16 mode (made here when not given). */
static const void *weight_for(leap_conv2d_cudnn *c, const float *weight, const void *weight_lowp,
                              const leap_conv2d_shape *s, leap_dtype act, cudaStream_t stream) {
  if (act != LEAP_BF16) return weight;
  if (weight_lowp) return weight_lowp;
  int64_t n = s->K * s->R * s->S * s->C;
  ensure_bytes(&c->weight_bf16, &c->weight_bf16_bytes, (size_t)n * sizeof(__nv_bfloat16));
  cudnn_to_bf16_kernel<<<ew_grid(n), CUDNN_EW_THREADS, 0, stream>>>((__nv_bfloat16 *)c->weight_bf16, weight, n);
  LEAP_CUDA_LAUNCH_CHECK();
  return c->weight_bf16;
}

LEAP_EXTERN_C_BEGIN

leap_conv2d_cudnn *leap_conv2d_cudnn_create(void) {
  leap_conv2d_cudnn *c = (leap_conv2d_cudnn *)calloc(1, sizeof *c);
  if (!c) {
    fprintf(stderr, "leap: fatal: conv2d_cudnn: out of host memory\n");
    abort();
  }
  LEAP_CUDNN_CHECK(cudnnCreate(&c->handle));
  return c;
}

void leap_conv2d_cudnn_destroy(leap_conv2d_cudnn *c) {
  if (!c) return;
  for (int i = 0; i < CUDNN_PLANS; i++) plan_free(&c->plans[i]);
  void *bufs[] = {c->workspace, c->weight_bf16, c->dweight_bf16, c->bias_part};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
    if (bufs[i]) LEAP_CUDA_CHECK(cudaFree(bufs[i]));
  LEAP_CUDNN_CHECK(cudnnDestroy(c->handle));
  free(c);
}

void leap_conv2d_forward_cudnn(leap_conv2d_cudnn *c, void *out, const void *inp, const float *weight,
                               const void *weight_lowp, const float *bias, bool relu, const leap_conv2d_shape *s,
                               leap_dtype act, leap_cuda_stream stream) {
  if (s->N * s->P * s->Q * s->K == 0) return;
  LEAP_CUDNN_CHECK(cudnnSetStream(c->handle, stream));
  cudnn_plan *p = plan_for(c, s, act);
  find_forward(c, p);
  ensure_bytes(&c->workspace, &c->workspace_bytes, p->fwd_bytes);
  const void *w = weight_for(c, weight, weight_lowp, s, act, stream);
  const float one = 1.0f, zero = 0.0f;
  LEAP_CUDNN_CHECK(cudnnConvolutionForward(c->handle, &one, p->x, inp, p->w, w, p->conv, p->fwd, c->workspace,
                                           p->fwd_bytes, &zero, p->y, out));
  if (bias || relu) {
    int64_t n = s->N * s->P * s->Q * s->K;
    LEAP_DISPATCH_ACT(act, T, {
      cudnn_bias_relu_kernel<T><<<ew_grid(n), CUDNN_EW_THREADS, 0, stream>>>(static_cast<T *>(out), bias, n, s->K,
                                                                             relu);
      LEAP_CUDA_LAUNCH_CHECK();
    });
  }
}

void leap_conv2d_backward_cudnn(leap_conv2d_cudnn *c, void *dinp, float *dweight, float *dbias, const void *dout,
                                const void *inp, const float *weight, const void *weight_lowp,
                                const leap_conv2d_shape *s, leap_dtype act, leap_cuda_stream stream) {
  if (s->N * s->P * s->Q * s->K == 0) return;
  LEAP_CUDNN_CHECK(cudnnSetStream(c->handle, stream));
  cudnn_plan *p = plan_for(c, s, act);
  const float one = 1.0f, zero = 0.0f;
  if (dinp) {
    find_data(c, p);
    ensure_bytes(&c->workspace, &c->workspace_bytes, p->data_bytes);
    const void *w = weight_for(c, weight, weight_lowp, s, act, stream);
    LEAP_CUDNN_CHECK(cudnnConvolutionBackwardData(c->handle, &one, p->w, w, p->y, dout, p->conv, p->data, c->workspace,
                                                  p->data_bytes, &one, p->x, dinp));
  }
  if (dweight) {
    find_filter(c, p);
    ensure_bytes(&c->workspace, &c->workspace_bytes, p->filter_bytes);
    int64_t n = s->K * s->R * s->S * s->C;
    if (act == LEAP_BF16) {
      /* cuDNN's filter gradient has the data's type: bf16 into the context's buffer, then added to the fp32 one. */
      ensure_bytes(&c->dweight_bf16, &c->dweight_bf16_bytes, (size_t)n * sizeof(__nv_bfloat16));
      LEAP_CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->handle, &one, p->x, inp, p->y, dout, p->conv, p->filter,
                                                      c->workspace, p->filter_bytes, &zero, p->w, c->dweight_bf16));
      const __nv_bfloat16 *dw_bf16 = (const __nv_bfloat16 *)c->dweight_bf16;
      cudnn_add_bf16_kernel<<<ew_grid(n), CUDNN_EW_THREADS, 0, stream>>>(dweight, dw_bf16, n);
      LEAP_CUDA_LAUNCH_CHECK();
    } else {
      LEAP_CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->handle, &one, p->x, inp, p->y, dout, p->conv, p->filter,
                                                      c->workspace, p->filter_bytes, &one, p->w, dweight));
    }
  }
  if (dbias) {
    int64_t rows = s->N * s->P * s->Q;
    ensure_bytes((void **)&c->bias_part, &c->bias_part_bytes,
                 (size_t)(leap_conv_bias_chunks(rows) * s->K) * sizeof(float));
    LEAP_DISPATCH_ACT(act, T,
                      leap_conv_bias_grad<T>(dbias, c->bias_part, static_cast<const T *>(dout), rows, s->K, stream));
  }
}

LEAP_EXTERN_C_END
