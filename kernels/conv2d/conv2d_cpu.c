/* CPU conv2d: im2col in chunks of output rows, each chunk's matrix product on one thread.
 *
 * Forward. The N*P*Q output pixels are split into chunks of chunk_rows rows (a shape-only constant, so the split
 * is the same whatever the thread count). Each thread takes whole chunks: it builds the chunk's im2col matrix
 * col (rows,RSC) in its own slice of the workspace and calls a single-threaded sgemm out = col x weight^T (OpenBLAS
 * runs single-threaded inside an OpenMP region). The chunk is sized so that col stays in the core's L2. A 1x1,
 * stride-1, unpadded convolution needs no im2col: the input itself is the col matrix.
 *
 * Backward-filter. dweight = dout^T x col is a sum over all rows. Each chunk's product goes to a per-thread
 * partial, and the partials are added into dweight inside an `ordered` section, so that they are added in chunk
 * order whichever thread made them. dbias follows the fixed-block scheme of kernel_common.h: chunk_rows is a
 * multiple of LEAP_REDUCE_BLOCK, so each chunk holds whole blocks, whose partials are added in block order in the
 * same ordered section.
 *
 * Backward-data. dcol = dout x weight, then col2im adds each dcol row back onto its receptive field. Receptive
 * fields of neighbouring output lines overlap, so instead of scattering, each work item OWNS a range of input rows
 * of one image: it computes dcol for every output line that touches its rows (a few lines at its lower edge are
 * also computed by the item below) and adds only into its own rows. No two threads write the same element, and
 * every element receives its terms in a fixed order (output line, then output column), whatever the thread count.
 * Items are whole images (several per item when images are small) unless an image's dcol is too big for the
 * per-thread buffer, in which case images are cut into bands of output lines. */
#include "kernels/conv2d/conv2d.h"

#include <stdbool.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "kernels/blas/blas.h"
#include "kernels/common/kernel_common.h"

/* Floats of one thread's im2col chunk (1 MB): the chunk stays in L2 while sgemm reads it. */
#define CONV_COL_FLOATS ((int64_t)1 << 18)
/* Floats of one thread's dcol buffer (2 MB): a whole image of a typical small-image layer fits, so that bands,
 * which recompute the output lines at their edges, are only needed for large images. */
#define CONV_DCOL_FLOATS ((int64_t)1 << 19)
/* A small batch is still cut into at least this many chunks or items, so that threads have work to share. */
#define CONV_MIN_PIECES 8
/* Per-thread workspace slices start on a multiple of this many floats (a cache line), to avoid false sharing. */
#define CONV_ALIGN_FLOATS 16
/* Floats in one AVX-512 register. */
#define CONV_VEC 16

#ifdef LEAP_WITH_OPENMP
#define CONV_OMP(x) LEAP_PRAGMA(omp x)
static int thread_index(void) { return omp_get_thread_num(); }
#else
#define CONV_OMP(x)
static int thread_index(void) { return 0; }
#endif

/* How a shape is cut into chunks and items; a function of the shape only. */
typedef struct conv_plan {
  int64_t rows;             /* output pixels N*P*Q */
  int64_t rsc;              /* R*S*C: the length of one im2col row */
  bool direct;              /* 1x1, stride 1, no padding: the input is the im2col matrix */
  int64_t chunk_rows;       /* rows per chunk (forward, backward-filter), a multiple of LEAP_REDUCE_BLOCK */
  int64_t nchunks;
  int64_t bands;            /* backward-data bands per image (1: items are whole images) */
  int64_t band_lines;       /* output lines per band */
  int64_t images_per_item;  /* whole images per backward-data item when bands == 1 */
  int64_t nitems;
  int64_t dcol_rows;        /* rows of the largest dcol an item needs */
  int64_t col_floats;       /* per-thread im2col buffer */
  int64_t thread_floats;    /* per-thread workspace slice */
  int64_t shared_floats;    /* workspace before the thread slices (the dbias running total) */
} conv_plan;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : (x > hi ? hi : x); }
static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* Floor and ceiling of a / b for b > 0 and any sign of a. */
static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

