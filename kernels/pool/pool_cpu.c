/* CPU pooling over NHWC. Every loop's innermost dimension is the channel, which is contiguous, so each window
 * position is one vector operation over C.
 *
 * Overlapping windows (stride < window) send gradient from several outputs to one input, so the backward passes
 * never scatter from outputs on several threads: max pool gives each thread whole images, and average pool
 * gathers, for each input row, the outputs whose windows cover it. Either way an input element receives its terms
 * in a fixed order, whatever the number of threads. */
#include "kernels/pool/pool.h"

#include <math.h>

#include "kernels/common/kernel_common.h"

/* Channels per tile of the global average pool: the tile's accumulators live on the stack. */
#define POOL_CHANNEL_TILE 64

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Floor and ceiling of a / b for b > 0 and any sign of a. */
static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

void leap_pool_shape_init(leap_pool_shape *s, int64_t N, int64_t H, int64_t W, int64_t C, int64_t kh, int64_t kw,
                          int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  *s = (leap_pool_shape){.N = N, .H = H, .W = W, .C = C, .kh = kh, .kw = kw, .stride_h = stride_h,
                         .stride_w = stride_w, .pad_h = pad_h, .pad_w = pad_w};
  s->P = (H + 2 * pad_h - kh) / stride_h + 1;
  s->Q = (W + 2 * pad_w - kw) / stride_w + 1;
}

/* The input positions [*lo, *hi) along one axis that window o covers inside the image. */
static void window_range(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t size, int64_t *lo, int64_t *hi) {
  int64_t start = o * stride - pad;
  *lo = max64(start, 0);
  *hi = min64(start + k, size);
}

/* The windows [*lo, *hi) along one axis (out of n) that cover input position i. */
static void windows_covering(int64_t i, int64_t stride, int64_t pad, int64_t k, int64_t n, int64_t *lo,
                             int64_t *hi) {
  *lo = max64(0, ceil_div(i + pad - k + 1, stride));
  *hi = min64(n, floor_div(i + pad, stride) + 1);
}

/* One max-pool window over rows [h0,h1) and columns [w0,w1) of an image plane (H,W,C). */
static void maxpool_window(float *LEAP_RESTRICT o, int32_t *LEAP_RESTRICT a, const float *LEAP_RESTRICT plane,
                           const leap_pool_shape *s, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
  const int64_t C = s->C;
  for (int64_t c = 0; c < C; c++) o[c] = -INFINITY, a[c] = -1;
  for (int64_t h = h0; h < h1; h++)
    for (int64_t w = w0; w < w1; w++) {
      const float *x = plane + (h * s->W + w) * C;
      int32_t idx = (int32_t)(h * s->W + w);
      for (int64_t c = 0; c < C; c++)
        if (x[c] > o[c] || isnan(x[c])) o[c] = x[c], a[c] = idx;
    }
}

void leap_maxpool_forward_cpu(float *out, int32_t *argmax, const float *inp, const leap_pool_shape *s) {
  const int64_t C = s->C, lines = s->N * s->P;
  LEAP_OMP_FOR
  for (int64_t line = 0; line < lines; line++) {
    int64_t n = line / s->P, p = line % s->P, h0, h1;
    window_range(p, s->stride_h, s->pad_h, s->kh, s->H, &h0, &h1);
    for (int64_t q = 0; q < s->Q; q++) {
      int64_t w0, w1, at = (line * s->Q + q) * C;
      window_range(q, s->stride_w, s->pad_w, s->kw, s->W, &w0, &w1);
      maxpool_window(out + at, argmax + at, inp + n * s->H * s->W * C, s, h0, h1, w0, w1);
    }
  }
}

void leap_maxpool_backward_cpu(float *dinp, const float *dout, const int32_t *argmax, const leap_pool_shape *s) {
  const int64_t C = s->C, PQ = s->P * s->Q;
  LEAP_OMP_FOR
  for (int64_t n = 0; n < s->N; n++) {
    float *plane = dinp + n * s->H * s->W * C;
    for (int64_t i = 0; i < PQ; i++) {
      const float *g = dout + (n * PQ + i) * C;
      const int32_t *a = argmax + (n * PQ + i) * C;
      for (int64_t c = 0; c < C; c++)
        if (a[c] >= 0) plane[(int64_t)a[c] * C + c] += g[c];
    }
  }
}

