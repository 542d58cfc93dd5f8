/* Winograd F(2x2,3x3) convolution on the CPU, for 3x3 stride-1 layers (Lavin and Gray, 2016).
 *
 * Algorithm. The output is cut into tiles of 2x2 pixels. Tile t reads a 4x4 input patch d (zero where it
 * overhangs the image), and its output is Y = A^T [U . V] A summed over input channels, with V = B^T d B, U =
 * G g G^T the transformed 3x3 filter g and . the elementwise product. In the transform domain the channel sum is,
 * for each of the 16 elements e of the 4x4 domain, a matrix product M[e] (tiles,Co) = V[e] (tiles,Ci) x U[e]
 * (Ci,Co): 16 products instead of 36 per 2x2 outputs, 2.25 times fewer multiply-adds than the direct sum. Its
 * transforms only add, subtract and halve, so its fp32 error stays at that of the direct sum (largest error 1.3e-6
 * of the output's rms with 64 channels, direct sum in fp32 3.0e-6). F(4x4,3x3) would save 1.8 times more work, but
 * its largest error is 2.9e-5 of the rms, too much for the tests' 1e-4 absolute tolerance on outputs near 10.
 *
 * The three passes. Forward computes the above. Backward-data is the same convolution applied to dout, with the
 * filter rotated by 180 degrees, input and output channels swapped and padding 2 - pad (that is why padding is at
 * most 2). Backward-filter is the adjoint of the forward: with dM = A dY A^T the transformed output gradient of a
 * tile, dU[e] (Ci,Co) = sum over tiles of V[e]^T dM[e], and dg = G^T dU G.
 *
 * Blocking. Tiles are numbered image by image, row by row, and cut into chunks of T tiles (a function of the shape
 * only). A thread takes whole chunks: it transforms the chunk's input tiles into V (16,T,in_cpad) in its own slice
 * of the workspace, does the 16 products into M (16,T,out_cpad) and transforms M back into the output (backward-
 * filter instead transforms the chunk's dout tiles and accumulates the products into dU). T is chosen so that V and
 * M stay in L2. The products use a register-tiled kernel (wino_tile: MR rows by NV vectors of accumulators; each
 * step broadcasts one float per row and loads NV vectors), written with GCC vector types, so it compiles to
 * AVX-512 on AVX-512 machines and to narrower vector code elsewhere.
 *
 * Determinism. Every forward and backward-data output element comes from one tile, and its channel sum has a
 * fixed order, so threads only decide who computes it. Backward-filter sums over all tiles: the chunks are split
 * into at most WINO_GROUPS fixed groups of consecutive chunks, each group accumulates its own partial dU in chunk
 * order on one thread, and the partials are added in group order. */
#include "kernels/conv2d/conv2d_winograd.h"

#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "kernels/common/kernel_common.h"

/* Floats per vector: one AVX-512 register. Channel counts are padded to whole vectors in the transform domain. */
#define WINO_VEC 16
/* Elements of the 4x4 transform domain. */
#define WINO_E 16
/* Floats of one thread's V and M together (512 KB): half of a Zen 5 core's L2, leaving room for U. */
#define WINO_CHUNK_FLOATS ((int64_t)1 << 17)
/* Tiles per chunk are a multiple of this (every kernel's row count divides it) and at most WINO_T_MAX. */
#define WINO_T_STEP 24
#define WINO_T_MAX 96
/* Backward-filter's number of partial sums: WINO_GROUPS, fewer when there are fewer chunks, or when the partials
 * would take more than WINO_PARTIAL_FLOATS floats (16 MB) together, but never fewer than 2 then, so that two
 * threads still share the work. */
#define WINO_GROUPS 8
#define WINO_PARTIAL_FLOATS ((int64_t)1 << 22)
/* The 16 planes of V and M are this many floats (a cache line) further apart than their size. Their size is
 * usually a multiple of 4 KB, and the transforms touch the same offset in all 16 planes at once: unskewed, those
 * 16 lines would all fall in one set of the 12-way L1. */
#define WINO_PLANE_SKEW 16
/* Workspace regions start on a cache line. */
#define WINO_ALIGN 16

