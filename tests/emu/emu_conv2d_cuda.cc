/* kernels/conv2d/conv2d_cuda.cu compiled for the emulator (cuda_emu.h, which must come first). Its tiles are static
 * __shared__ arrays, so no dynamic shared memory is defined here. */
#include "tests/emu/cuda_emu.h"

#include "kernels/conv2d/conv2d_cuda.cu"
