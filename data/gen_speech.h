/* The speech task's generator (shared/TASKS.md, "speech"): spoken sentences of a small synthetic source language,
 * and their translation into a synthetic target language as text and as target speech units.
 *
 * Languages. Each has 30 words: 10 nouns, 8 adjectives, 8 verbs, 4 adverbs. A sentence is NP V, NP V NP or
 * NP V ADV, where NP is a noun with an optional adjective: 2 to 5 words. Translation maps each word to its target
 * word (a fixed dictionary) and reorders: in the source an adjective precedes its noun, in the target it follows.
 *
 * Sound. A word is spelled by its phonemes, one letter each, alternating consonant and vowel, so no phoneme ever
 * follows itself. The source has 15 phonemes (p t k b d g m n s l a e i o u); each is a fixed 20-band spectral
 * pattern (two formant-like bumps). A source utterance gives each phoneme 2 to 6 frames of its pattern as spoken by
 * a speaker: shifted along the bands (vocal tract length), tilted (spectral slope) and scaled (loudness), plus
 * Gaussian noise. The source lexicon is prefix-free, so the phoneme string of a sentence has one parse into words.
 * The target speech is a sequence of units: one per target phoneme (f h j r v w y z a e i o u), a <sil> between
 * words, <eos> at the end; a fixed vocoder renders each unit as 3 frames of its own pattern (leap_speech_vocode),
 * so units map back to words through the target lexicon.
 *
 * Token numbering. Text in either language: 0 <pad>, 1 <bos>, 2 <eos>, then the 30 words (the source in category
 * order, the target alphabetically, so that translation is not the identity on ids). Units: 0 <pad>, 1 <bos>,
 * 2 <eos>, 3 <sil>, then the 13 target phonemes. Stored sequences are the tokens, <eos>, then <pad> to the width;
 * their lengths count the <eos>. */
#ifndef LEAP_DATA_GEN_SPEECH_H
#define LEAP_DATA_GEN_SPEECH_H

#include <stdint.h>

#include "data/gen_common.h"

#define LEAP_SPEECH_VERSION 1
#define LEAP_SPEECH_BANDS 20
#define LEAP_SPEECH_WORDS 30             /* per language */
#define LEAP_SPEECH_TEXT_VOCAB 33        /* 3 specials + 30 words */
#define LEAP_SPEECH_MAX_WORDS 5
#define LEAP_SPEECH_TEXT_LEN 6           /* 5 words + <eos> */
#define LEAP_SPEECH_MAX_WORD_PHONEMES 6
#define LEAP_SPEECH_MAX_PHONEMES (LEAP_SPEECH_MAX_WORDS * LEAP_SPEECH_MAX_WORD_PHONEMES)
#define LEAP_SPEECH_MIN_FRAMES_PER_PHONEME 2
#define LEAP_SPEECH_MAX_FRAMES_PER_PHONEME 6
#define LEAP_SPEECH_MAX_FRAMES (LEAP_SPEECH_MAX_PHONEMES * LEAP_SPEECH_MAX_FRAMES_PER_PHONEME) /* 180 */
#define LEAP_SPEECH_SRC_PHONEMES 15
#define LEAP_SPEECH_UNIT_VOCAB 17        /* 4 specials + 13 target phonemes */
#define LEAP_SPEECH_MAX_UNITS 36         /* 5 words x 6 units + 4 <sil> + <eos> */
#define LEAP_SPEECH_FRAMES_PER_UNIT 3

enum { LEAP_SPEECH_PAD = 0, LEAP_SPEECH_BOS = 1, LEAP_SPEECH_EOS = 2, LEAP_SPEECH_SIL = 3 };

typedef enum leap_speech_category {
  LEAP_SPEECH_NOUN = 0,
  LEAP_SPEECH_ADJECTIVE,
  LEAP_SPEECH_VERB,
  LEAP_SPEECH_ADVERB
} leap_speech_category;

/* One utterance: the sentence in both languages, the source phonemes with their durations, and the speaker. */
typedef struct leap_speech_utterance {
  int n_words;
  int32_t src_words[LEAP_SPEECH_MAX_WORDS]; /* source text tokens, source order */
  int32_t tgt_words[LEAP_SPEECH_MAX_WORDS]; /* target text tokens, target order */
  int n_phonemes;
  int phonemes[LEAP_SPEECH_MAX_PHONEMES];   /* source phoneme ids, 0..14 */
  int durations[LEAP_SPEECH_MAX_PHONEMES];  /* frames of each, 2..6 */
  float shift, tilt, gain, noise;           /* the speaker */
  uint64_t noise_seed, noise_stream;
  int64_t noise_sample;
} leap_speech_utterance;

/* The output fields of leap_speech_generate for n samples; any may be NULL. */
typedef struct leap_speech_fields {
  float *src_frames;     /* (n,180,20), zero after src_len */
  int32_t *src_len;      /* (n) frames */
  int32_t *src_text;     /* (n,6) */
  int32_t *src_text_len; /* (n) */
  int32_t *tgt_text;     /* (n,6) */
  int32_t *tgt_text_len; /* (n) */
  int32_t *tgt_units;    /* (n,36) */
  int32_t *tgt_units_len;/* (n) */
} leap_speech_fields;

/* Vocabularies and lexicons. Words and names are NULL out of range; lookups give -1 for unknown words. */
const char *leap_speech_src_word(int token);
const char *leap_speech_tgt_word(int token);
int leap_speech_src_token(const char *word);
int leap_speech_tgt_token(const char *word);
const char *leap_speech_unit_name(int unit);        /* "<pad>" "<bos>" "<eos>" "<sil>" "f" ... "u" */
const char *leap_speech_src_phoneme_name(int phoneme);
leap_speech_category leap_speech_word_category(int src_token);
int leap_speech_translate(int src_token);           /* the target word's token */

/* The 20-band patterns: a source phoneme's, and a unit's as the vocoder renders it (all zero for specials). */
void leap_speech_phoneme_pattern(float *pattern /* (20) */, int phoneme);
void leap_speech_unit_pattern(float *pattern /* (20) */, int unit);

/* Draws utterance number index of (seed, split). */
void leap_speech_utterance_sample(leap_speech_utterance *u, uint64_t seed, leap_split split, int64_t index);
/* A phoneme's frame as this utterance's speaker says it, before the noise. */
void leap_speech_speaker_frame(float *frame /* (20) */, int phoneme, const leap_speech_utterance *u);
/* The source speech; returns its length in frames and zero-fills the rest. */
int leap_speech_render_source(float *frames /* (180,20) */, const leap_speech_utterance *u);
/* Target words (target order) to units: phonemes, <sil> between words, <eos>, <pad>. Returns the length. */
int leap_speech_units(int32_t *units /* (36) */, const int32_t *tgt_words, int n_words);
/* The fixed vocoder: 3 frames of each unit's pattern. */
void leap_speech_vocode(float *frames /* (3*n,20) */, const int32_t *units /* (n) */, int n);

/* Samples first .. first+n-1 of (seed, split), in parallel over samples (OpenMP); the same bits on any number of
 * threads. */
void leap_speech_generate(const leap_speech_fields *out, uint64_t seed, leap_split split, int64_t first, int64_t n);

#endif