typedef float wvec __attribute__((vector_size(WINO_VEC * sizeof(float))));

#ifdef LEAP_WITH_OPENMP
#define WINO_OMP(x) LEAP_PRAGMA(omp x)
static int thread_index(void) { return omp_get_thread_num(); }
#else
#define WINO_OMP(x)
static int thread_index(void) { return 0; }
#endif

/* One convolution in tile form: the image the tiles read and the image they write (for backward-filter, the
 * output gradient). Forward and backward-filter tile the forward output; backward-data tiles dinp. */
typedef struct wino_conv {
  int64_t in_h, in_w, in_c, in_cpad;
  int64_t out_h, out_w, out_c, out_cpad;
  int64_t pad_h, pad_w;
  int64_t tiles_w, tiles_img, ntiles;
  int64_t T, nchunks;
  int64_t v_plane, m_plane; /* floats between the planes V[e] and V[e+1], and M[e] and M[e+1] */
  int64_t thread_floats;    /* one thread's V and M */
} wino_conv;

/* Where the workspace's regions lie: U, then backward-filter's partials, then one slice per thread. */
typedef struct wino_layout {
  int64_t u_floats, ngroups, partial_floats, thread_floats;
} wino_layout;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

static wino_conv make_conv(int64_t N, int64_t in_h, int64_t in_w, int64_t in_c, int64_t out_h, int64_t out_w,
                           int64_t out_c, int64_t pad_h, int64_t pad_w) {
  wino_conv w = {.in_h = in_h, .in_w = in_w, .in_c = in_c, .out_h = out_h, .out_w = out_w, .out_c = out_c,
                 .pad_h = pad_h, .pad_w = pad_w};
  w.in_cpad = round_up(in_c, WINO_VEC);
  w.out_cpad = round_up(out_c, WINO_VEC);
  w.tiles_w = (out_w + 1) / 2;
  w.tiles_img = (out_h + 1) / 2 * w.tiles_w;
  w.ntiles = N * w.tiles_img;
  int64_t fit = WINO_CHUNK_FLOATS / (WINO_E * (w.in_cpad + w.out_cpad)) / WINO_T_STEP * WINO_T_STEP;
  w.T = fit < WINO_T_STEP ? WINO_T_STEP : min64(fit, WINO_T_MAX);
  w.nchunks = (w.ntiles + w.T - 1) / w.T;
  w.v_plane = w.T * w.in_cpad + WINO_PLANE_SKEW;
  w.m_plane = w.T * w.out_cpad + WINO_PLANE_SKEW;
  w.thread_floats = round_up(WINO_E * (w.v_plane + w.m_plane), WINO_ALIGN);
  return w;
}

/* Forward and backward-filter: tiles of the forward output, reading the input. */
static wino_conv forward_conv(const leap_conv2d_shape *s) {
  return make_conv(s->N, s->H, s->W, s->C, s->P, s->Q, s->K, s->pad_h, s->pad_w);
}

/* Backward-data: tiles of dinp, reading dout. */
static wino_conv data_conv(const leap_conv2d_shape *s) {
  return make_conv(s->N, s->P, s->Q, s->K, s->H, s->W, s->C, 2 - s->pad_h, 2 - s->pad_w);
}

static wino_layout make_layout(const leap_conv2d_shape *s) {
  const wino_conv f = forward_conv(s), d = data_conv(s);
  wino_layout l;
  l.u_floats = round_up(WINO_E * max64(s->C * f.out_cpad, s->K * d.out_cpad), WINO_ALIGN);
  l.partial_floats = round_up(WINO_E * s->C * f.out_cpad, WINO_ALIGN);
  l.ngroups = min64(f.nchunks, min64(WINO_GROUPS, max64(2, WINO_PARTIAL_FLOATS / l.partial_floats)));
  l.thread_floats = max64(f.thread_floats, d.thread_floats);
  return l;
}

bool leap__conv2d_wino_geometry_ok(const leap_conv2d_shape *s) {
  return s->R == 3 && s->S == 3 && s->stride_h == 1 && s->stride_w == 1 && s->pad_h >= 0 && s->pad_h <= 2 &&
         s->pad_w >= 0 && s->pad_w <= 2 && s->N > 0 && s->C > 0 && s->K > 0 && s->P > 0 && s->Q > 0;
}

