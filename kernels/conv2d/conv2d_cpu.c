/* CPU conv2d: im2col in chunks of output rows, each chunk's matrix product on one thread.
 *
 * Winograd. 3x3 stride-1 layers with padding up to 2 take Winograd F(2x2,3x3) (conv2d_winograd_cpu.c) in each
 * pass where it is faster, which is whenever the channels are not few (make_plan has the measured thresholds):
 * it needs 2.25 times fewer multiply-adds, and on Zen 5 it runs each pass of a 64-channel layer 1.6-2x faster than
 * im2col + sgemm. Everything else takes the paths below.
 *
 * Forward. The N*P*Q output pixels are split into chunks of chunk_rows rows (a shape-only constant, so the split
 * is the same whatever the thread count). Each thread takes whole chunks: it builds the chunk's im2col matrix
 * col (rows,RSC) in its own slice of the workspace and calls a single-threaded sgemm out = col x weight^T (OpenBLAS
 * runs single-threaded inside an OpenMP region). The chunk is sized so that col stays in the core's L2. A 1x1,
 * stride-1, unpadded convolution needs no im2col: the input itself is the col matrix. With few input channels
 * (an RGB first layer) or few output channels, sgemm runs poorly on the thin matrices, and the forward pass
 * instead computes each chunk directly with register tiles (tiled_forward_tile) from a transposed copy of the
 * weight.
 *
 * Backward-filter. dweight = dout^T x col is a sum over all rows. Each chunk's product goes to a per-thread
 * partial, and the partials are added into dweight inside an `ordered` section, so that they are added in chunk
 * order whichever thread made them. dbias follows the fixed-block scheme of kernel_common.h: chunk_rows is a
 * multiple of LEAP_REDUCE_BLOCK, so each chunk holds whole blocks, whose partials are added in block order in the
 * same ordered section. For receptive fields of at most CONV_TILE_RSC elements (3x3 on RGB), the chunk's product
 * is computed without im2col, by register tiles over the whole receptive field (tiled_filter_interior).
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
#include "kernels/conv2d/conv2d_winograd.h"

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
/* The forward pass uses register tiles instead of im2col + sgemm when C or K is at most these (see
 * tiled_forward_tile): sgemm runs poorly on short im2col rows or few output channels. Measured on Zen 5 (64
 * images of 64x64, 3x3): C=3 K=32 1.55x faster, C=16 K=16 1.6x, C=32 K=32 1.3x; from C=64 K=64 on, sgemm wins. */
#define CONV_TILED_MAX_C 4
#define CONV_TILED_MAX_K 32
/* Horizontally adjacent output pixels per register tile of the tiled forward. */
#define CONV_TILE_Q 8
/* Receptive fields of at most this many elements (3x3 on RGB has 27) take the tiled backward-filter: one
 * accumulator vector per element, plus the output-gradient vector, fit in the 32 AVX-512 registers. */
#define CONV_TILE_RSC 28
/* Fully unrolls a loop over the CONV_TILE_RSC accumulators, which keeps them in registers. The pragma does not
 * expand macros, hence the literal and the assertion. */
#define CONV_UNROLL_TILE_RSC _Pragma("GCC unroll 28")
_Static_assert(CONV_TILE_RSC == 28, "CONV_UNROLL_TILE_RSC must unroll CONV_TILE_RSC iterations");

