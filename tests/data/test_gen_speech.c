/* The speech generator's labels agree with its speech.
 *
 * For each utterance the test, with its own code: checks the source sentence against the grammar; translates it
 * (dictionary plus adjective-after-noun reordering) and compares with the stored target text; maps the target
 * units back to words through the target lexicon (letters of the unit names, split at <sil>) and compares with the
 * target text; and reads the source frames back into phonemes (nearest speaker-transformed pattern per frame, runs
 * collapsed) and compares with the spelling of the source text: the phoneme count, the phonemes, and 2 to 6 frames
 * each. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/gen_speech.h"
#include "kernels/common/kernel_common.h"
#include "tests/common/leap_test.h"

#define N_PER_SPLIT 500
#define MIN_PATTERN_DISTANCE 0.6

static bool is_vowel(char c) { return strchr("aeiou", c) != NULL; }

/* Every word alternates consonant and vowel, and no word is a prefix of another (so speech parses one way). */
static void check_lexicon(const char *(*word)(int), const char *language) {
  for (int a = 3; a < LEAP_SPEECH_TEXT_VOCAB; a++) {
    const char *wa = word(a);
    LEAP_TEST_ASSERT(wa && strlen(wa) >= 2 && strlen(wa) <= LEAP_SPEECH_MAX_WORD_PHONEMES, "%s word %d", language, a);
    for (size_t i = 1; wa[i]; i++)
      LEAP_TEST_ASSERT(is_vowel(wa[i]) != is_vowel(wa[i - 1]), "%s word '%s' repeats a phoneme class", language, wa);
    for (int b = 3; b < LEAP_SPEECH_TEXT_VOCAB; b++)
      if (a != b)
        LEAP_TEST_ASSERT(strncmp(wa, word(b), strlen(wa)) != 0, "%s '%s' prefixes '%s'", language, wa, word(b));
  }
}

static void check_dictionary(void) {
  check_lexicon(leap_speech_src_word, "source");
  check_lexicon(leap_speech_tgt_word, "target");
  int used[LEAP_SPEECH_TEXT_VOCAB] = {0}, identity = 0, per_category[4] = {0};
  for (int s = 3; s < LEAP_SPEECH_TEXT_VOCAB; s++) {
    int t = leap_speech_translate(s);
    LEAP_TEST_ASSERT(t >= 3 && t < LEAP_SPEECH_TEXT_VOCAB, "word %d translates to token %d", s, t);
    if (t >= 3 && t < LEAP_SPEECH_TEXT_VOCAB) used[t]++;
    identity += t == s;
    per_category[leap_speech_word_category(s)]++;
    LEAP_TEST_ASSERT(leap_speech_src_token(leap_speech_src_word(s)) == s, "source word %d lookup", s);
  }
  for (int t = 3; t < LEAP_SPEECH_TEXT_VOCAB; t++)
    LEAP_TEST_ASSERT(used[t] == 1, "target word %d used %d times", t, used[t]);
  LEAP_TEST_ASSERT(identity < 5, "translation keeps %d token ids", identity);
  LEAP_TEST_ASSERT(per_category[0] == 10 && per_category[1] == 8 && per_category[2] == 8 && per_category[3] == 4,
                   "categories %d %d %d %d", per_category[0], per_category[1], per_category[2], per_category[3]);
}

static double distance(const float *a, const float *b) {
  double s = 0.0;
  for (int k = 0; k < LEAP_SPEECH_BANDS; k++) s += (a[k] - b[k]) * (double)(a[k] - b[k]);
  return sqrt(s);
}

static void check_patterns(void) {
  float p[LEAP_SPEECH_SRC_PHONEMES][LEAP_SPEECH_BANDS], u[LEAP_SPEECH_UNIT_VOCAB][LEAP_SPEECH_BANDS];
  double src_min = 1e9, unit_min = 1e9;
  for (int i = 0; i < LEAP_SPEECH_SRC_PHONEMES; i++) leap_speech_phoneme_pattern(p[i], i);
  for (int i = 0; i < LEAP_SPEECH_UNIT_VOCAB; i++) leap_speech_unit_pattern(u[i], i);
  for (int i = 0; i < LEAP_SPEECH_SRC_PHONEMES; i++)
    for (int j = i + 1; j < LEAP_SPEECH_SRC_PHONEMES; j++) src_min = fmin(src_min, distance(p[i], p[j]));
  for (int i = 3; i < LEAP_SPEECH_UNIT_VOCAB; i++)
    for (int j = i + 1; j < LEAP_SPEECH_UNIT_VOCAB; j++) unit_min = fmin(unit_min, distance(u[i], u[j]));
  printf("speech: nearest pattern pairs %.3f (source phonemes), %.3f (units)\n", src_min, unit_min);
  LEAP_TEST_ASSERT(src_min > MIN_PATTERN_DISTANCE && unit_min > MIN_PATTERN_DISTANCE, "patterns too alike");
  /* The vocoder renders 3 frames of each unit's pattern. */
  int32_t units[3] = {5, LEAP_SPEECH_SIL, 12};
  float frames[9 * LEAP_SPEECH_BANDS];
  leap_speech_vocode(frames, units, 3);
  for (int f = 0; f < 9; f++)
    LEAP_TEST_ASSERT(distance(frames + f * LEAP_SPEECH_BANDS, u[units[f / 3]]) == 0.0, "vocoder frame %d", f);
}

