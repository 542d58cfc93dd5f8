/* Every differentiable op, once. The X-macro gives the op enum, the names, and the backward table
 * (train/core/tape.c) from this one list, so adding an op is one line here plus its file in train/core/ops/. */
#ifndef LEAP_TRAIN_CORE_OP_LIST_H
#define LEAP_TRAIN_CORE_OP_LIST_H

#define LEAP_OP_LIST(X)                 \
  X(MATMUL, matmul)                     \
  X(LINEAR, linear)                     \
  X(LINEAR_GELU, linear_gelu)           \
  X(ADD, add)                           \
  X(MUL, mul)                           \
  X(SCALE, scale)                       \
  X(EMBEDDING, embedding)               \
  X(LAYERNORM, layernorm)               \
  X(GELU, gelu)                         \
  X(RELU, relu)                         \
  X(SOFTMAX, softmax)                   \
  X(CROSS_ENTROPY, cross_entropy)       \
  X(MSE, mse)                           \
  X(CONV2D, conv2d)                     \
  X(CONV2D_RELU, conv2d_relu)           \
  X(BATCHNORM, batchnorm)               \
  X(GROUPNORM, groupnorm)               \
  X(MAXPOOL, maxpool)                   \
  X(AVGPOOL, avgpool)                   \
  X(GLOBAL_AVGPOOL, global_avgpool)     \
  X(RESHAPE, reshape)                   \
  X(TRANSPOSE, transpose)               \
  X(CONCAT, concat)                     \
  X(SLICE, slice)                       \
  X(DROPOUT, dropout)                   \
  X(ATTENTION, attention)               \
  X(CAST, cast)

typedef enum leap_op {
#define LEAP_OP_ENUM(upper, lower) LEAP_OP_##upper,
  LEAP_OP_LIST(LEAP_OP_ENUM)
#undef LEAP_OP_ENUM
  LEAP_OP_COUNT
} leap_op;

const char *leap_op_name(leap_op op);
/* The op with this name, or -1 (an unknown op name is a user error the caller reports). */
int leap_op_from_name(const char *name);

#endif