size_t leap__conv2d_wino_workspace_floats(const leap_conv2d_shape *s, int threads) {
  const wino_layout l = make_layout(s);
  return (size_t)(l.u_floats + l.ngroups * l.partial_floats + (threads < 1 ? 1 : threads) * l.thread_floats);
}

/* *v = the n floats at p (n <= WINO_VEC), zero beyond n; and its inverse, which writes only n floats. Vectors go
 * by pointer: by value, their ABI would differ between builds with and without AVX-512. */
static inline void load_vec(wvec *v, const float *p, int64_t n) {
  if (n >= WINO_VEC) {
    memcpy(v, p, sizeof *v);
    return;
  }
#ifdef __AVX512F__
  *v = (wvec)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
#else
  *v = (wvec){0};
  for (int64_t i = 0; i < n; i++) (*v)[i] = p[i];
#endif
}

static inline void store_vec(float *p, const wvec *v, int64_t n) {
  if (n >= WINO_VEC) {
    memcpy(p, v, sizeof *v);
    return;
  }
#ifdef __AVX512F__
  _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), (__m512)*v);
#else
  for (int64_t i = 0; i < n; i++) p[i] = (*v)[i];
#endif
}

/* ---- Transforms ---------------------------------------------------------------------------------------------- */

/* u[e] (e = 4i+j) = (G g G^T)[i][j] for one 3x3 filter g (row-major); G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static void transform_filter(float u[WINO_E], const float g[9]) {
  float a[4][3];
  for (int s = 0; s < 3; s++) {
    a[0][s] = g[s];
    a[1][s] = 0.5f * (g[s] + g[3 + s] + g[6 + s]);
    a[2][s] = 0.5f * (g[s] - g[3 + s] + g[6 + s]);
    a[3][s] = g[6 + s];
  }
  for (int i = 0; i < 4; i++) {
    u[4 * i] = a[i][0];
    u[4 * i + 1] = 0.5f * (a[i][0] + a[i][1] + a[i][2]);
    u[4 * i + 2] = 0.5f * (a[i][0] - a[i][1] + a[i][2]);
    u[4 * i + 3] = a[i][2];
  }
}

/* U (16,rows,ucols) = the transformed filters: for the forward (rotated false) rows are input channels c and
 * columns output channels k; for backward-data (rotated true) rows are k, columns c and each filter is rotated by
 * 180 degrees. Columns beyond the channel count are zero. Runs as a worksharing loop inside a parallel region. */
static void filter_transform(float *U, const float *weight, int64_t K, int64_t C, bool rotated, int64_t ucols) {
  const int64_t rows = rotated ? K : C, cols = rotated ? C : K, estride = rows * ucols;
  WINO_OMP(for schedule(static))
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t j = 0; j < ucols; j++) {
      float g[9], u[WINO_E] = {0};
      if (j < cols) {
        const int64_t k = rotated ? i : j, c = rotated ? j : i;
        for (int t = 0; t < 9; t++) g[t] = weight[(k * 9 + (rotated ? 8 - t : t)) * C + c];
        transform_filter(u, g);
      }
      for (int e = 0; e < WINO_E; e++) U[e * estride + i * ucols + j] = u[e];
    }
  }
}

/* Where tile t lies: image *n, first output row *oh and column *ow. */
static inline void tile_origin(const wino_conv *w, int64_t t, int64_t *n, int64_t *oh, int64_t *ow) {
  int64_t rem = t % w->tiles_img;
  *n = t / w->tiles_img;
  *oh = rem / w->tiles_w * 2;
  *ow = rem % w->tiles_w * 2;
}