/* CONV_VEC floats in GCC's vector extension: one AVX-512 register, or two or four narrower ones elsewhere. */
typedef float conv_vec __attribute__((vector_size(CONV_VEC * sizeof(float))));

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
  bool input_is_col;        /* 1x1, stride 1, no padding: the input is the im2col matrix */
  bool tiled_forward;       /* the forward pass uses register tiles instead of im2col + sgemm */
  bool tiled_filter;        /* the backward-filter pass uses register tiles instead of im2col + sgemm */
  bool wino_forward;        /* the forward pass uses Winograd F(2x2,3x3) (conv2d_winograd_cpu.c) */
  bool wino_data;           /* so does backward-data */
  bool wino_filter;         /* so does backward-filter (dweight; dbias keeps its own pass) */
  int64_t kpad;             /* K rounded up to whole vectors, for the tiled forward's transposed weight */
  int64_t chunk_rows;       /* rows per chunk (forward, backward-filter), a multiple of LEAP_REDUCE_BLOCK */
  int64_t nchunks;
  int64_t bands;            /* backward-data bands per image (1: items are whole images) */
  int64_t band_lines;       /* output lines per band */
  int64_t images_per_item;  /* whole images per backward-data item when bands == 1 */
  int64_t nitems;
  int64_t dcol_rows;        /* rows of the largest dcol an item needs */
  int64_t col_floats;       /* per-thread im2col buffer */
  int64_t thread_floats;    /* per-thread workspace slice */
  int64_t shared_floats;    /* workspace before the thread slices: the tiled forward's transposed weight and
                             * bias, or backward's dbias running total */
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
  pl.input_is_col = s->R == 1 && s->S == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_h == 0 && s->pad_w == 0;
  pl.tiled_forward = !pl.input_is_col && (s->C <= CONV_TILED_MAX_C || s->K <= CONV_TILED_MAX_K);
  pl.tiled_filter = !pl.input_is_col && pl.rsc <= CONV_TILE_RSC;
  const bool wino = leap__conv2d_wino_geometry_ok(s);
  /* Winograd pays off unless the channels are few. Measured on Zen 5 (16 images of 32x32, one thread) against the
   * tiled and im2col paths: forward 1.3x faster from C = 8 (K = 8 to 64), 1.8x at C = K = 64, but 1.6x slower on
   * RGB (C = 3, K = 32); backward-data, which pads C to whole vectors, 1.6x faster at C = 16, K = 64 but 1.2x
   * slower at C = 8, K = 64 (1.1x at C = 6, K = 40), and faster at C = 8 with K <= 32; backward-filter 1.4x faster
   * at C = 8, K = 64, 1.9x at C = 64, K = 8, but 1.1-1.2x slower at C = K = 8, C = 4, K = 128 and C = 64, K = 2. */
  pl.wino_forward = wino && s->C >= 8;
  pl.wino_data = wino && (s->C >= 16 || (s->C >= 8 && s->K <= 32));
  pl.wino_filter = wino && s->C >= 8 && s->K >= 4 && s->C * s->K > 64;
  pl.kpad = round_up(s->K, CONV_VEC);
  int64_t by_cache = CONV_COL_FLOATS / max64(1, pl.rsc) / LEAP_REDUCE_BLOCK * LEAP_REDUCE_BLOCK;
  int64_t by_balance = round_up((pl.rows + CONV_MIN_PIECES - 1) / CONV_MIN_PIECES, LEAP_REDUCE_BLOCK);
  pl.chunk_rows = max64(LEAP_REDUCE_BLOCK, min64(by_cache, by_balance));
  pl.nchunks = (pl.rows + pl.chunk_rows - 1) / pl.chunk_rows;
  plan_data_items(&pl, s);
  pl.col_floats = pl.input_is_col ? 0 : round_up(pl.chunk_rows * pl.rsc, CONV_ALIGN_FLOATS);
  int64_t filter_floats = pl.col_floats + round_up(pl.rsc * pl.kpad, CONV_ALIGN_FLOATS) +
                          pl.chunk_rows / LEAP_REDUCE_BLOCK * s->K;
  int64_t data_floats = pl.input_is_col ? 0 : pl.dcol_rows * pl.rsc;
  pl.thread_floats = round_up(max64(filter_floats, data_floats), CONV_ALIGN_FLOATS);
  pl.shared_floats = round_up(max64(s->K, pl.tiled_forward ? (pl.rsc + 1) * pl.kpad : 0), CONV_ALIGN_FLOATS);
  return pl;
}

