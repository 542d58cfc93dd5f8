/* The emulator of cuda_emu.h: fibers, the resolution of barriers and warp collectives, the PTX instructions the
 * tensor-core kernels use (with the PTX ISA's fragment layouts), deferred cp.async, and host stand-ins for the
 * CUDA runtime calls the emulated files make. */
#include "tests/emu/cuda_emu.h"

#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include <map>
#include <unordered_map>
#include <vector>

namespace leap_emu {

uint3 g_thread_idx, g_block_idx;
dim3 g_block_dim, g_grid_dim;

namespace {

constexpr size_t STACK_BYTES = 256 * 1024;
constexpr int WARP = 32;
constexpr size_t DEFAULT_DYNAMIC_LIMIT = 48 * 1024; /* more needs cudaFuncAttributeMaxDynamicSharedMemorySize */

enum state { READY, WAIT_BAR, WAIT_WARP, DONE };
enum op { OP_NONE, OP_SYNCWARP, OP_SHFL, OP_LDSM, OP_LDSM_T, OP_MMA };

struct copy {
  void *dst;
  const void *src;
  int bytes, src_bytes;
};

/* A lane's part in a warp collective: its inputs, then its results. */
struct slot {
  int op;
  unsigned mask;
  uint64_t value;
  int kind, arg, width;
  const void *addr;
  uint32_t a[4], b[2];
  float c[4];
  uint64_t out;
  uint32_t r[4];
};

struct fiber {
  ucontext_t ctx;
  char *stack;
  state st;
  const void *site;
  uint3 tid;
  std::vector<copy> open;                /* issued, not yet committed */
  std::vector<std::vector<copy>> groups; /* committed, oldest first */
};

/* Who last touched a 16-byte chunk of shared memory through cp.async or ldmatrix, by barrier epoch. */
struct chunk_use {
  uint64_t read_epoch = ~0ull, write_epoch = ~0ull;
  uint64_t read_warps = 0; /* warps that read it in read_epoch */
  int write_warp = -1;
};

struct emu {
  std::vector<fiber> fibers;
  std::unordered_map<uintptr_t, chunk_use> uses;
  uint64_t epoch = 0;   /* barriers completed in this block */
  bool reverse = false; /* run blocks and threads in descending order (set_schedule) */
  uint64_t stat_blocks = 0, stat_mma = 0, stat_ldsm = 0, stat_cp = 0, stat_bar = 0;
  std::vector<slot> slots;
  int nthreads = 0;
  int current = -1;
  ucontext_t main_ctx;
  const std::function<void()> *body = nullptr;
  std::unordered_map<uintptr_t, int> pending; /* 16-byte chunks of shared memory with a copy in flight */
  std::vector<std::pair<unsigned char *, size_t>> dynamic;
  std::map<const void *, int> max_dynamic; /* cudaFuncAttributeMaxDynamicSharedMemorySize per kernel */
  size_t dyn_bytes = 0;
  ~emu() {
    for (fiber &f : fibers) free(f.stack);
  }
};

emu &E() {
  static emu e;
  return e;
}

[[noreturn]] void fail(const char *fmt, const char *what) {
  fprintf(stderr, "leap emu: block (%u,%u,%u) thread %u: ", g_block_idx.x, g_block_idx.y, g_block_idx.z,
          g_thread_idx.x);
  fprintf(stderr, fmt, what);
  fprintf(stderr, "\n");
  abort();
}

void enter(int i) {
  emu &e = E();
  e.current = i;
  g_thread_idx = e.fibers[i].tid;
}

const char *state_name(state s) {
  switch (s) {
    case READY:
      return "running";
    case WAIT_BAR:
      return "at __syncthreads";
    case WAIT_WARP:
      return "at a warp collective";
    default:
      return "exited";
  }
}

[[noreturn]] void divergence(const char *why) {
  emu &e = E();
  fprintf(stderr, "leap emu: divergence in block (%u,%u,%u): %s\n", g_block_idx.x, g_block_idx.y, g_block_idx.z, why);
  for (int i = 0; i < e.nthreads; i++)
    if (i % WARP == 0 || e.fibers[i].st != e.fibers[i - 1].st)
      fprintf(stderr, "  thread %d: %s (site %p)\n", i, state_name(e.fibers[i].st), e.fibers[i].site);
  abort();
}

float bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* The results of a warp collective, for all 32 lanes of warp w at once. */
void complete_warp(int w) {
  emu &e = E();
  slot *s = &e.slots[w * WARP];
  const int op0 = s[0].op;
  for (int l = 1; l < WARP; l++)
    if (s[l].op != op0) divergence("the lanes of a warp wait at different kinds of collective");
  if (op0 == OP_SHFL) {
    for (int l = 0; l < WARP; l++) {
      const int width = s[l].width, base = l / width * width, li = l % width, arg = s[l].arg;
      int src = l;
      switch (s[l].kind) {
        case SHFL_IDX:
          src = base + (arg % width);
          break;
        case SHFL_UP:
          src = li - arg >= 0 ? l - arg : l;
          break;
        case SHFL_DOWN:
          src = li + arg < width ? l + arg : l;
          break;
        default:
          src = base + ((li ^ arg) < width ? (li ^ arg) : li);
          break;
      }
      if (!(s[l].mask >> src & 1u)) divergence("a shuffle reads a lane outside its mask");
      s[l].out = s[src].value;
    }
  } else if (op0 == OP_LDSM || op0 == OP_LDSM_T) {
    /* Cross-warp ordering: a chunk another warp's cp.async wrote since the last barrier is a race (its copy is
     * visible to that warp only until a barrier). */
    for (int l = 0; l < WARP; l++) {
      chunk_use &u = e.uses[reinterpret_cast<uintptr_t>(s[l].addr) >> 4];
      if (u.write_epoch == e.epoch && u.write_warp != w) {
        fprintf(stderr,
                "leap emu: block (%u,%u,%u) warp %d: ldmatrix reads shared memory that warp %d's cp.async "
                "wrote with no __syncthreads between (a race)\n",
                g_block_idx.x, g_block_idx.y, g_block_idx.z, w, u.write_warp);
        abort();
      }
      if (u.read_epoch != e.epoch) u.read_epoch = e.epoch, u.read_warps = 0;
      u.read_warps |= 1ull << w;
    }
    e.stat_ldsm++;
    /* Lane 8m + r gives row r of matrix m; lane l gets, of matrix m, row l/4 columns 2(l%4), 2(l%4)+1 (plain) or
     * rows 2(l%4), 2(l%4)+1 column l/4 (.trans), the lower index in the low half. */
    for (int l = 0; l < WARP; l++)
      for (int m = 0; m < 4; m++) {
        uint16_t lo, hi;
        if (op0 == OP_LDSM) {
          const uint16_t *row = static_cast<const uint16_t *>(s[8 * m + l / 4].addr);
          lo = row[2 * (l % 4)], hi = row[2 * (l % 4) + 1];
        } else {
          lo = static_cast<const uint16_t *>(s[8 * m + 2 * (l % 4)].addr)[l / 4];
          hi = static_cast<const uint16_t *>(s[8 * m + 2 * (l % 4) + 1].addr)[l / 4];
        }
        s[l].r[m] = (uint32_t)lo | (uint32_t)hi << 16;
      }
  } else if (op0 == OP_MMA) {
    e.stat_mma++;
    /* m16n8k16 row.col: g = lane/4, t = lane%4. A: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8,
     * 2t+8..); B: b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g); C: c0,c1 (g, 2t..2t+1), c2,c3 (g+8, 2t..2t+1). */
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < WARP; l++) {
      const int g = l / 4, t = l % 4;
      for (int h = 0; h < 2; h++) {
        A[g][2 * t + h] = bf16_to_float((uint16_t)(s[l].a[0] >> (16 * h)));
        A[g + 8][2 * t + h] = bf16_to_float((uint16_t)(s[l].a[1] >> (16 * h)));
        A[g][2 * t + 8 + h] = bf16_to_float((uint16_t)(s[l].a[2] >> (16 * h)));
        A[g + 8][2 * t + 8 + h] = bf16_to_float((uint16_t)(s[l].a[3] >> (16 * h)));
        B[2 * t + h][g] = bf16_to_float((uint16_t)(s[l].b[0] >> (16 * h)));
        B[2 * t + 8 + h][g] = bf16_to_float((uint16_t)(s[l].b[1] >> (16 * h)));
        C[g][2 * t + h] = s[l].c[h];
        C[g + 8][2 * t + h] = s[l].c[2 + h];
      }
    }
    for (int l = 0; l < WARP; l++) {
      const int g = l / 4, t = l % 4;
      for (int e = 0; e < 4; e++) {
        const int row = g + (e >> 1) * 8, col = 2 * t + (e & 1);
        double acc = 0.0; /* bf16 products are exact; the sum is rounded once */
        for (int k = 0; k < 16; k++) acc += (double)A[row][k] * (double)B[k][col];
        s[l].c[e] = (float)((double)C[row][col] + acc);
      }
    }
  }
  for (int l = 0; l < WARP; l++) {
    e.fibers[w * WARP + l].st = READY;
    e.fibers[w * WARP + l].site = nullptr;
  }
}

/* No fiber can run: completes what can be completed; returns whether something was. */
bool resolve() {
  emu &e = E();
  bool progress = false;
  int bar = 0, done = 0;
  for (int w = 0; w * WARP < e.nthreads; w++) {
    const int n = e.nthreads - w * WARP < WARP ? e.nthreads - w * WARP : WARP;
    int waiting = 0;
    for (int l = 0; l < n; l++) waiting += e.fibers[w * WARP + l].st == WAIT_WARP;
    if (waiting == 0) continue;
    if (n < WARP) divergence("a warp collective in a partial warp");
    if (waiting < WARP) divergence("part of a warp waits at a collective, the rest elsewhere or exited");
    complete_warp(w);
    progress = true;
  }
  if (progress) return true;
  const void *site = nullptr;
  for (int i = 0; i < e.nthreads; i++) {
    if (e.fibers[i].st == DONE) done++;
    if (e.fibers[i].st == WAIT_BAR) {
      if (bar++ == 0) site = e.fibers[i].site;
      if (e.fibers[i].site != site) divergence("threads wait at different __syncthreads");
    }
  }
  if (bar == 0) return false;
  if (done > 0) divergence("threads exited while others wait at __syncthreads");
  e.epoch++;
  e.stat_bar++;
  for (int i = 0; i < e.nthreads; i++) e.fibers[i].st = READY, e.fibers[i].site = nullptr;
  return true;
}

/* Leaves the running fiber (already marked waiting or done) for the next one that can run, or the launcher. */
void yield() {
  emu &e = E();
  const int self = e.current;
  for (;;) {
    for (int k = 1; k <= e.nthreads; k++) {
      const int i = e.reverse ? (self - k + e.nthreads) % e.nthreads : (self + k) % e.nthreads;
      if (e.fibers[i].st == READY) {
        if (i == self) {
          enter(i);
          return;
        }
        enter(i);
        swapcontext(&e.fibers[self].ctx, &e.fibers[i].ctx);
        enter(self);
        return;
      }
    }
    bool all_done = true;
    for (int i = 0; i < e.nthreads; i++) all_done &= e.fibers[i].st == DONE;
    if (all_done) {
      swapcontext(&e.fibers[self].ctx, &e.main_ctx);
      fail("%s", "a finished fiber was resumed");
    }
    if (!resolve()) divergence("deadlock: no thread can proceed");
  }
}

void fiber_main() {
  emu &e = E();
  (*e.body)();
  e.fibers[e.current].st = DONE;
  yield();
}

void wait_collective(slot &s) {
  emu &e = E();
  e.fibers[e.current].st = WAIT_WARP;
  (void)s;
  yield();
}

slot &my_slot(int op) {
  emu &e = E();
  if (e.current < 0) fail("%s", "a device function ran outside a launch");
  slot &s = e.slots[e.current];
  s.op = op;
  return s;
}

void perform(const copy &c) {
  if (c.src_bytes > 0) memcpy(c.dst, c.src, (size_t)c.src_bytes);
  if (c.src_bytes < c.bytes) memset(static_cast<char *>(c.dst) + c.src_bytes, 0, (size_t)(c.bytes - c.src_bytes));
  emu &e = E();
  auto it = e.pending.find(reinterpret_cast<uintptr_t>(c.dst) >> 4);
  if (it != e.pending.end() && --it->second == 0) e.pending.erase(it);
  chunk_use &u = e.uses[reinterpret_cast<uintptr_t>(c.dst) >> 4];
  u.write_epoch = e.epoch;
  u.write_warp = e.current / WARP;
}

/* The main program's thread-local block: every emulated `__shared__` array (static or dynamic) and nothing else
 * (the kernels and the CPU references have no thread-locals of their own; the C library's and libgomp's live in
 * their own modules). Poisoning it at block start gives static shared memory the same treatment as dynamic. */
struct tls_block {
  unsigned char *base = nullptr;
  size_t bytes = 0;
};

int find_main_tls(struct dl_phdr_info *info, size_t, void *data) {
  tls_block *t = static_cast<tls_block *>(data);
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_TLS && info->dlpi_tls_data) {
      t->base = static_cast<unsigned char *>(info->dlpi_tls_data);
      t->bytes = info->dlpi_phdr[i].p_memsz;
    }
  return 1; /* the first module is the program itself */
}