/* v[e * estride] = (B^T d B)[e] for one 4x4 patch d (row-major); B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
static inline void transform_patch(float *v, int64_t estride, const wvec d[16]) {
  wvec t[16];
  for (int j = 0; j < 4; j++) {
    t[j] = d[j] - d[8 + j];
    t[4 + j] = d[4 + j] + d[8 + j];
    t[8 + j] = d[8 + j] - d[4 + j];
    t[12 + j] = d[4 + j] - d[12 + j];
  }
  for (int i = 0; i < 4; i++) {
    const wvec *r = t + 4 * i;
    wvec x0 = r[0] - r[2], x1 = r[1] + r[2], x2 = r[2] - r[1], x3 = r[1] - r[3];
    memcpy(v + (4 * i) * estride, &x0, sizeof x0);
    memcpy(v + (4 * i + 1) * estride, &x1, sizeof x1);
    memcpy(v + (4 * i + 2) * estride, &x2, sizeof x2);
    memcpy(v + (4 * i + 3) * estride, &x3, sizeof x3);
  }
}

/* V (16,T,in_cpad) = the transformed input patches of tiles t0 .. t0+m-1 of img (N,in_h,in_w,in_c). */
static void input_tiles(float *V, const float *img, const wino_conv *w, int64_t t0, int64_t m) {
  const int64_t C = w->in_c, estride = w->v_plane;
  for (int64_t slot = 0; slot < m; slot++) {
    int64_t n, oh, ow;
    tile_origin(w, t0 + slot, &n, &oh, &ow);
    const float *src[16];
    bool inside = true;
    for (int e = 0; e < 16; e++) {
      int64_t h = oh - w->pad_h + e / 4, x = ow - w->pad_w + e % 4;
      bool ok = h >= 0 && h < w->in_h && x >= 0 && x < w->in_w;
      src[e] = ok ? img + ((n * w->in_h + h) * w->in_w + x) * C : NULL;
      inside = inside && ok;
    }
    float *v = V + slot * w->in_cpad;
    for (int64_t c = 0; c < C; c += WINO_VEC) {
      const int64_t nc = min64(WINO_VEC, C - c);
      wvec d[16];
      if (inside && nc == WINO_VEC) {
        for (int e = 0; e < 16; e++) memcpy(&d[e], src[e] + c, sizeof d[e]);
      } else {
        for (int e = 0; e < 16; e++) {
          d[e] = (wvec){0};
          if (src[e]) load_vec(&d[e], src[e] + c, nc);
        }
      }
      transform_patch(v + c, estride, d);
    }
  }
}

/* The 2x2 outputs y (row-major) of one tile from its transform-domain products m[e * estride];
 * A^T = [1 1 1 0; 0 1 -1 -1]. */
static inline void untransform_tile(wvec y[4], const float *m, int64_t estride) {
  wvec s[2][4];
  for (int j = 0; j < 4; j++) {
    wvec m0, m1, m2, m3;
    memcpy(&m0, m + j * estride, sizeof m0);
    memcpy(&m1, m + (4 + j) * estride, sizeof m1);
    memcpy(&m2, m + (8 + j) * estride, sizeof m2);
    memcpy(&m3, m + (12 + j) * estride, sizeof m3);
    s[0][j] = m0 + m1 + m2;
    s[1][j] = m1 - m2 - m3;
  }
  for (int i = 0; i < 2; i++) {
    y[2 * i] = s[i][0] + s[i][1] + s[i][2];
    y[2 * i + 1] = s[i][1] - s[i][2] - s[i][3];
  }
}

/* Tiles t0 .. t0+m-1 of out (N,out_h,out_w,out_c) from M (16,T,out_cpad): stored with bias added (bias may be
 * NULL), or added to out when accumulate. Only the pixels of a tile that lie inside the image are written. */
static void output_tiles(float *out, const float *M, const float *bias, const wino_conv *w, int64_t t0, int64_t m,
                         bool accumulate) {
  const int64_t K = w->out_c, estride = w->m_plane;
  for (int64_t slot = 0; slot < m; slot++) {
    int64_t n, oh, ow;
    tile_origin(w, t0 + slot, &n, &oh, &ow);
    const int64_t rows = min64(2, w->out_h - oh), cols = min64(2, w->out_w - ow);
    for (int64_t k = 0; k < K; k += WINO_VEC) {
      const int64_t nk = min64(WINO_VEC, K - k);
      wvec y[4];
      untransform_tile(y, M + slot * w->out_cpad + k, estride);
      wvec b = {0};
      if (bias) load_vec(&b, bias + k, nk);
      for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
          float *o = out + ((n * w->out_h + oh + i) * w->out_w + ow + j) * K + k;
          wvec v;
          if (accumulate) load_vec(&v, o, nk), v += y[2 * i + j];
          else v = y[2 * i + j] + b;
          store_vec(o, &v, nk);
        }
    }
  }
}

