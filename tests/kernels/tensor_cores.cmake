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