const tls_block &main_tls() {
  static tls_block t = [] {
    tls_block b;
    dl_iterate_phdr(find_main_tls, &b);
    return b;
  }();
  return t;
}

}  // namespace

bool register_dynamic_smem(void *base, size_t bytes) {
  E().dynamic.push_back({static_cast<unsigned char *>(base), bytes});
  return true;
}

void check_shared(const void *p, const char *what) {
  emu &e = E();
  const unsigned char *c = static_cast<const unsigned char *>(p);
  /* The launch does not say which file's dynamic array its kernel declares: any of them, below the launch's size. */
  for (auto &d : e.dynamic) {
    if (c >= d.first && c < d.first + e.dyn_bytes) return;
    if (c >= d.first && c < d.first + d.second) fail("%s past the launch's dynamic shared memory", what);
  }
  /* Static __shared__ arrays: anywhere in the program's thread-local block, which holds nothing else. */
  const tls_block &t = main_tls();
  if (!t.base || (c >= t.base && c < t.base + t.bytes)) return;
  fail("%s is not shared memory", what);
}

void launch(const void *kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()> &body) {
  emu &e = E();
  if (e.current >= 0) fail("%s", "a launch from inside a kernel");
  const long long threads = (long long)block.x * block.y * block.z;
  if (threads < 1 || threads > 1024 || grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.y > 65535 || grid.z > 65535) {
    fprintf(stderr, "leap emu: bad launch configuration grid (%u,%u,%u) block (%u,%u,%u)\n", grid.x, grid.y, grid.z,
            block.x, block.y, block.z);
    abort();
  }
  if (smem > DEFAULT_DYNAMIC_LIMIT) {
    auto it = e.max_dynamic.find(kernel);
    if (it == e.max_dynamic.end() || (size_t)it->second < smem || smem > MAX_DYNAMIC_SMEM) {
      fprintf(stderr,
              "leap emu: launch with %zu bytes of dynamic shared memory without a matching "
              "cudaFuncAttributeMaxDynamicSharedMemorySize\n",
              smem);
      abort();
    }
  }
  if (block.y != 1 || block.z != 1) {
    fprintf(stderr, "leap emu: only one-dimensional blocks are emulated\n");
    abort();
  }
  e.nthreads = (int)threads;
  if ((int)e.fibers.size() < e.nthreads) {
    const size_t old = e.fibers.size();
    e.fibers.resize((size_t)e.nthreads);
    for (size_t i = old; i < e.fibers.size(); i++) e.fibers[i].stack = static_cast<char *>(malloc(STACK_BYTES));
  }
  e.slots.assign((size_t)((e.nthreads + WARP - 1) / WARP * WARP), slot{});
  e.body = &body;
  e.dyn_bytes = smem;
  g_grid_dim = grid;
  g_block_dim = block;
  const uint64_t nblocks = (uint64_t)grid.x * grid.y * grid.z;
  for (uint64_t n = 0; n < nblocks; n++) {
    const uint64_t b = e.reverse ? nblocks - 1 - n : n;
    g_block_idx = make_uint3((unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y), (unsigned)(b / grid.x / grid.y));
    for (auto &d : e.dynamic) memset(d.first, 0xFF, d.second);
    if (main_tls().base) memset(main_tls().base, 0xFF, main_tls().bytes);
    e.pending.clear();
    e.uses.clear();
    e.epoch = 0;
    e.stat_blocks++;
    for (int i = 0; i < e.nthreads; i++) {
      fiber &f = e.fibers[i];
      f.st = READY;
      f.site = nullptr;
      f.tid = make_uint3((unsigned)i, 0, 0);
      f.open.clear();
      f.groups.clear();
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = f.stack;
      f.ctx.uc_stack.ss_size = STACK_BYTES;
      f.ctx.uc_link = nullptr;
      makecontext(&f.ctx, fiber_main, 0);
    }
    const int first = e.reverse ? e.nthreads - 1 : 0;
    enter(first);
    swapcontext(&e.main_ctx, &e.fibers[first].ctx);
    e.current = -1;
  }
  e.body = nullptr;
}