/* dM (16,T,out_cpad) = A g A^T for the 2x2 output gradients g of tiles t0 .. t0+m-1 of dout (zero outside the
 * image); A = [1 0; 1 1; 1 -1; 0 -1]. */
static void dout_tiles(float *dM, const float *dout, const wino_conv *w, int64_t t0, int64_t m) {
  const int64_t K = w->out_c, estride = w->m_plane;
  for (int64_t slot = 0; slot < m; slot++) {
    int64_t n, oh, ow;
    tile_origin(w, t0 + slot, &n, &oh, &ow);
    const int64_t rows = min64(2, w->out_h - oh), cols = min64(2, w->out_w - ow);
    float *d = dM + slot * w->out_cpad;
    for (int64_t k = 0; k < K; k += WINO_VEC) { /* the last vector's zeros fill dM's padding columns */
      const int64_t nk = min64(WINO_VEC, K - k);
      wvec g[2][2], a[4][2];
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
          const float *src = dout + ((n * w->out_h + oh + i) * w->out_w + ow + j) * K + k;
          g[i][j] = (wvec){0};
          if (i < rows && j < cols) load_vec(&g[i][j], src, nk);
        }
      for (int j = 0; j < 2; j++) {
        a[0][j] = g[0][j], a[1][j] = g[0][j] + g[1][j], a[2][j] = g[0][j] - g[1][j], a[3][j] = -g[1][j];
      }
      for (int i = 0; i < 4; i++) {
        wvec x0 = a[i][0], x1 = a[i][0] + a[i][1], x2 = a[i][0] - a[i][1], x3 = -a[i][1];
        memcpy(d + (4 * i) * estride + k, &x0, sizeof x0);
        memcpy(d + (4 * i + 1) * estride + k, &x1, sizeof x1);
        memcpy(d + (4 * i + 2) * estride + k, &x2, sizeof x2);
        memcpy(d + (4 * i + 3) * estride + k, &x3, sizeof x3);
      }
    }
  }
}

/* ---- Transform-domain products ------------------------------------------------------------------------------- */

/* c (MR, NV vectors) = (load_c ? c : 0) + a (MR,L) x b (L, NV vectors), with a's element (i,l) at a[i*a_rs +
 * l*a_ls]. The MR*NV accumulators stay in registers (MR*NV <= 24 of the 32 AVX-512 registers); each step loads NV
 * vectors of b and broadcasts one float of a per row. The sum over l runs in order, one multiply-add per step, so
 * a row's result does not depend on which kernel (which MR) computed it. */
static inline __attribute__((always_inline)) void wino_tile(const int MR, const int NV, float *LEAP_RESTRICT c,
                                                            int64_t ldc, const float *LEAP_RESTRICT a, int64_t a_rs,
                                                            int64_t a_ls, const float *LEAP_RESTRICT b, int64_t ldb,
                                                            int64_t L, bool load_c) {
  wvec acc[24];
  _Pragma("GCC unroll 24") for (int i = 0; i < MR * NV; i++) {
    if (load_c) memcpy(&acc[i], c + i / NV * ldc + i % NV * WINO_VEC, sizeof acc[i]);
    else acc[i] = (wvec){0};
  }
  for (int64_t l = 0; l < L; l++) {
    wvec bv[4];
    _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) memcpy(&bv[j], b + l * ldb + j * WINO_VEC, sizeof bv[j]);
    _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {
      const float x = a[i * a_rs + l * a_ls];
      _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) acc[i * NV + j] += x * bv[j];
    }
  }
  _Pragma("GCC unroll 24") for (int i = 0; i < MR * NV; i++)
    memcpy(c + i / NV * ldc + i % NV * WINO_VEC, &acc[i], sizeof acc[i]);
}

