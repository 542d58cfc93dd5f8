# Tensor-core proof that runs without a GPU: each check compiles one hand-written CUDA file to PTX for one
# architecture and requires the named instructions in every kernel whose name matches (tools/ptx_check.sh).
# The tests carry the label `ptx`; they need only nvcc.
function(leap_ptx_check name)
  cmake_parse_arguments(P "" "SOURCE;ARCH;KERNELS" "REQUIRE" ${ARGN})
  add_test(NAME ptx_${name}
           COMMAND ${CMAKE_SOURCE_DIR}/tools/ptx_check.sh ${CMAKE_CUDA_COMPILER} ${CMAKE_SOURCE_DIR}/${P_SOURCE}
                   ${P_ARCH} ${P_KERNELS} ${P_REQUIRE}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(ptx_${name} PROPERTIES LABELS ptx TIMEOUT 600)
endfunction()

set(LEAP_MMA_BF16 "mma\\.sync\\.aligned\\.m16n8k16\\.row\\.col\\.f32\\.bf16\\.bf16\\.f32")

# Issue 6: the flash attention kernels (docs/attention-kernels.md). sm_80: mma.sync with ldmatrix (plain and
# transposed) from cp.async-filled shared tiles in the forward, dQ and dK/dV kernels; sm_90a: wgmma in the forward.
set(LEAP_LDMATRIX "ldmatrix\\.sync\\.aligned\\.m8n8\\.x4\\.shared\\.b16")
set(LEAP_LDMATRIX_T "ldmatrix\\.sync\\.aligned\\.m8n8\\.x4\\.trans\\.shared\\.b16")
set(LEAP_CP_ASYNC "cp\\.async\\.cg\\.shared\\.global")
leap_ptx_check(attention_fwd_sm80 SOURCE kernels/attention/attention_fwd_cuda.cu ARCH sm_80
               KERNELS "attn_fwd_kernelILi(64|128)ELb0E" REQUIRE ${LEAP_MMA_BF16} ${LEAP_LDMATRIX} ${LEAP_LDMATRIX_T} ${LEAP_CP_ASYNC})
leap_ptx_check(attention_bwd_sm80 SOURCE kernels/attention/attention_bwd_cuda.cu ARCH sm_80
               KERNELS "attn_(dq|dkv)_kernelILi(64|128)E" REQUIRE ${LEAP_MMA_BF16} ${LEAP_LDMATRIX} ${LEAP_LDMATRIX_T} ${LEAP_CP_ASYNC})
leap_ptx_check(attention_fwd_sm90a SOURCE kernels/attention/attention_fwd_cuda.cu ARCH sm_90a
               KERNELS "attn_fwd_kernelILi(64|128)ELb1E" REQUIRE "wgmma\\.mma_async\\.sync\\.aligned\\.m64n64k16\\.f32\\.bf16\\.bf16")
leap_ptx_check(attention_fwd_d128_sm90a SOURCE kernels/attention/attention_fwd_cuda.cu ARCH sm_90a
               KERNELS "attn_fwd_kernelILi128ELb1E" REQUIRE "wgmma\\.mma_async\\.sync\\.aligned\\.m64n128k16\\.f32\\.bf16\\.bf16")

# Issue 7: the implicit-GEMM convolution kernels (docs/conv-kernels.md), sm_80: pass 0 forward, 1 backward-data,
# 2 backward-filter; the bf16 fast paths (cp.async-fed shared tiles, Lb1E) and every bf16 variant's mma.sync.
leap_ptx_check(conv_fwd_sm80 SOURCE kernels/conv2d/conv2d_cuda.cu ARCH sm_80
               KERNELS "conv_igemm_kernelILi0E13__nv_bfloat16S0_Lb1E" REQUIRE ${LEAP_MMA_BF16} ${LEAP_LDMATRIX} ${LEAP_CP_ASYNC})
leap_ptx_check(conv_dgrad_sm80 SOURCE kernels/conv2d/conv2d_cuda.cu ARCH sm_80
               KERNELS "conv_igemm_kernelILi1E13__nv_bfloat16S0_Lb1E" REQUIRE ${LEAP_MMA_BF16} ${LEAP_LDMATRIX} ${LEAP_LDMATRIX_T} ${LEAP_CP_ASYNC})
leap_ptx_check(conv_wgrad_sm80 SOURCE kernels/conv2d/conv2d_cuda.cu ARCH sm_80
               KERNELS "conv_igemm_kernelILi2E13__nv_bfloat16S0_Lb1E" REQUIRE ${LEAP_MMA_BF16} ${LEAP_LDMATRIX_T} ${LEAP_CP_ASYNC})
leap_ptx_check(conv_all_bf16_sm80 SOURCE kernels/conv2d/conv2d_cuda.cu ARCH sm_80
               KERNELS "conv_igemm_kernelILi[012]E13__nv_bfloat16" REQUIRE ${LEAP_MMA_BF16})