void syncthreads(const void *site) {
  emu &e = E();
  if (e.current < 0) fail("%s", "__syncthreads outside a launch");
  e.fibers[e.current].st = WAIT_BAR;
  e.fibers[e.current].site = site;
  yield();
}

void syncwarp(unsigned mask) {
  if (mask != 0xffffffffu) fail("%s", "__syncwarp with a partial mask is not emulated");
  slot &s = my_slot(OP_SYNCWARP);
  wait_collective(s);
}

uint64_t shfl(unsigned mask, uint64_t v, int kind, int arg, int width) {
  if (mask != 0xffffffffu) fail("%s", "a shuffle with a partial mask is not emulated");
  if (width < 1 || width > WARP || (width & (width - 1))) fail("%s", "shuffle width not a power of two <= 32");
  slot &s = my_slot(OP_SHFL);
  s.mask = mask, s.value = v, s.kind = kind, s.arg = arg, s.width = width;
  wait_collective(s);
  return E().slots[E().current].out;
}

void ldmatrix_x4(uint32_t (&r)[4], const void *row_addr, bool trans) {
  emu &e = E();
  if (reinterpret_cast<uintptr_t>(row_addr) % 16) fail("%s", "ldmatrix row address not 16-byte aligned");
  check_shared(row_addr, "ldmatrix");
  if (!e.pending.empty() && e.pending.count(reinterpret_cast<uintptr_t>(row_addr) >> 4))
    fail("%s", "ldmatrix reads shared memory that a cp.async still in flight writes (missing wait or barrier)");
  slot &s = my_slot(trans ? OP_LDSM_T : OP_LDSM);
  s.addr = row_addr;
  wait_collective(s);
  const slot &d = E().slots[E().current];
  for (int m = 0; m < 4; m++) r[m] = d.r[m];
}

