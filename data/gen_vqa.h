/* The vqa task's generator (shared/TASKS.md, "vqa"): 32x32 pictures of 1 to 4 objects, a question about each
 * picture with an unambiguous one- or two-word answer, and the scene as text (the intermediate label).
 *
 * The picture is a 3 x 3 grid of cells (rows top, middle, bottom; columns left, center, right); each object sits in
 * its own cell, wholly inside it, so objects never overlap and every object's position words are unambiguous.
 * Objects are ordered left to right (by column, then top to bottom within a column), which is the order of the
 * scene text: "large red square top left ; small blue circle bottom right".
 *
 * Text is word tokens over one vocabulary (leap_vqa_word): <pad> <bos> <eos> <sep> and 42 words. Every sequence is
 * stored as its words, then <eos>, then <pad> up to the field's width; its length counts the words and the <eos>.
 * Models add <bos> themselves and join text with <sep> (scene text <sep> question, for the answer stage).
 *
 * Questions come from eight templates. The generator balances the answers: it draws the template uniformly, then
 * (for templates whose natural answers are skewed: yes/no, counts, "nothing") draws the answer it wants uniformly
 * and builds the scene to make it true, so no answer is more than about 8% of a split. */
#ifndef LEAP_DATA_GEN_VQA_H
#define LEAP_DATA_GEN_VQA_H

#include <stdbool.h>
#include <stdint.h>

#include "data/gen_common.h"

#define LEAP_VQA_VERSION 1
#define LEAP_VQA_SIZE 32
#define LEAP_VQA_IMAGE_BYTES (LEAP_VQA_SIZE * LEAP_VQA_SIZE * 3)
#define LEAP_VQA_GRID 3
#define LEAP_VQA_MAX_OBJECTS 4
#define LEAP_VQA_QUESTION_LEN 12 /* widths of the stored token fields */
#define LEAP_VQA_ANSWER_LEN 3
#define LEAP_VQA_SCENE_LEN 40
#define LEAP_VQA_SHAPES 4  /* circle, square, triangle, cross */
#define LEAP_VQA_COLOURS 6 /* red, green, blue, yellow, purple, white */
#define LEAP_VQA_SIZES 2   /* small, large */

/* The special tokens; words follow them. */
enum { LEAP_VQA_PAD = 0, LEAP_VQA_BOS = 1, LEAP_VQA_EOS = 2, LEAP_VQA_SEP = 3 };

typedef enum leap_vqa_template {
  LEAP_VQA_COLOUR_OF_SHAPE = 0, /* what colour is the SHAPE */
  LEAP_VQA_SHAPE_OF_COLOUR,     /* what shape is the COLOUR object */
  LEAP_VQA_COUNT,               /* how many COLOUR objects are there */
  LEAP_VQA_EXISTS,              /* is there a COLOUR SHAPE */
  LEAP_VQA_LEFT_OF,             /* what is left of the COLOUR SHAPE (in the columns left of it; or nothing) */
  LEAP_VQA_RIGHT_OF,            /* what is right of the COLOUR SHAPE */
  LEAP_VQA_SIZE_OF,             /* what size is the COLOUR SHAPE */
  LEAP_VQA_WHERE,               /* where is the COLOUR SHAPE (answer: row word, column word) */
  LEAP_VQA_TEMPLATES
} leap_vqa_template;

typedef struct leap_vqa_object {
  int shape, colour, size; /* indices into the shape, colour and size words */
  int row, col;            /* grid cell */
  float x, y, extent;      /* centre in picture coordinates (data/gen_draw.h) and size in px */
  float angle;             /* a slight tilt */
  float rgb[3];
} leap_vqa_object;

/* One sample: the objects (left to right), the question asked about them, and how the picture looks. */
typedef struct leap_vqa_scene {
  int n_objects;
  leap_vqa_object objects[LEAP_VQA_MAX_OBJECTS];
  leap_vqa_template question;
  int q_colour, q_shape; /* what the question names; -1 where the template names none */
  float background[3], gradient[2], noise;
  uint64_t noise_seed, noise_stream;
  int64_t noise_sample;
} leap_vqa_scene;

/* The vocabulary: token -> word (NULL out of range), word -> token (-1 if none). */
int leap_vqa_vocab_size(void);
const char *leap_vqa_word(int token);
int leap_vqa_token(const char *word);

/* Draws sample number index of (seed, split). */
void leap_vqa_scene_sample(leap_vqa_scene *scene, uint64_t seed, leap_split split, int64_t index);
void leap_vqa_render(uint8_t *image /* (32,32,3) */, const leap_vqa_scene *scene);

/* The token fields of a scene (words, <eos>, <pad>...); each returns its length (words + <eos>).
 * leap_vqa_answer_tokens derives the answer from the object list and returns -1 when the question has no single
 * answer on this scene (the generator never asks such a question). */
int leap_vqa_question_tokens(int32_t *tokens /* (12) */, const leap_vqa_scene *scene);
int leap_vqa_answer_tokens(int32_t *tokens /* (3) */, const leap_vqa_scene *scene);
int leap_vqa_scene_tokens(int32_t *tokens /* (40) */, const leap_vqa_scene *scene);

/* Samples first .. first+n-1 of (seed, split), in parallel over samples (OpenMP); the same bits on any number of
 * threads. Any output may be NULL. */
void leap_vqa_generate(uint8_t *images /* (n,32,32,3) */, int32_t *question /* (n,12) */,
                       int32_t *question_len /* (n) */, int32_t *answer /* (n,3) */, int32_t *answer_len /* (n) */,
                       int32_t *scene_text /* (n,40) */, int32_t *scene_len /* (n) */, uint64_t seed,
                       leap_split split, int64_t first, int64_t n);

#endif
