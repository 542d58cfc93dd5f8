/* Optimizer updates over one flat fp32 parameter array, each a single fused pass, following torch.optim's
 * single-tensor formulas; and the pieces of global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).
 *
 * Clipping is folded into the updates: the caller sums leap_sum_squares_cpu over every gradient (in parameter
 * order, so the total is deterministic), turns the total into a factor with leap_clip_scale, and passes it as
 * grad_scale, which multiplies the gradient before anything else. */
#ifndef LEAP_KERNELS_OPTIM_OPTIM_H
#define LEAP_KERNELS_OPTIM_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One torch.optim.AdamW step (amsgrad off), in place, with g = grad * grad_scale:
 *   param *= 1 - lr * weight_decay                      (decoupled weight decay)
 *   m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
 *   param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 * step is 1-based (the number of this update) and drives the bias corrections. */
void leap_adamw_update_cpu(float *param /* (n) */, float *m /* (n) */, float *v /* (n) */, const float *grad /* (n) */,
                           int64_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                           int64_t step /* 1-based, for bias correction */, float grad_scale);

/* One torch.optim.SGD step (dampening 0), in place, with g = grad * grad_scale:
 *   d = g + weight_decay * param
 *   if momentum != 0: buf = first_step ? d : momentum * buf + d;  d = nesterov ? d + momentum * buf : buf
 *   param -= lr * d
 * momentum_buf may be NULL when momentum is 0. first_step is true for the first update after the buffer was
 * created (torch's "buffer is None"), whatever the buffer holds. */
void leap_sgd_update_cpu(float *param /* (n) */, float *momentum_buf /* (n) or NULL */, const float *grad /* (n) */,
                         int64_t n, float lr, float momentum, float weight_decay, bool nesterov, bool first_step,
                         float grad_scale);

/* Sum of x[i]^2 in double, bit-identical whatever the thread count: x is cut into fixed chunks whose size depends
 * on n only, each chunk is summed in a fixed order, and the chunk partials are added in chunk order. */
double leap_sum_squares_cpu(const float *x /* (n) */, int64_t n);

/* The factor clip_grad_norm_ multiplies gradients by: min(1, max_norm / (sqrt(total_sum_squares) + 1e-6)).
 * A NaN total gives NaN (as torch does), so a non-finite gradient is not silently hidden. */
float leap_clip_scale(double total_sum_squares, float max_norm);

#ifdef __cplusplus
}
#endif

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md). Parameters, gradients and optimizer state are fp32 device arrays. Each update is
 * one pass that also writes param_lowp, the parameter's bf16 copy (the weight_lowp the bf16 products read), when it
 * is not NULL. The gradient factor is *grad_scale_dev when that device pointer is not NULL (the clip factor
 * computed on the device by leap_clip_scale_cuda, so that no host synchronisation is needed), else grad_scale.
 * The formulas and their fp32 order are the CPU's. */
void leap_adamw_update_cuda(float *param /* (n) */, float *m /* (n) */, float *v /* (n) */,
                            const float *grad /* (n) */, void *param_lowp /* (n) bf16 or NULL */, int64_t n, float lr,
                            float beta1, float beta2, float eps, float weight_decay,
                            int64_t step /* 1-based, for bias correction */, float grad_scale,
                            const float *grad_scale_dev /* (1) or NULL */, leap_cuda_stream stream);

void leap_sgd_update_cuda(float *param /* (n) */, float *momentum_buf /* (n) or NULL */, const float *grad /* (n) */,
                          void *param_lowp /* (n) bf16 or NULL */, int64_t n, float lr, float momentum,
                          float weight_decay, bool nesterov, bool first_step, float grad_scale,
                          const float *grad_scale_dev /* (1) or NULL */, leap_cuda_stream stream);

/* Floats of workspace leap_sum_squares_cuda needs for n elements (it holds doubles: pass 8-byte aligned memory);
 * 0 when it needs none (NULL allowed). */
size_t leap_sum_squares_workspace_floats_cuda(int64_t n);

/* *total += sum of x[i]^2, in double, deterministic (fixed chunks and a fixed tree, see optim_cuda.cu; not the
 * CPU's order). Zero *total first (cudaMemsetAsync), then call once per gradient in parameter order. */
void leap_sum_squares_cuda(double *total /* (1) device */, float *workspace, const float *x /* (n) */, int64_t n,
                           leap_cuda_stream stream);

/* *scale = leap_clip_scale(*total_sum_squares, max_norm), on the device; bit-identical to the CPU function. */
void leap_clip_scale_cuda(float *scale /* (1) device */, const double *total_sum_squares /* (1) device */,
                          float max_norm, leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