void mma_bf16_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  slot &s = my_slot(OP_MMA);
  for (int i = 0; i < 4; i++) s.a[i] = a[i], s.c[i] = c[i];
  s.b[0] = b0, s.b[1] = b1;
  wait_collective(s);
  const slot &d = E().slots[E().current];
  for (int i = 0; i < 4; i++) c[i] = d.c[i];
}

void cp_async(void *dst, const void *src, int bytes, int src_bytes) {
  emu &e = E();
  if (e.current < 0) fail("%s", "cp.async outside a launch");
  if (reinterpret_cast<uintptr_t>(dst) % (uintptr_t)bytes || reinterpret_cast<uintptr_t>(src) % (uintptr_t)bytes)
    fail("%s", "cp.async address not aligned to its size");
  if (src_bytes < 0 || src_bytes > bytes) fail("%s", "cp.async src-size outside 0..cp-size");
  check_shared(dst, "cp.async destination");
  auto u = e.uses.find(reinterpret_cast<uintptr_t>(dst) >> 4);
  if (u != e.uses.end() && u->second.read_epoch == e.epoch && (u->second.read_warps & ~(1ull << (e.current / WARP))))
    fail("%s", "cp.async overwrites shared memory another warp read with no __syncthreads between (a race)");
  e.fibers[e.current].open.push_back({dst, src, bytes, src_bytes});
  e.stat_cp++;
  e.pending[reinterpret_cast<uintptr_t>(dst) >> 4]++;
}

