#include "data/gen_speech.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/common/kernel_common.h"

#define SPEECH_TASK 3u
#define SPEECH_PURPOSE_SENTENCE 0u
#define SPEECH_PURPOSE_NOISE 1u
#define SPEECH_SPECIALS 3
#define SPEECH_UNIT_SPECIALS 4
#define SPEECH_STRUCTURES 3 /* NP V, NP V NP, NP V ADV */
#define SPEECH_FRAME_FLOATS ((int64_t)LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS)

static const char *const g_specials[] = {"<pad>", "<bos>", "<eos>", "<sil>"};

/* Source words in token order: nouns, adjectives, verbs, adverbs. */
static const char *const g_src_words[LEAP_SPEECH_WORDS] = {
    "bado", "kimu", "talo", "pesi", "nugo", "lemi", "dasu", "gobe", "sipa", "mukale",
    "beli", "kotu", "sane", "pimo", "lugi", "tesa", "dino", "gape",
    "nabi", "kesu", "lomo", "tiga", "bupe", "sodi", "mile", "punaki",
    "dekolu", "pasimo", "gutane", "menisa",
};
/* Each source word's translation, in the same order. */
static const char *const g_dictionary[LEAP_SPEECH_WORDS] = {
    "faro", "hize", "juva", "woze", "yafi", "ruho", "vije", "zoru", "hawa", "jefo",
    "fi", "vu", "zeha", "fowi", "jari", "yevo", "wuza", "hoyi",
    "fevaru", "zija", "huro", "wafe", "jozi", "riwe", "yuha", "vore",
    "zufa", "harivo", "jiwe", "fuyo",
};
/* Target words in token order (alphabetical). */
static const char *const g_tgt_words[LEAP_SPEECH_WORDS] = {
    "faro", "fevaru", "fi", "fowi", "fuyo", "harivo", "hawa", "hize", "hoyi", "huro",
    "jari", "jefo", "jiwe", "jozi", "juva", "riwe", "ruho", "vije", "vore", "vu",
    "wafe", "woze", "wuza", "yafi", "yevo", "yuha", "zeha", "zija", "zoru", "zufa",
};
static const int g_category_start[] = {0, 10, 18, 26, 30}; /* nouns, adjectives, verbs, adverbs */

static const char g_src_letters[] = "ptkbdgmnslaeiou";
static const char g_tgt_letters[] = "fhjrvwyzaeiou";
static const char *const g_src_names[LEAP_SPEECH_SRC_PHONEMES] = {"p", "t", "k", "b", "d", "g", "m", "n",
                                                                  "s", "l", "a", "e", "i", "o", "u"};
static const char *const g_unit_names[LEAP_SPEECH_UNIT_VOCAB] = {
    "<pad>", "<bos>", "<eos>", "<sil>", "f", "h", "j", "r", "v", "w", "y", "z", "a", "e", "i", "o", "u"};

const char *leap_speech_src_word(int token) {
  if (token < 0 || token >= LEAP_SPEECH_TEXT_VOCAB) return NULL;
  return token < SPEECH_SPECIALS ? g_specials[token] : g_src_words[token - SPEECH_SPECIALS];
}

const char *leap_speech_tgt_word(int token) {
  if (token < 0 || token >= LEAP_SPEECH_TEXT_VOCAB) return NULL;
  return token < SPEECH_SPECIALS ? g_specials[token] : g_tgt_words[token - SPEECH_SPECIALS];
}

static int find_word(const char *const *words, const char *word) {
  for (int t = 0; t < LEAP_SPEECH_TEXT_VOCAB; t++)
    if (!strcmp(t < SPEECH_SPECIALS ? g_specials[t] : words[t - SPEECH_SPECIALS], word)) return t;
  return -1;
}

int leap_speech_src_token(const char *word) { return find_word(g_src_words, word); }
int leap_speech_tgt_token(const char *word) { return find_word(g_tgt_words, word); }

const char *leap_speech_unit_name(int unit) {
  return unit >= 0 && unit < LEAP_SPEECH_UNIT_VOCAB ? g_unit_names[unit] : NULL;
}

const char *leap_speech_src_phoneme_name(int phoneme) {
  return phoneme >= 0 && phoneme < LEAP_SPEECH_SRC_PHONEMES ? g_src_names[phoneme] : NULL;
}

leap_speech_category leap_speech_word_category(int src_token) {
  int w = src_token - SPEECH_SPECIALS, c = 0;
  while (c < 3 && w >= g_category_start[c + 1]) c++;
  return (leap_speech_category)c;
}

int leap_speech_translate(int src_token) {
  return leap_speech_tgt_token(g_dictionary[src_token - SPEECH_SPECIALS]);
}

/* ---- Sound ----------------------------------------------------------------------------------------------------- */