/* Words between 0 and <eos>, with <pad> after it and the stored length; -1 if malformed. */
static int text_words(const int32_t *t, int width, int32_t len) {
  int n = 0;
  while (n < width && t[n] != LEAP_SPEECH_EOS) {
    if (t[n] < 3 || t[n] >= LEAP_SPEECH_TEXT_VOCAB) return -1;
    n++;
  }
  if (n == width || len != n + 1) return -1;
  for (int i = n + 1; i < width; i++)
    if (t[i] != LEAP_SPEECH_PAD) return -1;
  return n;
}

/* [ADJ] N V ([ADJ] N | ADV)? */
static bool grammatical(const int32_t *w, int n) {
  int i = 0;
  for (int phrase = 0; phrase < 2; phrase++) {
    if (phrase == 1) {
      if (i == n) return true;
      if (leap_speech_word_category(w[i]) == LEAP_SPEECH_ADVERB) return i + 1 == n;
    }
    if (i < n && leap_speech_word_category(w[i]) == LEAP_SPEECH_ADJECTIVE) i++;
    if (i >= n || leap_speech_word_category(w[i++]) != LEAP_SPEECH_NOUN) return false;
    if (phrase == 0 && (i >= n || leap_speech_word_category(w[i++]) != LEAP_SPEECH_VERB)) return false;
  }
  return i == n;
}

static bool translation_matches(const int32_t *src, const int32_t *tgt, int n) {
  int32_t want[LEAP_SPEECH_MAX_WORDS];
  for (int i = 0; i < n; i++) want[i] = leap_speech_translate(src[i]);
  for (int i = 0; i + 1 < n; i++)
    if (leap_speech_word_category(src[i]) == LEAP_SPEECH_ADJECTIVE) {
      int32_t a = want[i];
      want[i] = want[i + 1], want[i + 1] = a, i++;
    }
  return !memcmp(want, tgt, sizeof(int32_t) * (size_t)n);
}

/* Spells the units back into target words through the target lexicon. */
static bool units_spell(const int32_t *units, int32_t len, const int32_t *tgt, int n) {
  char word[16];
  int w = 0, c = 0;
  for (int i = 0; i < len; i++) {
    int32_t u = units[i];
    if (u == LEAP_SPEECH_SIL || u == LEAP_SPEECH_EOS) {
      word[c] = '\0';
      if (w >= n || leap_speech_tgt_token(word) != tgt[w]) return false;
      w++, c = 0;
      if (u == LEAP_SPEECH_EOS) return i == len - 1 && w == n;
      continue;
    }
    const char *name = leap_speech_unit_name(u);
    if (!name || u <= LEAP_SPEECH_SIL || c >= 15) return false;
    word[c++] = name[0];
  }
  return false;
}

/* Reads the frames back into phonemes and compares with the spelling of the source words. */
static bool speech_spells(const float *frames, int32_t frame_len, const int32_t *src, int n,
                          const leap_speech_utterance *u) {
  float templ[LEAP_SPEECH_SRC_PHONEMES][LEAP_SPEECH_BANDS];
  for (int p = 0; p < LEAP_SPEECH_SRC_PHONEMES; p++) leap_speech_speaker_frame(templ[p], p, u);
  char spelled[64] = "";
  for (int i = 0; i < n; i++) strcat(spelled, leap_speech_src_word(src[i]));
  int runs = 0, run_len = 0, prev = -1;
  char heard[64];
  for (int t = 0; t <= frame_len; t++) {
    int best = -1;
    if (t < frame_len) {
      double best_d = 1e9;
      for (int p = 0; p < LEAP_SPEECH_SRC_PHONEMES; p++) {
        double d = distance(frames + t * LEAP_SPEECH_BANDS, templ[p]);
        if (d < best_d) best_d = d, best = p;
      }
    }
    if (best == prev) {
      run_len++;
      continue;
    }
    if (prev >= 0 && (run_len < 2 || run_len > 6)) return false;
    if (best >= 0 && runs < 63) heard[runs++] = leap_speech_src_phoneme_name(best)[0];
    prev = best, run_len = 1;
  }
  heard[runs] = '\0';
  for (int t = frame_len * LEAP_SPEECH_BANDS; t < LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS; t++)
    if (frames[t] != 0.0f) return false;
  return runs == (int)strlen(spelled) && !strcmp(heard, spelled);
}

