/* kernels/attention/attention_fwd_cuda.cu compiled for the emulator (cuda_emu.h). */
#include "tests/emu/cuda_emu.h"

LEAP_EMU_DYNAMIC_SMEM(unsigned char, smem_raw)

#include "kernels/attention/attention_fwd_cuda.cu"
