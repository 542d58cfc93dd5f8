/* kernels/attention/attention_cuda.cu (the entry points and the choice of path) compiled for the emulator
 * (cuda_emu.h, which must come first). */
#include "tests/emu/cuda_emu.h"

#include "kernels/attention/attention_cuda.cu"