void cp_async_commit() {
  emu &e = E();
  fiber &f = e.fibers[e.current];
  f.groups.push_back(std::move(f.open));
  f.open.clear();
}

void cp_async_wait(int pending) {
  emu &e = E();
  fiber &f = e.fibers[e.current];
  while ((int)f.groups.size() > pending) {
    for (const copy &c : f.groups.front()) perform(c);
    f.groups.erase(f.groups.begin());
  }
}

void set_schedule(bool reverse) { E().reverse = reverse; }

stats get_stats() {
  emu &e = E();
  return stats{e.stat_blocks, e.stat_mma, e.stat_ldsm, e.stat_cp, e.stat_bar};
}

}  // namespace leap_emu

/* Host stand-ins for the runtime calls of the emulated files: one device of compute capability 8.0, device
 * pointers are host pointers, nothing fails. */
extern "C" {

cudaError_t cudaGetLastError(void) { return cudaSuccess; }
cudaError_t cudaPeekAtLastError(void) { return cudaSuccess; }
const char *cudaGetErrorString(cudaError_t) { return "no error (emulated)"; }
cudaError_t cudaGetDevice(int *device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int) {
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor:
      *value = 8;
      break;
    case cudaDevAttrComputeCapabilityMinor:
      *value = 0;
      break;
    case cudaDevAttrMultiProcessorCount:
      *value = 108;
      break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = 163 * 1024;
      break;
    default:
      *value = 0;
      break;
  }
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) leap_emu::E().max_dynamic[func] = value;
  return cudaSuccess;
}
}
