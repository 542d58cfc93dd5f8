/* What the emulated tests share: bf16 conversions, deterministic random data, "device" buffers next to a guard
 * page (a read or write past the end, or before the start, of a tensor faults at once), and tolerance checks. */
#ifndef LEAP_TESTS_EMU_EMU_UTIL_H
#define LEAP_TESTS_EMU_EMU_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

namespace emu_util {

inline uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
  return (uint16_t)(u >> 16);
}

inline float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

inline float round_bf16(float f) { return from_bf16(to_bf16(f)); }

/* xorshift64*: the same data on every run. */
struct rng {
  uint64_t s;
  explicit rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  float uniform(float lo, float hi) {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    const uint64_t x = s * 0x2545F4914F6CDD1Dull;
    return lo + (hi - lo) * (float)((x >> 40) * (1.0 / 16777216.0));
  }
};

/* Where buffers get their inaccessible guard page: right after their end (the default) or right before their
 * start. The tests run every case both ways, so that a read or write past either end of a tensor faults. */
inline bool &guard_front() {
  static bool front = false;
  return front;
}

/* A mapping of `bytes` (rounded up to 16) next to an inaccessible page; 16-byte aligned, as cudaMalloc's are. */
struct guarded {
  char *map = nullptr;
  size_t map_bytes = 0;
  void *p = nullptr;
  explicit guarded(size_t bytes) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), used = (bytes + 15) / 16 * 16;
    const size_t data = (used + page - 1) / page * page;
    map_bytes = data + page;
    map = static_cast<char *>(mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (map == MAP_FAILED) abort();
    if (guard_front()) {
      mprotect(map, page, PROT_NONE);
      p = map + page;
    } else {
      mprotect(map + data, page, PROT_NONE);
      p = map + data - used;
    }
  }
  ~guarded() { munmap(map, map_bytes); }
  guarded(const guarded &) = delete;
  guarded &operator=(const guarded &) = delete;
};

/* A device tensor of n elements of `elem` bytes. */
struct dbuf {
  guarded mem;
  void *p;
  size_t bytes;
  dbuf(size_t n, size_t elem) : mem(n * elem > 0 ? n * elem : 16), p(mem.p), bytes(n * elem > 0 ? n * elem : 16) {}
  uint16_t *h() { return static_cast<uint16_t *>(p); }
  float *f() { return static_cast<float *>(p); }
};

/* Counts failures; prints the first few of each check. */
struct checker {
  int failures = 0;
  /* got[i] against want[i] within atol + rtol |want|; NaN never passes; infinities must match exactly. */
  bool close(const char *what, const float *got, const float *want, size_t n, float atol, float rtol) {
    int bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
      const float g = got[i], w = want[i];
      bool ok;
      if (isinf(w) || isinf(g))
        ok = g == w;
      else
        ok = !isnan(g) && !isnan(w) && fabsf(g - w) <= atol + rtol * fabsf(w);
      if (!isnan(g) && !isinf(g) && !isinf(w)) worst = fmax(worst, fabs((double)g - w));
      if (!ok && bad++ < 5) fprintf(stderr, "  %s[%zu]: got %g, want %g\n", what, i, g, w);
    }
    if (bad) {
      fprintf(stderr, "FAIL %s: %d of %zu elements off (largest finite error %g)\n", what, bad, n, worst);
      failures++;
    }
    return bad == 0;
  }
  bool same_bits(const char *what, const void *a, const void *b, size_t bytes) {
    if (memcmp(a, b, bytes) == 0) return true;
    fprintf(stderr, "FAIL %s: two runs differ\n", what);
    failures++;
    return false;
  }
};

}  // namespace emu_util

#endif