/* A pattern at (possibly shifted) band position x: a floor plus two Gaussian bumps. */
static float bumps(float x, float c1, float c2, float a1, float a2, float w1, float w2) {
  float d1 = (x - c1) / w1, d2 = (x - c2) / w2;
  return 0.1f + a1 * expf(-0.5f * d1 * d1) + a2 * expf(-0.5f * d2 * d2);
}

/* The two bump centres: the first steps through the bands, the second sits a phoneme-dependent distance above it
 * (wrapped into the band range), so that every pair of patterns is far apart (the test checks it). */
static void centres(float *c1, float *c2, int k, float start, float gap, float step) {
  *c1 = start + 3.5f * (float)(k % 5);
  *c2 = *c1 + gap + step * (float)(k / 5);
  if (*c2 >= 19.5f) *c2 -= 18.0f;
}

static float src_pattern_at(int phoneme, float x) {
  float c1, c2;
  centres(&c1, &c2, phoneme, 1.5f, 5.0f, 3.0f);
  return bumps(x, c1, c2, 1.0f, 0.6f, 1.1f, 1.4f);
}

void leap_speech_phoneme_pattern(float *pattern, int phoneme) {
  for (int b = 0; b < LEAP_SPEECH_BANDS; b++) pattern[b] = src_pattern_at(phoneme, (float)b);
}

void leap_speech_unit_pattern(float *pattern, int unit) {
  float c1, c2;
  centres(&c1, &c2, unit - SPEECH_UNIT_SPECIALS, 2.5f, 4.0f, 3.5f);
  for (int b = 0; b < LEAP_SPEECH_BANDS; b++)
    pattern[b] = unit < SPEECH_UNIT_SPECIALS ? 0.0f : bumps((float)b, c1, c2, 0.9f, 0.8f, 1.3f, 1.0f);
}

void leap_speech_speaker_frame(float *frame, int phoneme, const leap_speech_utterance *u) {
  for (int b = 0; b < LEAP_SPEECH_BANDS; b++)
    frame[b] = u->gain * src_pattern_at(phoneme, (float)b - u->shift) + u->tilt * ((float)b - 9.5f) / 9.5f;
}

int leap_speech_render_source(float *frames, const leap_speech_utterance *u) {
  int t = 0;
  uint64_t base = (uint64_t)u->noise_sample * LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS;
  for (int p = 0; p < u->n_phonemes; p++) {
    float clean[LEAP_SPEECH_BANDS];
    leap_speech_speaker_frame(clean, u->phonemes[p], u);
    for (int d = 0; d < u->durations[p]; d++, t++)
      for (int b = 0; b < LEAP_SPEECH_BANDS; b++) {
        uint64_t i = base + (uint64_t)t * LEAP_SPEECH_BANDS + (uint64_t)b;
        frames[t * LEAP_SPEECH_BANDS + b] = clean[b] + u->noise * leap_rng_normal(u->noise_seed, u->noise_stream, i);
      }
  }
  memset(frames + t * LEAP_SPEECH_BANDS, 0, sizeof(float) * (size_t)(LEAP_SPEECH_MAX_FRAMES - t) * LEAP_SPEECH_BANDS);
  return t;
}

static int letter_index(const char *letters, char c) { return (int)(strchr(letters, c) - letters); }

int leap_speech_units(int32_t *units, const int32_t *tgt_words, int n_words) {
  int len = 0;
  for (int w = 0; w < n_words; w++) {
    if (w > 0) units[len++] = LEAP_SPEECH_SIL;
    for (const char *c = leap_speech_tgt_word(tgt_words[w]); *c; c++)
      units[len++] = SPEECH_UNIT_SPECIALS + letter_index(g_tgt_letters, *c);
  }
  units[len++] = LEAP_SPEECH_EOS;
  for (int i = len; i < LEAP_SPEECH_MAX_UNITS; i++) units[i] = LEAP_SPEECH_PAD;
  return len;
}

void leap_speech_vocode(float *frames, const int32_t *units, int n) {
  for (int i = 0; i < n; i++) {
    float pattern[LEAP_SPEECH_BANDS];
    leap_speech_unit_pattern(pattern, units[i]);
    for (int f = 0; f < LEAP_SPEECH_FRAMES_PER_UNIT; f++)
      memcpy(frames + ((int64_t)i * LEAP_SPEECH_FRAMES_PER_UNIT + f) * LEAP_SPEECH_BANDS, pattern, sizeof pattern);
  }
}

/* ---- Sentences ------------------------------------------------------------------------------------------------- */

static int32_t draw_word(leap_speech_category c, leap_gen_rng *r) {
  int n = g_category_start[c + 1] - g_category_start[c];
  return SPEECH_SPECIALS + g_category_start[c] + leap_gen_int(r, n);
}

