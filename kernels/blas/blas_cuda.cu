/* cuBLAS / cuBLASLt wrappers (blas_cuda.h): the context, the row-major strided-batched product, and the products
 * with a bias epilogue and with a bias + GELU epilogue. */
#include "kernels/blas/blas_cuda.h"

#include "kernels/activation/activation.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <stdlib.h>

#include "kernels/common/cuda_common.cuh"


/* 32 MiB: what NVIDIA recommends for cuBLAS and cuBLASLt on Hopper (4 MiB suffices before it). */
#define BLAS_WORKSPACE_BYTES ((size_t)32 << 20)
/* cuBLASLt assumes 256-byte aligned operands unless told otherwise. */
#define BLAS_MAX_ALIGNMENT 256
/* Threads per block of the bias broadcast (the fallback of leap_gemm_bias_cuda). */
#define BIAS_FILL_THREADS 256
/* cuBLASLt's GELU aux matrix: its leading dimension must be a multiple of this many elements. */
#define GELU_AUX_LD_MULTIPLE 8

struct leap_cuda_blas {
  cudaStream_t stream;
  cublasHandle_t handle;
  cublasLtHandle_t lt;
  void *workspace; /* BLAS_WORKSPACE_BYTES, shared by both handles: their calls are ordered on the one stream */
  bool use_lt;
};

static void blas_fatal(const char *what) {
  fprintf(stderr, "leap: fatal: %s\n", what);
  abort();
}

LEAP_EXTERN_C_BEGIN

