/* kernels/attention/attention_generic_cuda.cu (the fp32-FMA path for fp32, other head sizes and unaligned views)
 * compiled for the emulator (cuda_emu.h). */
#include "tests/emu/cuda_emu.h"

LEAP_EMU_DYNAMIC_SMEM(float, smem)

#include "kernels/attention/attention_generic_cuda.cu"