void leap_conv2d_shape_init(leap_conv2d_shape *s, int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int64_t R,
                            int64_t S, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  *s = (leap_conv2d_shape){.N = N, .H = H, .W = W, .C = C, .K = K, .R = R, .S = S, .stride_h = stride_h,
                           .stride_w = stride_w, .pad_h = pad_h, .pad_w = pad_w};
  s->P = (H + 2 * pad_h - R) / stride_h + 1;
  s->Q = (W + 2 * pad_w - S) / stride_w + 1;
}

/* First input row owned by backward-data band b of an image (band `bands` gives the end, H). */
static int64_t band_first_row(const leap_conv2d_shape *s, const conv_plan *pl, int64_t b) {
  if (b == 0) return 0;
  if (b >= pl->bands) return s->H;
  return clamp64(b * pl->band_lines * s->stride_h - s->pad_h, 0, s->H);
}

/* The output lines [*lo, *hi) whose receptive fields touch input rows [h0, h1). */
static void lines_touching(const leap_conv2d_shape *s, int64_t h0, int64_t h1, int64_t *lo, int64_t *hi) {
  *lo = max64(0, ceil_div(h0 + s->pad_h - s->R + 1, s->stride_h));
  *hi = min64(s->P, floor_div(h1 - 1 + s->pad_h, s->stride_h) + 1);
}

/* Backward-data items: whole images when one image's dcol fits CONV_DCOL_FLOATS, bands of lines otherwise. */
static void plan_data_items(conv_plan *pl, const leap_conv2d_shape *s) {
  int64_t line_floats = max64(1, s->Q * pl->rsc);
  int64_t max_lines = max64(1, CONV_DCOL_FLOATS / line_floats);
  pl->bands = 1;
  pl->band_lines = s->P;
  pl->images_per_item = 1;
  if (max_lines >= s->P) {
    int64_t fit = max_lines / max64(1, s->P);
    pl->images_per_item = max64(1, min64(fit, s->N / CONV_MIN_PIECES));
    pl->nitems = (s->N + pl->images_per_item - 1) / pl->images_per_item;
    pl->dcol_rows = pl->images_per_item * s->P * s->Q;
    return;
  }
  int64_t halo = (s->R - 1) / s->stride_h; /* lines a band needs below its own */
  int64_t own = max64(1, max_lines - halo);
  pl->bands = (s->P + own - 1) / own;
  pl->band_lines = (s->P + pl->bands - 1) / pl->bands;
  pl->nitems = s->N * pl->bands;
  pl->dcol_rows = 0;
  for (int64_t b = 0; b < pl->bands; b++) {
    int64_t lo, hi;
    lines_touching(s, band_first_row(s, pl, b), band_first_row(s, pl, b + 1), &lo, &hi);
    pl->dcol_rows = max64(pl->dcol_rows, (hi - lo) * s->Q);
  }
}

static conv_plan make_plan(const leap_conv2d_shape *s) {
  conv_plan pl = {0};
  pl.rows = s->N * s->P * s->Q;
  pl.rsc = s->R * s->S * s->C;
  pl.direct = s->R == 1 && s->S == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_h == 0 && s->pad_w == 0;
  int64_t by_cache = CONV_COL_FLOATS / max64(1, pl.rsc) / LEAP_REDUCE_BLOCK * LEAP_REDUCE_BLOCK;
  int64_t by_balance = round_up((pl.rows + CONV_MIN_PIECES - 1) / CONV_MIN_PIECES, LEAP_REDUCE_BLOCK);
  pl.chunk_rows = max64(LEAP_REDUCE_BLOCK, min64(by_cache, by_balance));
  pl.nchunks = (pl.rows + pl.chunk_rows - 1) / pl.chunk_rows;
  plan_data_items(&pl, s);
  pl.col_floats = pl.direct ? 0 : round_up(pl.chunk_rows * pl.rsc, CONV_ALIGN_FLOATS);
  int64_t filter_floats = pl.col_floats + round_up(s->K * pl.rsc, CONV_ALIGN_FLOATS) +
                          pl.chunk_rows / LEAP_REDUCE_BLOCK * s->K;
  int64_t data_floats = pl.direct ? 0 : pl.dcol_rows * pl.rsc;
  pl.thread_floats = round_up(max64(filter_floats, data_floats), CONV_ALIGN_FLOATS);
  pl.shared_floats = round_up(s->K, CONV_ALIGN_FLOATS);
  return pl;
}