leap_cuda_blas *leap_cuda_blas_create(leap_cuda_stream stream) {
  leap_cuda_blas *b = (leap_cuda_blas *)calloc(1, sizeof *b);
  if (!b) blas_fatal("leap_cuda_blas_create: out of host memory");
  b->stream = (cudaStream_t)stream;
  b->use_lt = true;
  LEAP_CUDA_CHECK(cudaMalloc(&b->workspace, BLAS_WORKSPACE_BYTES));
  LEAP_CUBLAS_CHECK(cublasCreate(&b->handle));
  LEAP_CUBLAS_CHECK(cublasSetStream(b->handle, b->stream));
  LEAP_CUBLAS_CHECK(cublasSetWorkspace(b->handle, b->workspace, BLAS_WORKSPACE_BYTES));
  /* No TF32 (CUBLAS_DEFAULT_MATH with CUBLAS_COMPUTE_32F) and no split-K reductions in bf16. */
  LEAP_CUBLAS_CHECK(cublasSetMathMode(
      b->handle, (cublasMath_t)(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
  LEAP_CUBLAS_CHECK(cublasLtCreate(&b->lt));
  return b;
}

void leap_cuda_blas_destroy(leap_cuda_blas *b) {
  if (!b) return;
  LEAP_CUBLAS_CHECK(cublasLtDestroy(b->lt));
  LEAP_CUBLAS_CHECK(cublasDestroy(b->handle));
  LEAP_CUDA_CHECK(cudaFree(b->workspace));
  free(b);
}

leap_cuda_stream leap_cuda_blas_stream(const leap_cuda_blas *b) { return (leap_cuda_stream)b->stream; }

void leap_cuda_blas_use_lt(leap_cuda_blas *b, bool enabled) { b->use_lt = enabled; }

LEAP_EXTERN_C_END

static cudaDataType_t cuda_type(leap_dtype t) {
  if (t == LEAP_F32) return CUDA_R_32F;
  if (t == LEAP_BF16) return CUDA_R_16BF;
  blas_fatal("leap_gemm_cuda: matrices must be LEAP_F32 or LEAP_BF16");
  return CUDA_R_32F;
}

static size_t dtype_size(leap_dtype t) { return t == LEAP_BF16 ? 2 : 4; }

static void check_types(leap_dtype ab, leap_dtype c) {
  (void)cuda_type(ab), (void)cuda_type(c);
  if (ab == LEAP_F32 && c == LEAP_BF16) blas_fatal("leap_gemm_cuda: fp32 A and B with a bf16 C is not supported");
}

static cublasOperation_t op_of(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

LEAP_EXTERN_C_BEGIN

void leap_gemm_cuda(leap_cuda_blas *blas, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                    float alpha, const void *A, int64_t lda, int64_t stride_a, const void *B, int64_t ldb,
                    int64_t stride_b, float beta, void *C, int64_t ldc, int64_t stride_c, leap_dtype ab_dtype,
                    leap_dtype c_dtype) {
  check_types(ab_dtype, c_dtype);
  if (batch <= 0 || M <= 0 || N <= 0) return;
  cudaDataType_t tab = cuda_type(ab_dtype), tc = cuda_type(c_dtype);
  if (stride_c == 0 && batch > 1) {
    /* One C shared by the batch: accumulate product by product, in batch order. */
    size_t es = dtype_size(ab_dtype);
    for (int64_t i = 0; i < batch; i++) {
      const char *a = (const char *)A + (size_t)(i * stride_a) * es, *b = (const char *)B + (size_t)(i * stride_b) * es;
      float bi = i == 0 ? beta : 1.0f;
      LEAP_CUBLAS_CHECK(cublasGemmEx_64(blas->handle, op_of(trans_b), op_of(trans_a), N, M, K, &alpha, b, tab, ldb, a,
                                        tab, lda, &bi, C, tc, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    return;
  }
  LEAP_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(blas->handle, op_of(trans_b), op_of(trans_a), N, M, K, &alpha, B, tab,
                                                  ldb, stride_b, A, tab, lda, stride_a, &beta, C, tc, ldc, stride_c,
                                                  batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

LEAP_EXTERN_C_END

/* Fills each of the M rows of C (row stride ldc) with bias (N): one thread per element, grid-stride. */
template <typename T>
__global__ void bias_fill_kernel(T *C, const float *bias, int64_t M, int64_t N, int64_t ldc) {
  int64_t total = M * N;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = i / N, c = i % N;
    leap_store(C, (size_t)(r * ldc + c), bias[c]);
  }
}

static uint32_t alignment_of(const void *p) {
  uintptr_t a = (uintptr_t)p;
  uint32_t align = BLAS_MAX_ALIGNMENT;
  while (align > 1 && (a % align) != 0) align /= 2;
  return align;
}

/* The cuBLASLt descriptors of one product; everything is released by lt_release. */
typedef struct lt_plan {
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulPreference_t pref;
} lt_plan;

static void lt_release(lt_plan *p) {
  LEAP_CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(p->pref));
  LEAP_CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lc));
  LEAP_CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lb));
  LEAP_CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->la));
  LEAP_CUBLAS_CHECK(cublasLtMatmulDescDestroy(p->op));
}

/* The epilogue of a cuBLASLt product, in row-major terms: bias (N) or NULL, and for GELU the aux matrix (M,N)
 * that receives the pre-activation, with its row stride. */
typedef struct lt_epilogue {
  const float *bias;
  bool gelu;
  void *aux;
  int64_t ldaux;
} lt_epilogue;

static void lt_set_epilogue(lt_plan *p, const lt_epilogue *e) {
  cublasLtEpilogue_t epi = e->gelu ? (e->bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX)
                                   : CUBLASLT_EPILOGUE_BIAS;
  LEAP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  if (e->bias) {
    int32_t bias_type = CUDA_R_32F;
    LEAP_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &e->bias, sizeof e->bias));
    LEAP_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
  }
  if (e->gelu) {
    /* The aux matrix has D's type (the attribute's default) and D's column-major shape (N,M): ld is its row
     * stride as leap stores it. */
    int64_t ld = e->ldaux;
    LEAP_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &e->aux, sizeof e->aux));
    LEAP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld));
  }
}

/* The column-major problem D^T (N,M) = op(B)^T (N,K) op(A)^T (K,M) + bias (N per column), as cuBLASLt sees it:
 * its first operand is the row-major B, its second the row-major A. */
static void lt_describe(lt_plan *p, const leap_cuda_blas *blas, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                        const void *A, int64_t lda, const void *B, int64_t ldb, const lt_epilogue *e, void *C,
                        int64_t ldc, leap_dtype ab, leap_dtype c) {
  cublasOperation_t opa = op_of(tb), opb = op_of(ta);
  LEAP_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  LEAP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
  LEAP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
  lt_set_epilogue(p, e);
  LEAP_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&p->la, cuda_type(ab), (uint64_t)(tb ? K : N), (uint64_t)(tb ? N : K), ldb));
  LEAP_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&p->lb, cuda_type(ab), (uint64_t)(ta ? M : K), (uint64_t)(ta ? K : M), lda));
  LEAP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lc, cuda_type(c), (uint64_t)N, (uint64_t)M, ldc));
  uint64_t ws = BLAS_WORKSPACE_BYTES;
  /* Split-K partials may be reduced in place or in fp32, never in a bf16 output buffer. */
  uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_MASK & ~(uint32_t)CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE;
  uint32_t al_a = alignment_of(B), al_b = alignment_of(A), al_c = alignment_of(C);
  LEAP_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&p->pref));
  LEAP_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  LEAP_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes,
                                                         sizeof schemes));
  LEAP_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
  LEAP_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
  LEAP_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c));
  LEAP_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c));
  (void)blas;
}