size_t leap_conv2d_workspace_floats(const leap_conv2d_shape *s, int threads) {
  conv_plan pl = make_plan(s);
  size_t im2col = (size_t)(pl.shared_floats + (threads < 1 ? 1 : threads) * pl.thread_floats);
  if (!(pl.wino_forward || pl.wino_data || pl.wino_filter)) return im2col;
  size_t wino = leap__conv2d_wino_workspace_floats(s, threads);
  return wino > im2col ? wino : im2col;
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

/* The im2col matrix of rows row0 .. row0+m-1: the input itself when input_is_col, else built into col. */
static const float *chunk_matrix(float *col, const float *inp, const leap_conv2d_shape *s, const conv_plan *pl,
                                 int64_t row0, int64_t m) {
  if (pl->input_is_col) return inp + row0 * s->C;
  im2col_rows(col, inp, s, row0, m);
  return col;
}

static void add_rows(float *LEAP_RESTRICT dst, const float *LEAP_RESTRICT src, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* wt (RSC,kpad) = the weight transposed, and bt (kpad) = the bias, both zero beyond channel K. */
static void transpose_weight(float *wt, float *bt, const float *weight, const float *bias, int64_t K, int64_t rsc,
                             int64_t kpad) {
  for (int64_t i = 0; i < rsc; i++)
    for (int64_t k = 0; k < kpad; k++) wt[i * kpad + k] = k < K ? weight[k * rsc + i] : 0.0f;
  for (int64_t k = 0; k < kpad; k++) bt[k] = bias && k < K ? bias[k] : 0.0f;
}

/* Channels [kt, kt+CONV_VEC) of `rows` consecutive output pixels, from their accumulators. */
static void store_tile(float *out, const conv_vec *acc, int rows, int64_t K, int64_t kt) {
  size_t bytes = (size_t)min64(CONV_VEC, K - kt) * sizeof(float);
  for (int j = 0; j < rows; j++) memcpy(out + j * K + kt, &acc[j], bytes);
}

/* Whether the receptive field of output column q lies inside the image horizontally. */
static bool interior_column(const leap_conv2d_shape *s, int64_t q) {
  int64_t w0 = q * s->stride_w - s->pad_w;
  return w0 >= 0 && w0 + s->S <= s->W;
}

/* The tiled forward, for few input or output channels: output pixels (n,p,q .. q+CONV_TILE_Q-1) of image img,
 * all interior horizontally. Their accumulators, CONV_TILE_Q pixels by CONV_VEC output channels, stay in
 * registers while the kernel window is walked; along a kernel row r the window is S*C adjacent input floats, each
 * broadcast against a vector of the transposed weight wt (RSC,kpad). */
static void tiled_forward_tile(float *out, const float *img, const float *wt, const float *bt,
                               const leap_conv2d_shape *s, int64_t kpad, int64_t p, int64_t q) {
  const int64_t SC = s->S * s->C, step = s->stride_w * s->C;
  for (int64_t kt = 0; kt < s->K; kt += CONV_VEC) {
    conv_vec acc[CONV_TILE_Q], b;
    memcpy(&b, bt + kt, sizeof b);
    for (int j = 0; j < CONV_TILE_Q; j++) acc[j] = b;
    for (int64_t r = 0; r < s->R; r++) {
      int64_t h = p * s->stride_h - s->pad_h + r;
      if (h < 0 || h >= s->H) continue;
      const float *x = img + (h * s->W + q * s->stride_w - s->pad_w) * s->C;
      const float *w = wt + r * SC * kpad + kt;
      for (int64_t i = 0; i < SC; i++) {
        conv_vec wv;
        memcpy(&wv, w + i * kpad, sizeof wv);
        for (int j = 0; j < CONV_TILE_Q; j++) acc[j] += x[j * step + i] * wv;
      }
    }
    store_tile(out, acc, CONV_TILE_Q, s->K, kt);
  }
}

/* One output pixel (n,p,q) of the tiled forward, its window clipped to the image on every side. */
static void tiled_forward_pixel(float *out, const float *img, const float *wt, const float *bt,
                                const leap_conv2d_shape *s, int64_t kpad, int64_t p, int64_t q) {
  const int64_t C = s->C, SC = s->S * s->C, w0 = q * s->stride_w - s->pad_w;
  const int64_t s_lo = clamp64(-w0, 0, s->S), s_hi = clamp64(s->W - w0, s_lo, s->S);
  for (int64_t kt = 0; kt < s->K; kt += CONV_VEC) {
    conv_vec acc;
    memcpy(&acc, bt + kt, sizeof acc);
    for (int64_t r = 0; r < s->R; r++) {
      int64_t h = p * s->stride_h - s->pad_h + r;
      if (h < 0 || h >= s->H) continue;
      const int64_t base = (h * s->W + w0) * C; /* may be negative; base + i is not */
      for (int64_t i = s_lo * C; i < s_hi * C; i++) {
        conv_vec wv;
        memcpy(&wv, wt + (r * SC + i) * kpad + kt, sizeof wv);
        acc += img[base + i] * wv;
      }
    }
    store_tile(out, &acc, 1, s->K, kt);
  }
}

/* out rows row0 .. row0+m-1 by the tiled forward: register tiles where they fit, single pixels at the edges. */
static void tiled_forward_rows(float *out, const float *inp, const float *wt, const float *bt,
                               const leap_conv2d_shape *s, int64_t kpad, int64_t row0, int64_t m) {
  for (int64_t row = row0, end = row0 + m; row < end;) {
    int64_t line = row / s->Q, q = row % s->Q, q1 = min64(s->Q, q + (end - row));
    int64_t n = line / s->P, p = line % s->P;
    const float *img = inp + n * s->H * s->W * s->C;
    while (q < q1) {
      float *o = out + (line * s->Q + q) * s->K;
      if (q + CONV_TILE_Q <= q1 && interior_column(s, q) && interior_column(s, q + CONV_TILE_Q - 1)) {
        tiled_forward_tile(o, img, wt, bt, s, kpad, p, q);
        q += CONV_TILE_Q;
      } else {
        tiled_forward_pixel(o, img, wt, bt, s, kpad, p, q);
        q++;
      }
    }
    row = line * s->Q + q1;
  }
}

void leap_conv2d_forward_cpu(float *out, const float *inp, const float *weight, const float *bias,
                             const leap_conv2d_shape *s, float *workspace) {
  const conv_plan pl = make_plan(s);
  const int64_t K = s->K;
  if (pl.rows == 0 || K == 0) return;
  if (pl.wino_forward) {
    leap__conv2d_wino_forward(out, inp, weight, bias, s, workspace);
    return;
  }
  if (pl.tiled_forward) {
    float *wt = workspace, *bt = workspace + pl.rsc * pl.kpad;
    transpose_weight(wt, bt, weight, bias, K, pl.rsc, pl.kpad);
    CONV_OMP(parallel for schedule(dynamic, 1))
    for (int64_t c = 0; c < pl.nchunks; c++) {
      int64_t row0 = c * pl.chunk_rows;
      tiled_forward_rows(out, inp, wt, bt, s, pl.kpad, row0, min64(pl.chunk_rows, pl.rows - row0));
    }
    return;
  }
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

/* Whether output pixel (p,q)'s whole receptive field lies inside the image. */
static bool interior_pixel(const leap_conv2d_shape *s, int64_t p, int64_t q) {
  int64_t h0 = p * s->stride_h - s->pad_h;
  return h0 >= 0 && h0 + s->R <= s->H && interior_column(s, q);
}

/* *g = channels [kt, kt+CONV_VEC) of one output-gradient row of K floats, zero beyond K. */
static inline void load_channels(conv_vec *g, const float *row, int64_t K, int64_t kt, bool full) {
  if (full) {
    memcpy(g, row + kt, sizeof *g);
  } else {
    *g = (conv_vec){0};
    memcpy(g, row + kt, (size_t)(K - kt) * sizeof(float));
  }
}

/* partT (RSC,kpad) = the products of the interior pixels among rows row0 .. row0+m-1, for channels [kt, kt+16):
 * one accumulator vector per receptive-field element stays in a register over all the rows. off[i] is element i's
 * offset from its field's first input float; elements past RSC read a valid float and are discarded. */
static inline void tiled_filter_interior(float *partT, const float *dout, const float *inp,
                                         const leap_conv2d_shape *s, const int64_t *off, int64_t kpad, int64_t kt,
                                         int64_t row0, int64_t m, bool full) {
  const int64_t rsc = s->R * s->S * s->C;
  /* Every loop over acc is fully unrolled (CONV_UNROLL_TILE_RSC), so that the accumulators are registers. */
  conv_vec acc[CONV_TILE_RSC];
  CONV_UNROLL_TILE_RSC
  for (int i = 0; i < CONV_TILE_RSC; i++) acc[i] = (conv_vec){0};
  int64_t q = row0 % s->Q, line = row0 / s->Q, p = line % s->P, n = line / s->P;
  for (int64_t row = row0; row < row0 + m; row++) {
    if (interior_pixel(s, p, q)) {
      conv_vec g;
      load_channels(&g, dout + row * s->K, s->K, kt, full);
      const float *x = inp + ((n * s->H + p * s->stride_h - s->pad_h) * s->W + q * s->stride_w - s->pad_w) * s->C;
      CONV_UNROLL_TILE_RSC
      for (int i = 0; i < CONV_TILE_RSC; i++) acc[i] += x[off[i]] * g;
    }
    if (++q == s->Q) {
      q = 0;
      if (++p == s->P) p = 0, n++;
    }
  }
  CONV_UNROLL_TILE_RSC
  for (int i = 0; i < CONV_TILE_RSC; i++)
    if (i < rsc) memcpy(partT + i * kpad + kt, &acc[i], sizeof acc[i]);
}

/* partT (RSC,kpad) += the products of output pixel (n,p,q), whose receptive field is cut by the padding. */
static void tiled_filter_edge(float *LEAP_RESTRICT partT, const float *LEAP_RESTRICT g, const float *inp,
                              const leap_conv2d_shape *s, int64_t kpad, int64_t n, int64_t p, int64_t q) {
  const int64_t C = s->C, w0 = q * s->stride_w - s->pad_w;
  const int64_t s_lo = clamp64(-w0, 0, s->S), s_hi = clamp64(s->W - w0, s_lo, s->S);
  for (int64_t r = 0; r < s->R; r++) {
    int64_t h = p * s->stride_h - s->pad_h + r;
    if (h < 0 || h >= s->H) continue;
    for (int64_t i = s_lo * C; i < s_hi * C; i++) {
      float x = inp[(n * s->H + h) * s->W * C + w0 * C + i];
      float *LEAP_RESTRICT acc = partT + ((r * s->S) * C + i) * kpad;
      for (int64_t k = 0; k < s->K; k++) acc[k] += x * g[k];
    }
  }
}

/* partT (RSC,kpad) = dout^T x col for rows row0 .. row0+m-1, transposed, without im2col: the interior pixels in
 * register tiles, then the pixels at the edges. */
static void tiled_filter_rows(float *partT, const float *dout, const float *inp, const leap_conv2d_shape *s,
                              int64_t kpad, int64_t row0, int64_t m) {
  const int64_t SC = s->S * s->C, rsc = s->R * SC;
  int64_t off[CONV_TILE_RSC];
  for (int64_t i = 0; i < CONV_TILE_RSC; i++) off[i] = i < rsc ? i / SC * s->W * s->C + i % SC : 0;
  /* A whole vector of channels, or the last few: separate instances, so the whole-vector one keeps g in a register. */
  for (int64_t kt = 0; kt < s->K; kt += CONV_VEC) {
    if (s->K - kt >= CONV_VEC) tiled_filter_interior(partT, dout, inp, s, off, kpad, kt, row0, m, true);
    else tiled_filter_interior(partT, dout, inp, s, off, kpad, kt, row0, m, false);
  }
  int64_t q = row0 % s->Q, line = row0 / s->Q, p = line % s->P, n = line / s->P;
  for (int64_t row = row0; row < row0 + m; row++) {
    if (!interior_pixel(s, p, q)) tiled_filter_edge(partT, dout + row * s->K, inp, s, kpad, n, p, q);
    if (++q == s->Q) {
      q = 0;
      if (++p == s->P) p = 0, n++;
    }
  }
}

/* dweight (K,RSC) += partT (RSC,kpad) transposed. */
static void add_transposed(float *dweight, const float *partT, int64_t K, int64_t rsc, int64_t kpad) {
  for (int64_t k = 0; k < K; k++)
    for (int64_t i = 0; i < rsc; i++) dweight[k * rsc + i] += partT[i * kpad + k];
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
    float *bias_part = part + round_up(rsc * pl->kpad, CONV_ALIGN_FLOATS);
    CONV_OMP(for ordered schedule(dynamic, 1))
    for (int64_t c = 0; c < pl->nchunks; c++) {
      int64_t row0 = c * pl->chunk_rows, m = min64(pl->chunk_rows, pl->rows - row0);
      const float *g = dout + row0 * K;
      if (dweight && pl->tiled_filter) {
        tiled_filter_rows(part, dout, inp, s, pl->kpad, row0, m);
      } else if (dweight) {
        const float *a = chunk_matrix(col, inp, s, pl, row0, m);
        leap_sgemm_cpu(true, false, K, rsc, m, 1.0f, g, K, a, rsc, 0.0f, part, rsc);
      }
      if (dbias) block_sums(bias_part, g, m, K);
      CONV_OMP(ordered)
      {
        if (dweight && pl->tiled_filter) add_transposed(dweight, part, K, rsc, pl->kpad);
        else if (dweight) add_rows(dweight, part, K * rsc);
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

/* dinp += dout x weight, scattered back through col2im (or added directly when input_is_col). */
static void backward_data(float *dinp, const float *dout, const float *weight, const leap_conv2d_shape *s,
                          const conv_plan *pl, float *workspace) {
  const int64_t K = s->K, C = s->C;
  if (pl->input_is_col) {
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
  if (dweight && pl.wino_filter) {
    leap__conv2d_wino_backward_filter(dweight, dout, inp, s, workspace);
    if (dbias) backward_filter(NULL, dbias, dout, inp, s, &pl, workspace);
  } else if (dweight || dbias) {
    backward_filter(dweight, dbias, dout, inp, s, &pl, workspace);
  }
  if (dinp && pl.wino_data) leap__conv2d_wino_backward_data(dinp, dout, weight, s, workspace);
  else if (dinp && pl.rsc > 0) backward_data(dinp, dout, weight, s, &pl, workspace);
}