void leap_avgpool_forward_cpu(float *out, const float *inp, const leap_pool_shape *s) {
  const int64_t C = s->C, lines = s->N * s->P;
  LEAP_OMP_FOR
  for (int64_t line = 0; line < lines; line++) {
    int64_t n = line / s->P, p = line % s->P, h0, h1;
    window_range(p, s->stride_h, s->pad_h, s->kh, s->H, &h0, &h1);
    for (int64_t q = 0; q < s->Q; q++) {
      int64_t w0, w1;
      window_range(q, s->stride_w, s->pad_w, s->kw, s->W, &w0, &w1);
      float *LEAP_RESTRICT o = out + (line * s->Q + q) * C;
      for (int64_t c = 0; c < C; c++) o[c] = 0.0f;
      for (int64_t h = h0; h < h1; h++)
        for (int64_t w = w0; w < w1; w++) {
          const float *LEAP_RESTRICT x = inp + ((n * s->H + h) * s->W + w) * C;
          for (int64_t c = 0; c < C; c++) o[c] += x[c];
        }
      float count = (float)((h1 - h0) * (w1 - w0));
      for (int64_t c = 0; c < C; c++) o[c] /= count;
    }
  }
}

/* dinp row (n,h) += each covering window's gradient over its count, by window row and then window column. */
static void avgpool_backward_row(float *LEAP_RESTRICT drow, const float *LEAP_RESTRICT dout,
                                 const leap_pool_shape *s, int64_t n, int64_t h) {
  const int64_t C = s->C;
  int64_t plo, phi;
  windows_covering(h, s->stride_h, s->pad_h, s->kh, s->P, &plo, &phi);
  for (int64_t p = plo; p < phi; p++) {
    int64_t h0, h1;
    window_range(p, s->stride_h, s->pad_h, s->kh, s->H, &h0, &h1);
    for (int64_t w = 0; w < s->W; w++) {
      int64_t qlo, qhi;
      windows_covering(w, s->stride_w, s->pad_w, s->kw, s->Q, &qlo, &qhi);
      float *LEAP_RESTRICT d = drow + w * C;
      for (int64_t q = qlo; q < qhi; q++) {
        int64_t w0, w1;
        window_range(q, s->stride_w, s->pad_w, s->kw, s->W, &w0, &w1);
        float count = (float)((h1 - h0) * (w1 - w0));
        const float *LEAP_RESTRICT g = dout + ((n * s->P + p) * s->Q + q) * C;
        for (int64_t c = 0; c < C; c++) d[c] += g[c] / count;
      }
    }
  }
}

void leap_avgpool_backward_cpu(float *dinp, const float *dout, const leap_pool_shape *s) {
  const int64_t rows = s->N * s->H;
  LEAP_OMP_FOR
  for (int64_t row = 0; row < rows; row++)
    avgpool_backward_row(dinp + row * s->W * s->C, dout, s, row / s->H, row % s->H);
}

/* The fixed-block scheme of kernel_common.h over the HW rows of one image, for channels [c0, c0+nc): each block of
 * LEAP_REDUCE_BLOCK rows is summed in row order, and the block sums are added in block order. */
static void global_avgpool_tile(float *LEAP_RESTRICT out, const float *LEAP_RESTRICT x, int64_t HW, int64_t C,
                                int64_t nc) {
  float acc[POOL_CHANNEL_TILE] = {0}, part[POOL_CHANNEL_TILE];
  for (int64_t r0 = 0; r0 < HW; r0 += LEAP_REDUCE_BLOCK) {
    for (int64_t c = 0; c < nc; c++) part[c] = 0.0f;
    int64_t r1 = min64(HW, r0 + LEAP_REDUCE_BLOCK);
    for (int64_t r = r0; r < r1; r++)
      for (int64_t c = 0; c < nc; c++) part[c] += x[r * C + c];
    for (int64_t c = 0; c < nc; c++) acc[c] += part[c];
  }
  for (int64_t c = 0; c < nc; c++) out[c] = acc[c] / (float)HW;
}

void leap_global_avgpool_forward_cpu(float *out, const float *inp, int64_t N, int64_t HW, int64_t C) {
  const int64_t tiles = (C + POOL_CHANNEL_TILE - 1) / POOL_CHANNEL_TILE;
  LEAP_OMP_FOR
  for (int64_t item = 0; item < N * tiles; item++) {
    int64_t n = item / tiles, c0 = item % tiles * POOL_CHANNEL_TILE;
    global_avgpool_tile(out + n * C + c0, inp + n * HW * C + c0, HW, C, min64(POOL_CHANNEL_TILE, C - c0));
  }
}

void leap_global_avgpool_backward_cpu(float *dinp, const float *dout, int64_t N, int64_t HW, int64_t C) {
  LEAP_OMP_FOR
  for (int64_t row = 0; row < N * HW; row++) {
    float *LEAP_RESTRICT d = dinp + row * C;
    const float *LEAP_RESTRICT g = dout + row / HW * C;
    for (int64_t c = 0; c < C; c++) d[c] += g[c] / (float)HW;
  }
}