/* The cuBLASLt product with epilogue e; false when cuBLASLt has no algorithm for the problem (for instance an fp32
 * bias with a bf16 output on a version that wants the output's type), and nothing was launched. */
static bool gemm_lt(leap_cuda_blas *blas, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A,
                    int64_t lda, const void *B, int64_t ldb, const lt_epilogue *e, void *C, int64_t ldc, leap_dtype ab,
                    leap_dtype c) {
  lt_plan p;
  lt_describe(&p, blas, ta, tb, M, N, K, A, lda, B, ldb, e, C, ldc, ab, c);
  cublasLtMatmulHeuristicResult_t result;
  int found = 0;
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(blas->lt, p.op, p.la, p.lb, p.lc, p.lc, p.pref, 1, &result, &found);
  bool ok = s == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS;
  if (ok) {
    const float one = 1.0f, zero = 0.0f;
    LEAP_CUBLAS_CHECK(cublasLtMatmul(blas->lt, p.op, &one, B, p.la, A, p.lb, &zero, C, p.lc, C, p.lc, &result.algo,
                                     blas->workspace, BLAS_WORKSPACE_BYTES, blas->stream));
  }
  lt_release(&p);
  return ok;
}

LEAP_EXTERN_C_BEGIN

void leap_gemm_bias_cuda(leap_cuda_blas *blas, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                         const void *A, int64_t lda, const void *B, int64_t ldb, const float *bias, void *C,
                         int64_t ldc, leap_dtype ab_dtype, leap_dtype c_dtype) {
  check_types(ab_dtype, c_dtype);
  if (M <= 0 || N <= 0) return;
  if (!bias) {
    leap_gemm_cuda(blas, trans_a, trans_b, 1, M, N, K, 1.0f, A, lda, 0, B, ldb, 0, 0.0f, C, ldc, 0, ab_dtype, c_dtype);
    return;
  }
  lt_epilogue e = {bias, false, NULL, 0};
  if (blas->use_lt && K > 0 && gemm_lt(blas, trans_a, trans_b, M, N, K, A, lda, B, ldb, &e, C, ldc, ab_dtype, c_dtype))
    return;
  int64_t total = M * N, blocks = (total + BIAS_FILL_THREADS - 1) / BIAS_FILL_THREADS;
  unsigned grid = (unsigned)(blocks < 65535 * 16 ? blocks : 65535 * 16);
  LEAP_DISPATCH_ACT(c_dtype, T, {
    bias_fill_kernel<T><<<grid, BIAS_FILL_THREADS, 0, blas->stream>>>((T *)C, bias, M, N, ldc);
    LEAP_CUDA_LAUNCH_CHECK();
  });
  leap_gemm_cuda(blas, trans_a, trans_b, 1, M, N, K, 1.0f, A, lda, 0, B, ldb, 0, 1.0f, C, ldc, 0, ab_dtype, c_dtype);
}

bool leap_gemm_bias_gelu_cuda(leap_cuda_blas *blas, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                              const void *A, int64_t lda, const void *B, int64_t ldb, const float *bias, void *C,
                              int64_t ldc, void *aux, int64_t ldaux, leap_dtype ab_dtype, leap_dtype c_dtype) {
  check_types(ab_dtype, c_dtype);
  if (M <= 0 || N <= 0) return false;
  lt_epilogue e = {bias, true, aux, ldaux};
  if (blas->use_lt && K > 0 && ldaux % GELU_AUX_LD_MULTIPLE == 0 &&
      gemm_lt(blas, trans_a, trans_b, M, N, K, A, lda, B, ldb, &e, C, ldc, ab_dtype, c_dtype))
    return true;
  leap_gemm_bias_cuda(blas, trans_a, trans_b, M, N, K, A, lda, B, ldb, bias, aux, ldaux, ab_dtype, c_dtype);
  if (ldc == N && ldaux == N) {
    leap_gelu_forward_cuda(C, aux, M * N, c_dtype, (leap_cuda_stream)blas->stream);
  } else {
    /* Row by row when either matrix is padded: GELU's kernel runs over flat arrays. */
    size_t es = dtype_size(c_dtype);
    for (int64_t r = 0; r < M; r++)
      leap_gelu_forward_cuda((char *)C + (size_t)(r * ldc) * es, (const char *)aux + (size_t)(r * ldaux) * es, N,
                             c_dtype, (leap_cuda_stream)blas->stream);
  }
  return false;
}

LEAP_EXTERN_C_END