#define WINO_TILE_FN(MR, NV)                                                                                       \
  static void wino_tile_##MR##x##NV(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_ls,             \
                                    const float *b, int64_t ldb, int64_t L, bool load_c) {                         \
    wino_tile(MR, NV, c, ldc, a, a_rs, a_ls, b, ldb, L, load_c);                                                   \
  }
WINO_TILE_FN(6, 4)
WINO_TILE_FN(8, 3)
WINO_TILE_FN(12, 2)
WINO_TILE_FN(12, 1)
WINO_TILE_FN(1, 4)
WINO_TILE_FN(1, 3)
WINO_TILE_FN(1, 2)
WINO_TILE_FN(1, 1)

/* Rows i .. rows-1 of one column block: MR rows at a time, then single rows. */
#define WINO_ROWS(MR, NV)                                                                                          \
  do {                                                                                                             \
    for (; i + MR <= rows; i += MR)                                                                                \
      wino_tile_##MR##x##NV(cj + i * ldc, ldc, a + i * a_rs, a_rs, a_ls, bj, ldb, L, load_c);                      \
    for (; i < rows; i++) wino_tile_1x##NV(cj + i * ldc, ldc, a + i * a_rs, a_rs, a_ls, bj, ldb, L, load_c);       \
  } while (0)

/* c (rows,cols) = (load_c ? c : 0) + a (rows,L) x b (L,cols), cols a multiple of WINO_VEC, in column blocks of up to
 * four vectors (b's block stays in L1 while the rows go by). */
static void wino_gemm(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_ls, const float *b, int64_t ldb,
                      int64_t rows, int64_t cols, int64_t L, bool load_c) {
  for (int64_t j = 0; j < cols; j += 4 * WINO_VEC) {
    float *cj = c + j;
    const float *bj = b + j;
    int64_t i = 0;
    switch (min64(4, (cols - j) / WINO_VEC)) {
      case 4: WINO_ROWS(6, 4); break;
      case 3: WINO_ROWS(8, 3); break;
      case 2: WINO_ROWS(12, 2); break;
      default: WINO_ROWS(12, 1); break;
    }
  }
}

/* M[e] (m,out_cpad) = V[e] (m,in_c) x U[e] (in_c,out_cpad) for the 16 elements e of one chunk. */
static void chunk_products(float *M, const float *V, const float *U, const wino_conv *w, int64_t m) {
  for (int e = 0; e < WINO_E; e++)
    wino_gemm(M + e * w->m_plane, w->out_cpad, V + e * w->v_plane, w->in_cpad, 1,
              U + e * w->in_c * w->out_cpad, w->out_cpad, m, w->out_cpad, w->in_c, false);
}

/* ---- The three passes ---------------------------------------------------------------------------------------- */

/* out = the tile convolution of img with the transformed filters U, plus bias, or added to out when accumulate.
 * filter_rotated selects U's form (filter_transform). */
static void run_conv(float *out, const float *img, const float *weight, const float *bias, const wino_conv *w,
                     const leap_conv2d_shape *s, bool filter_rotated, bool accumulate, float *workspace) {
  const wino_layout l = make_layout(s);
  float *U = workspace, *slices = workspace + l.u_floats + l.ngroups * l.partial_floats;
  WINO_OMP(parallel)
  {
    filter_transform(U, weight, s->K, s->C, filter_rotated, w->out_cpad);
    float *V = slices + thread_index() * l.thread_floats, *M = V + WINO_E * w->v_plane;
    WINO_OMP(for schedule(dynamic, 1))
    for (int64_t ch = 0; ch < w->nchunks; ch++) {
      const int64_t t0 = ch * w->T, m = min64(w->T, w->ntiles - t0);
      input_tiles(V, img, w, t0, m);
      chunk_products(M, V, U, w, m);
      output_tiles(out, M, bias, w, t0, m, accumulate);
    }
  }
}

void leap__conv2d_wino_forward(float *out, const float *inp, const float *weight, const float *bias,
                               const leap_conv2d_shape *s, float *workspace) {
  const wino_conv w = forward_conv(s);
  run_conv(out, inp, weight, bias, &w, s, false, false, workspace);
}