/* A noun phrase in source order (adjective first); returns its length. */
static int draw_np(int32_t *words, leap_gen_rng *r) {
  int n = 0;
  if (leap_gen_uniform(r) < 0.5f) words[n++] = draw_word(LEAP_SPEECH_ADJECTIVE, r);
  words[n++] = draw_word(LEAP_SPEECH_NOUN, r);
  return n;
}

/* The target order: each adjective moves behind the noun that follows it; then every word is translated. */
static void translate(leap_speech_utterance *u) {
  for (int i = 0; i < u->n_words; i++) {
    bool adjective = leap_speech_word_category(u->src_words[i]) == LEAP_SPEECH_ADJECTIVE;
    if (adjective && i + 1 < u->n_words) {
      u->tgt_words[i] = leap_speech_translate(u->src_words[i + 1]);
      u->tgt_words[i + 1] = leap_speech_translate(u->src_words[i]);
      i++;
    } else {
      u->tgt_words[i] = leap_speech_translate(u->src_words[i]);
    }
  }
}

void leap_speech_utterance_sample(leap_speech_utterance *u, uint64_t seed, leap_split split, int64_t index) {
  memset(u, 0, sizeof *u);
  leap_gen_rng r = leap_gen_rng_at(seed, leap_gen_stream(SPEECH_TASK, SPEECH_PURPOSE_SENTENCE, split), index);
  int structure = leap_gen_int(&r, SPEECH_STRUCTURES);
  u->n_words = draw_np(u->src_words, &r);
  u->src_words[u->n_words++] = draw_word(LEAP_SPEECH_VERB, &r);
  if (structure == 1) u->n_words += draw_np(u->src_words + u->n_words, &r);
  if (structure == 2) u->src_words[u->n_words++] = draw_word(LEAP_SPEECH_ADVERB, &r);
  translate(u);
  for (int w = 0; w < u->n_words; w++)
    for (const char *c = leap_speech_src_word(u->src_words[w]); *c; c++) {
      u->phonemes[u->n_phonemes] = letter_index(g_src_letters, *c);
      u->durations[u->n_phonemes++] =
          LEAP_SPEECH_MIN_FRAMES_PER_PHONEME +
          leap_gen_int(&r, LEAP_SPEECH_MAX_FRAMES_PER_PHONEME - LEAP_SPEECH_MIN_FRAMES_PER_PHONEME + 1);
    }
  u->shift = leap_gen_range(&r, -1.0f, 1.0f);
  u->tilt = leap_gen_range(&r, -0.3f, 0.3f);
  u->gain = leap_gen_range(&r, 0.85f, 1.15f);
  u->noise = leap_gen_range(&r, 0.02f, 0.06f);
  u->noise_seed = seed;
  u->noise_stream = leap_gen_stream(SPEECH_TASK, SPEECH_PURPOSE_NOISE, split);
  u->noise_sample = index;
}

/* Words, <eos>, <pad> to the text width; returns the length. */
static int32_t text_tokens(int32_t *out, const int32_t *words, int n) {
  for (int i = 0; i < LEAP_SPEECH_TEXT_LEN; i++) out[i] = i < n ? words[i] : i == n ? LEAP_SPEECH_EOS : LEAP_SPEECH_PAD;
  return n + 1;
}

void leap_speech_generate(const leap_speech_fields *out, uint64_t seed, leap_split split, int64_t first, int64_t n) {
  LEAP_OMP_FOR
  for (int64_t i = 0; i < n; i++) {
    leap_speech_utterance u;
    leap_speech_utterance_sample(&u, seed, split, first + i);
    int32_t text[LEAP_SPEECH_TEXT_LEN], units[LEAP_SPEECH_MAX_UNITS];
    int32_t frames = 0;
    if (out->src_frames) frames = leap_speech_render_source(out->src_frames + i * SPEECH_FRAME_FLOATS, &u);
    else
      for (int p = 0; p < u.n_phonemes; p++) frames += u.durations[p];
    if (out->src_len) out->src_len[i] = frames;
    int32_t len = text_tokens(text, u.src_words, u.n_words);
    if (out->src_text) memcpy(out->src_text + i * LEAP_SPEECH_TEXT_LEN, text, sizeof text);
    if (out->src_text_len) out->src_text_len[i] = len;
    len = text_tokens(text, u.tgt_words, u.n_words);
    if (out->tgt_text) memcpy(out->tgt_text + i * LEAP_SPEECH_TEXT_LEN, text, sizeof text);
    if (out->tgt_text_len) out->tgt_text_len[i] = len;
    len = leap_speech_units(units, u.tgt_words, u.n_words);
    if (out->tgt_units) memcpy(out->tgt_units + i * LEAP_SPEECH_MAX_UNITS, units, sizeof units);
    if (out->tgt_units_len) out->tgt_units_len[i] = len;
  }
}