size_t leap_conv2d_workspace_floats(const leap_conv2d_shape *s, int threads) {
  conv_plan pl = make_plan(s);
  return (size_t)(pl.shared_floats + (threads < 1 ? 1 : threads) * pl.thread_floats);
}

/* dst[0:n) = src[0:n) and dst[0:n) = 0, for the short runs of im2col (S*C floats: 9 for a 3x3 kernel on RGB).
 * With AVX-512 they are whole-register moves plus one masked move, because a call to memcpy costs more than the
 * copy itself at these lengths (and the compiler turns a plain copy loop into exactly that call). */
#ifdef __AVX512F__
static inline void copy_run(float *dst, const float *src, int64_t n) {
  int64_t i = 0;
  for (; i + CONV_VEC <= n; i += CONV_VEC) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
  if (i < n) {
    __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
  }
}

static inline void zero_run(float *dst, int64_t n) {
  int64_t i = 0;
  for (; i + CONV_VEC <= n; i += CONV_VEC) _mm512_storeu_ps(dst + i, _mm512_setzero_ps());
  if (i < n) _mm512_mask_storeu_ps(dst + i, (__mmask16)((1u << (n - i)) - 1u), _mm512_setzero_ps());
}
#else
static inline void copy_run(float *dst, const float *src, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

static inline void zero_run(float *dst, int64_t n) { memset(dst, 0, (size_t)n * sizeof(float)); }
#endif

/* The im2col row of output pixel (n,p,q): for each kernel row r, the S pixels of the receptive field are adjacent
 * in the input, so they are one run of S*C floats, cut short with zeros where the field covers padding. */
static void im2col_pixel(float *dst, const float *inp, const leap_conv2d_shape *s, int64_t n, int64_t p, int64_t q) {
  const int64_t W = s->W, C = s->C, S = s->S, SC = s->S * s->C;
  int64_t w0 = q * s->stride_w - s->pad_w;
  int64_t s_lo = clamp64(-w0, 0, S), s_hi = clamp64(W - w0, s_lo, S);
  for (int64_t r = 0; r < s->R; r++, dst += SC) {
    int64_t h = p * s->stride_h - s->pad_h + r;
    if (h < 0 || h >= s->H || s_lo == s_hi) {
      zero_run(dst, SC);
      continue;
    }
    const float *src = inp + ((n * s->H + h) * W + w0 + s_lo) * C;
    if (s_lo > 0) zero_run(dst, s_lo * C);
    copy_run(dst + s_lo * C, src, (s_hi - s_lo) * C);
    if (s_hi < S) zero_run(dst + s_hi * C, (S - s_hi) * C);
  }
}

/* col (m,RSC) = the receptive fields of output pixels row0 .. row0+m-1. */
static void im2col_rows(float *col, const float *inp, const leap_conv2d_shape *s, int64_t row0, int64_t m) {
  int64_t q = row0 % s->Q, line = row0 / s->Q, p = line % s->P, n = line / s->P;
  for (int64_t i = 0; i < m; i++, col += s->R * s->S * s->C) {
    im2col_pixel(col, inp, s, n, p, q);
    if (++q == s->Q) {
      q = 0;
      if (++p == s->P) p = 0, n++;
    }
  }
}

/* The im2col matrix of rows row0 .. row0+m-1: the input itself for a direct convolution, else built into col. */
static const float *chunk_matrix(float *col, const float *inp, const leap_conv2d_shape *s, const conv_plan *pl,
                                 int64_t row0, int64_t m) {
  if (pl->direct) return inp + row0 * s->C;
  im2col_rows(col, inp, s, row0, m);
  return col;
}

static void add_rows(float *LEAP_RESTRICT dst, const float *LEAP_RESTRICT src, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

void leap_conv2d_forward_cpu(float *out, const float *inp, const float *weight, const float *bias,
                             const leap_conv2d_shape *s, float *workspace) {
  const conv_plan pl = make_plan(s);
  const int64_t K = s->K;
  if (pl.rows == 0 || K == 0) return;
  CONV_OMP(parallel)
  {
    float *col = workspace + pl.shared_floats + thread_index() * pl.thread_floats;
    CONV_OMP(for schedule(dynamic, 1))
    for (int64_t c = 0; c < pl.nchunks; c++) {
      int64_t row0 = c * pl.chunk_rows, m = min64(pl.chunk_rows, pl.rows - row0);
      const float *a = chunk_matrix(col, inp, s, &pl, row0, m);
      float *o = out + row0 * K;
      leap_sgemm_cpu(false, true, m, K, pl.rsc, 1.0f, a, pl.rsc, weight, pl.rsc, 0.0f, o, K);
      if (bias)
        for (int64_t i = 0; i < m; i++) add_rows(o + i * K, bias, K);
    }
  }
}

/* part (m/BLOCK rounded up, K): the sum of each LEAP_REDUCE_BLOCK rows of g (m,K), in row order. */
static void block_sums(float *LEAP_RESTRICT part, const float *LEAP_RESTRICT g, int64_t m, int64_t K) {
  for (int64_t b = 0; b * LEAP_REDUCE_BLOCK < m; b++) {
    float *acc = part + b * K;
    memset(acc, 0, (size_t)K * sizeof(float));
    int64_t end = min64(m, (b + 1) * LEAP_REDUCE_BLOCK);
    for (int64_t i = b * LEAP_REDUCE_BLOCK; i < end; i++) add_rows(acc, g + i * K, K);
  }
}

/* dweight += dout^T x col and dbias += column sums of dout, with partials added in chunk order. */
static void backward_filter(float *dweight, float *dbias, const float *dout, const float *inp,
                            const leap_conv2d_shape *s, const conv_plan *pl, float *workspace) {
  const int64_t K = s->K, rsc = pl->rsc;
  float *total = workspace;
  if (dbias) memset(total, 0, (size_t)K * sizeof(float));
  CONV_OMP(parallel)
  {
    float *col = workspace + pl->shared_floats + thread_index() * pl->thread_floats;
    float *part = col + pl->col_floats;
    float *bias_part = part + round_up(K * rsc, CONV_ALIGN_FLOATS);
    CONV_OMP(for ordered schedule(dynamic, 1))
    for (int64_t c = 0; c < pl->nchunks; c++) {
      int64_t row0 = c * pl->chunk_rows, m = min64(pl->chunk_rows, pl->rows - row0);
      const float *g = dout + row0 * K;
      if (dweight) {
        const float *a = chunk_matrix(col, inp, s, pl, row0, m);
        leap_sgemm_cpu(true, false, K, rsc, m, 1.0f, g, K, a, rsc, 0.0f, part, rsc);
      }
      if (dbias) block_sums(bias_part, g, m, K);
      CONV_OMP(ordered)
      {
        if (dweight) add_rows(dweight, part, K * rsc);
        if (dbias)
          for (int64_t b = 0; b * LEAP_REDUCE_BLOCK < m; b++) add_rows(total, bias_part + b * K, K);
      }
    }
  }
  if (dbias) add_rows(dbias, total, K);
}

/* dinp[n, h0:h1) += the dcol rows of image n's output lines [plo, phi), each added back onto its receptive field.
 * Only rows in [h0, h1) are written; an element receives its terms by output line, then output column. */
static void col2im_add(float *LEAP_RESTRICT dinp, const float *LEAP_RESTRICT dcol, const leap_conv2d_shape *s,
                       int64_t n, int64_t h0, int64_t h1, int64_t plo, int64_t phi) {
  const int64_t W = s->W, C = s->C, S = s->S, rsc = s->R * s->S * s->C;
  for (int64_t p = plo; p < phi; p++) {
    for (int64_t r = 0; r < s->R; r++) {
      int64_t h = p * s->stride_h - s->pad_h + r;
      if (h < h0 || h >= h1) continue;
      float *drow = dinp + (n * s->H + h) * W * C;
      const float *src = dcol + (p - plo) * s->Q * rsc + r * S * C;
      for (int64_t q = 0; q < s->Q; q++, src += rsc) {
        int64_t w0 = q * s->stride_w - s->pad_w;
        int64_t s_lo = clamp64(-w0, 0, S), s_hi = clamp64(W - w0, s_lo, S);
        add_rows(drow + (w0 + s_lo) * C, src + s_lo * C, (s_hi - s_lo) * C);
      }
    }
  }
}

/* One backward-data item: whole images (bands == 1) or one band of one image. */
static void backward_data_item(float *dinp, const float *dout, const float *weight, const leap_conv2d_shape *s,
                               const conv_plan *pl, int64_t item, float *dcol) {
  const int64_t PQ = s->P * s->Q;
  if (pl->bands == 1) {
    int64_t n0 = item * pl->images_per_item, n1 = min64(s->N, n0 + pl->images_per_item);
    leap_sgemm_cpu(false, false, (n1 - n0) * PQ, pl->rsc, s->K, 1.0f, dout + n0 * PQ * s->K, s->K, weight, pl->rsc,
                   0.0f, dcol, pl->rsc);
    for (int64_t n = n0; n < n1; n++) col2im_add(dinp, dcol + (n - n0) * PQ * pl->rsc, s, n, 0, s->H, 0, s->P);
    return;
  }
  int64_t n = item / pl->bands, b = item % pl->bands;
  int64_t h0 = band_first_row(s, pl, b), h1 = band_first_row(s, pl, b + 1), lo, hi;
  lines_touching(s, h0, h1, &lo, &hi);
  if (h0 >= h1 || lo >= hi) return;
  leap_sgemm_cpu(false, false, (hi - lo) * s->Q, pl->rsc, s->K, 1.0f, dout + (n * PQ + lo * s->Q) * s->K, s->K,
                 weight, pl->rsc, 0.0f, dcol, pl->rsc);
  col2im_add(dinp, dcol, s, n, h0, h1, lo, hi);
}

/* dinp += dout x weight, scattered back through col2im (or added directly for a direct convolution). */
static void backward_data(float *dinp, const float *dout, const float *weight, const leap_conv2d_shape *s,
                          const conv_plan *pl, float *workspace) {
  const int64_t K = s->K, C = s->C;
  if (pl->direct) {
    CONV_OMP(parallel for schedule(dynamic, 1))
    for (int64_t c = 0; c < pl->nchunks; c++) {
      int64_t row0 = c * pl->chunk_rows, m = min64(pl->chunk_rows, pl->rows - row0);
      leap_sgemm_cpu(false, false, m, C, K, 1.0f, dout + row0 * K, K, weight, C, 1.0f, dinp + row0 * C, C);
    }
    return;
  }
  CONV_OMP(parallel)
  {
    float *dcol = workspace + pl->shared_floats + thread_index() * pl->thread_floats;
    CONV_OMP(for schedule(dynamic, 1))
    for (int64_t item = 0; item < pl->nitems; item++) backward_data_item(dinp, dout, weight, s, pl, item, dcol);
  }
}

void leap_conv2d_backward_cpu(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                              const float *weight, const leap_conv2d_shape *s, float *workspace) {
  const conv_plan pl = make_plan(s);
  if (pl.rows == 0 || s->K == 0) return;
  if (dweight || dbias) backward_filter(dweight, dbias, dout, inp, s, &pl, workspace);
  if (dinp && pl.rsc > 0) backward_data(dinp, dout, weight, s, &pl, workspace);
}