void leap__conv2d_wino_backward_data(float *dinp, const float *dout, const float *weight, const leap_conv2d_shape *s,
                                     float *workspace) {
  const wino_conv w = data_conv(s);
  run_conv(dinp, dout, weight, NULL, &w, s, true, true, workspace);
}

/* dweight (K,3,3,C) += G^T dU G for every filter, dU (16,C,kpad) holding filter (k,c) at column k of row c;
 * G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]. Runs as a worksharing loop inside a parallel region. */
static void filter_untransform(float *dweight, const float *dU, int64_t K, int64_t C, int64_t kpad) {
  WINO_OMP(for schedule(static))
  for (int64_t k = 0; k < K; k++) {
    for (int64_t c = 0; c < C; c++) {
      float u[WINO_E], a[3][4];
      for (int e = 0; e < WINO_E; e++) u[e] = dU[(e * C + c) * kpad + k];
      for (int j = 0; j < 4; j++) {
        a[0][j] = u[j] + 0.5f * (u[4 + j] + u[8 + j]);
        a[1][j] = 0.5f * (u[4 + j] - u[8 + j]);
        a[2][j] = 0.5f * (u[4 + j] + u[8 + j]) + u[12 + j];
      }
      float *dw = dweight + k * 9 * C + c;
      for (int r = 0; r < 3; r++) {
        dw[(3 * r) * C] += a[r][0] + 0.5f * (a[r][1] + a[r][2]);
        dw[(3 * r + 1) * C] += 0.5f * (a[r][1] - a[r][2]);
        dw[(3 * r + 2) * C] += 0.5f * (a[r][1] + a[r][2]) + a[r][3];
      }
    }
  }
}

/* One backward-filter group: part (16,C,kpad) = the sum over chunks [c0, c1) of V[e]^T dM[e], in chunk order. */
static void filter_group(float *part, const float *dout, const float *inp, const wino_conv *w, float *V, int64_t c0,
                         int64_t c1) {
  float *dM = V + WINO_E * w->v_plane;
  for (int64_t ch = c0; ch < c1; ch++) {
    const int64_t t0 = ch * w->T, m = min64(w->T, w->ntiles - t0);
    input_tiles(V, inp, w, t0, m);
    dout_tiles(dM, dout, w, t0, m);
    for (int e = 0; e < WINO_E; e++)
      wino_gemm(part + e * w->in_c * w->out_cpad, w->out_cpad, V + e * w->v_plane, 1, w->in_cpad,
                dM + e * w->m_plane, w->out_cpad, w->in_c, w->out_cpad, m, ch > c0);
  }
}

void leap__conv2d_wino_backward_filter(float *dweight, const float *dout, const float *inp,
                                       const leap_conv2d_shape *s, float *workspace) {
  const wino_conv w = forward_conv(s);
  const wino_layout l = make_layout(s);
  float *partials = workspace + l.u_floats, *slices = partials + l.ngroups * l.partial_floats;
  const int64_t row_floats = w.out_cpad, nrows = WINO_E * s->C;
  WINO_OMP(parallel)
  {
    float *V = slices + thread_index() * l.thread_floats;
    WINO_OMP(for schedule(dynamic, 1))
    for (int64_t g = 0; g < l.ngroups; g++)
      filter_group(partials + g * l.partial_floats, dout, inp, &w, V, g * w.nchunks / l.ngroups,
                   (g + 1) * w.nchunks / l.ngroups);
    /* The partials are added into the first in group order, row by row (any split of the rows gives the same). */
    WINO_OMP(for schedule(static))
    for (int64_t r = 0; r < nrows; r++) {
      float *LEAP_RESTRICT dst = partials + r * row_floats;
      for (int64_t g = 1; g < l.ngroups; g++) {
        const float *LEAP_RESTRICT src = partials + g * l.partial_floats + r * row_floats;
        for (int64_t k = 0; k < row_floats; k++) dst[k] += src[k];
      }
    }
    filter_untransform(dweight, partials, s->K, s->C, w.out_cpad);
  }
}