static void check_split(leap_split split) {
  const int64_t n = N_PER_SPLIT;
  leap_speech_fields f = {
      malloc(sizeof(float) * n * LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS), malloc(sizeof(int32_t) * n),
      malloc(sizeof(int32_t) * n * LEAP_SPEECH_TEXT_LEN), malloc(sizeof(int32_t) * n),
      malloc(sizeof(int32_t) * n * LEAP_SPEECH_TEXT_LEN), malloc(sizeof(int32_t) * n),
      malloc(sizeof(int32_t) * n * LEAP_SPEECH_MAX_UNITS), malloc(sizeof(int32_t) * n)};
  leap_speech_generate(&f, 17, split, 0, n);
  int lengths[LEAP_SPEECH_MAX_WORDS + 1] = {0}, failures = 0, longest = 0;
  for (int i = 0; i < n; i++) {
    leap_speech_utterance u;
    leap_speech_utterance_sample(&u, 17, split, i);
    const int32_t *src = f.src_text + i * LEAP_SPEECH_TEXT_LEN, *tgt = f.tgt_text + i * LEAP_SPEECH_TEXT_LEN;
    int ns = text_words(src, LEAP_SPEECH_TEXT_LEN, f.src_text_len[i]);
    int nt = text_words(tgt, LEAP_SPEECH_TEXT_LEN, f.tgt_text_len[i]);
    bool ok = ns >= 2 && ns <= 5 && nt == ns && grammatical(src, ns);
    ok = ok && translation_matches(src, tgt, ns);
    ok = ok && units_spell(f.tgt_units + i * LEAP_SPEECH_MAX_UNITS, f.tgt_units_len[i], tgt, nt);
    ok = ok && speech_spells(f.src_frames + i * LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS, f.src_len[i], src, ns, &u);
    if (!ok && failures++ < 5) LEAP_TEST_ASSERT(false, "%s utterance %d: labels disagree", leap_split_name(split), i);
    if (ns >= 0 && ns <= LEAP_SPEECH_MAX_WORDS) lengths[ns]++;
    longest = f.src_len[i] > longest ? f.src_len[i] : longest;
  }
  LEAP_TEST_ASSERT(failures == 0, "%s: %d utterances disagree with their labels", leap_split_name(split), failures);
  for (int k = 2; k <= 5; k++)
    LEAP_TEST_ASSERT(lengths[k] > n / 20, "%s: only %d sentences of %d words", leap_split_name(split), lengths[k], k);
  printf("speech %s: sentences of 2..5 words: %d %d %d %d; longest %d frames\n", leap_split_name(split), lengths[2],
         lengths[3], lengths[4], lengths[5], longest);
  free(f.src_frames), free(f.src_len), free(f.src_text), free(f.src_text_len);
  free(f.tgt_text), free(f.tgt_text_len), free(f.tgt_units), free(f.tgt_units_len);
}

/* Speakers differ and the frames carry noise around the speaker's pattern. */
static void check_speakers(void) {
  double shift_lo = 9, shift_hi = -9, noise_seen = 0;
  for (int i = 0; i < 200; i++) {
    leap_speech_utterance u;
    leap_speech_utterance_sample(&u, 2, LEAP_SPLIT_TRAIN, i);
    shift_lo = fmin(shift_lo, u.shift), shift_hi = fmax(shift_hi, u.shift);
    float frames[LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS], clean[LEAP_SPEECH_BANDS];
    leap_speech_render_source(frames, &u);
    leap_speech_speaker_frame(clean, u.phonemes[0], &u);
    noise_seen += distance(frames, clean) / sqrt(LEAP_SPEECH_BANDS) / u.noise / 200.0;
  }
  LEAP_TEST_ASSERT(shift_hi - shift_lo > 1.5, "speakers' band shifts span only %.2f", shift_hi - shift_lo);
  LEAP_TEST_ASSERT(noise_seen > 0.7 && noise_seen < 1.3, "frame noise is %.2f of its stated level", noise_seen);
}

static void check_determinism(void) {
  enum { N = 32 };
  static float a[N * LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS], b[N * LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS];
  static int32_t ua[N * LEAP_SPEECH_MAX_UNITS], ub[N * LEAP_SPEECH_MAX_UNITS];
  leap_speech_fields fa = {.src_frames = a, .tgt_units = ua}, fb = {.src_frames = b, .tgt_units = ub};
#ifdef LEAP_WITH_OPENMP
  omp_set_num_threads(1);
#endif
  leap_speech_generate(&fa, 8, LEAP_SPLIT_TEST, 11, N);
#ifdef LEAP_WITH_OPENMP
  omp_set_num_threads(2);
#endif
  leap_speech_generate(&fb, 8, LEAP_SPLIT_TEST, 11, N);
  LEAP_TEST_ASSERT(!memcmp(a, b, sizeof a) && !memcmp(ua, ub, sizeof ua), "1 and 2 threads differ");
  leap_speech_generate(&fb, 9, LEAP_SPLIT_TEST, 11, N);
  LEAP_TEST_ASSERT(memcmp(a, b, sizeof a) != 0, "seeds 8 and 9 give the same speech");
}

int main(void) {
  check_dictionary();
  check_patterns();
  for (int split = 0; split < LEAP_SPLIT_COUNT; split++) check_split((leap_split)split);
  check_speakers();
  check_determinism();
  return leap_test_finish();
}
