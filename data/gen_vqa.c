#include "data/gen_vqa.h"

#include <string.h>

#include "data/gen_draw.h"
#include "kernels/common/kernel_common.h"

#define VQA_TASK 2u
#define VQA_PURPOSE_SCENE 0u
#define VQA_PURPOSE_NOISE 1u
#define VQA_PIXELS (LEAP_VQA_SIZE * LEAP_VQA_SIZE)
#define VQA_CELL ((float)LEAP_VQA_SIZE / LEAP_VQA_GRID)
#define VQA_ATTEMPTS 64
#define VQA_SAMPLES 4 /* supersampling per pixel axis */
#define VQA_TILT 0.17f /* at most about 10 degrees */

static const char *const g_words[] = {
    "<pad>", "<bos>", "<eos>", "<sep>",                                                   /* specials */
    "what", "colour", "is", "the", "shape", "object", "how", "many", "objects", "are", "there", "a", "of", "size",
    "where", ";",                                                                         /* function words */
    "circle", "square", "triangle", "cross",                                              /* shapes */
    "red", "green", "blue", "yellow", "purple", "white",                                  /* colours */
    "small", "large",                                                                     /* sizes */
    "top", "middle", "bottom", "left", "center", "right",                                 /* rows, columns */
    "zero", "one", "two", "three", "four", "yes", "no", "nothing",                        /* answers */
};

enum {
  W_WHAT = 4, W_COLOUR, W_IS, W_THE, W_SHAPE, W_OBJECT, W_HOW, W_MANY, W_OBJECTS, W_ARE, W_THERE, W_A, W_OF, W_SIZE,
  W_WHERE, W_SEMICOLON,
  W_SHAPE0, W_COLOUR0 = W_SHAPE0 + LEAP_VQA_SHAPES, W_SIZE0 = W_COLOUR0 + LEAP_VQA_COLOURS,
  W_ROW0 = W_SIZE0 + LEAP_VQA_SIZES, W_COL0 = W_ROW0 + LEAP_VQA_GRID, W_NUMBER0 = W_COL0 + LEAP_VQA_GRID,
  W_YES = W_NUMBER0 + LEAP_VQA_MAX_OBJECTS + 1, W_NO, W_NOTHING, VQA_VOCAB
};
_Static_assert(VQA_VOCAB == sizeof g_words / sizeof g_words[0], "the word enum and the word table disagree");

static const float g_palette[LEAP_VQA_COLOURS][3] = {
    {210.0f, 45.0f, 45.0f}, {45.0f, 175.0f, 65.0f},  {55.0f, 85.0f, 215.0f},
    {220.0f, 205.0f, 50.0f}, {150.0f, 60.0f, 185.0f}, {230.0f, 230.0f, 230.0f},
};
static const float g_extent[LEAP_VQA_SIZES] = {5.5f, 9.0f};

int leap_vqa_vocab_size(void) { return VQA_VOCAB; }

const char *leap_vqa_word(int token) { return token >= 0 && token < VQA_VOCAB ? g_words[token] : NULL; }

int leap_vqa_token(const char *word) {
  for (int t = 0; t < VQA_VOCAB; t++)
    if (!strcmp(g_words[t], word)) return t;
  return -1;
}

/* ---- Scenes ---------------------------------------------------------------------------------------------------- */

/* Puts n objects in n distinct cells (a partial Fisher-Yates shuffle of the 9) with random attributes. */
static void draw_objects(leap_vqa_scene *s, int n, leap_gen_rng *r) {
  int cells[LEAP_VQA_GRID * LEAP_VQA_GRID];
  for (int c = 0; c < LEAP_VQA_GRID * LEAP_VQA_GRID; c++) cells[c] = c;
  s->n_objects = n;
  for (int i = 0; i < n; i++) {
    int j = i + leap_gen_int(r, LEAP_VQA_GRID * LEAP_VQA_GRID - i), cell = cells[j];
    cells[j] = cells[i], cells[i] = cell;
    leap_vqa_object *o = &s->objects[i];
    o->row = cell / LEAP_VQA_GRID, o->col = cell % LEAP_VQA_GRID;
    o->shape = leap_gen_int(r, LEAP_VQA_SHAPES);
    o->colour = leap_gen_int(r, LEAP_VQA_COLOURS);
    o->size = leap_gen_int(r, LEAP_VQA_SIZES);
  }
}

/* Makes objects other than ref differ from it in shape, colour, or in (colour, shape), as a question needs. */
static void make_unique(leap_vqa_scene *s, int ref, bool by_shape, bool by_colour, leap_gen_rng *r) {
  const leap_vqa_object *q = &s->objects[ref];
  for (int i = 0; i < s->n_objects; i++) {
    leap_vqa_object *o = &s->objects[i];
    if (i == ref || (by_shape && o->shape != q->shape) || (by_colour && o->colour != q->colour)) continue;
    if (by_colour && !by_shape) o->colour = (o->colour + 1 + leap_gen_int(r, LEAP_VQA_COLOURS - 1)) % LEAP_VQA_COLOURS;
    else o->shape = (o->shape + 1 + leap_gen_int(r, LEAP_VQA_SHAPES - 1)) % LEAP_VQA_SHAPES;
  }
}

/* Objects in columns strictly left (side < 0) or right (side > 0) of object ref; *which gets the last one. */
static int count_beside(const leap_vqa_scene *s, int ref, int side, int *which) {
  int count = 0;
  for (int i = 0; i < s->n_objects; i++)
    if ((s->objects[i].col - s->objects[ref].col) * side > 0) count++, *which = i;
  return count;
}

/* The referent of a left/right question: one with no object on that side (want_one false) or exactly one. */
static int pick_beside(const leap_vqa_scene *s, int side, bool want_one) {
  int other;
  for (int i = 0; i < s->n_objects; i++)
    if (count_beside(s, i, side, &other) == (want_one ? 1 : 0)) return i;
  return -1;
}

/* Sets the question's template and names and bends the scene to the wanted answer; false if this scene cannot. */
static bool plant_question(leap_vqa_scene *s, leap_vqa_template t, int want, leap_gen_rng *r) {
  int ref = leap_gen_int(r, s->n_objects);
  s->question = t, s->q_colour = s->q_shape = -1;
  switch (t) {
  case LEAP_VQA_COLOUR_OF_SHAPE:
    make_unique(s, ref, true, false, r);
    s->q_shape = s->objects[ref].shape;
    return true;
  case LEAP_VQA_SHAPE_OF_COLOUR:
    make_unique(s, ref, false, true, r);
    s->q_colour = s->objects[ref].colour;
    return true;
  case LEAP_VQA_COUNT:
    s->q_colour = leap_gen_int(r, LEAP_VQA_COLOURS);
    for (int i = 0; i < s->n_objects; i++) {
      leap_vqa_object *o = &s->objects[i];
      if (i < want) o->colour = s->q_colour;
      else if (o->colour == s->q_colour)
        o->colour = (o->colour + 1 + leap_gen_int(r, LEAP_VQA_COLOURS - 1)) % LEAP_VQA_COLOURS;
    }
    return true;
  case LEAP_VQA_EXISTS:
    if (want) {
      make_unique(s, ref, true, true, r);
      s->q_colour = s->objects[ref].colour, s->q_shape = s->objects[ref].shape;
      return true;
    }
    s->q_colour = leap_gen_int(r, LEAP_VQA_COLOURS), s->q_shape = leap_gen_int(r, LEAP_VQA_SHAPES);
    for (int i = 0; i < s->n_objects; i++)
      if (s->objects[i].colour == s->q_colour && s->objects[i].shape == s->q_shape) return false;
    return true;
  case LEAP_VQA_LEFT_OF:
  case LEAP_VQA_RIGHT_OF:
    ref = pick_beside(s, t == LEAP_VQA_LEFT_OF ? -1 : 1, want);
    if (ref < 0) return false;
    break;
  default:
    break;
  }
  /* The other templates name their referent by colour and shape. */
  make_unique(s, ref, true, true, r);
  s->q_colour = s->objects[ref].colour, s->q_shape = s->objects[ref].shape;
  return true;
}

/* The answer each template aims for: 0/1 for no/yes and nothing/something (nothing one time in four, so that
 * "nothing", shared by two templates, stays rare), the count for counts; unused elsewhere. */
static int draw_wanted(leap_vqa_template t, leap_gen_rng *r) {
  if (t == LEAP_VQA_EXISTS) return leap_gen_int(r, 2);
  if (t == LEAP_VQA_COUNT) return leap_gen_int(r, LEAP_VQA_MAX_OBJECTS + 1);
  if (t == LEAP_VQA_LEFT_OF || t == LEAP_VQA_RIGHT_OF) return leap_gen_int(r, 4) != 0;
  return 0;
}

static void sort_left_to_right(leap_vqa_scene *s) {
  for (int i = 1; i < s->n_objects; i++)
    for (int j = i; j > 0; j--) {
      leap_vqa_object *a = &s->objects[j - 1], *b = &s->objects[j];
      if (a->col < b->col || (a->col == b->col && a->row < b->row)) break;
      leap_vqa_object t = *a;
      *a = *b, *b = t;
    }
}

/* Where each object sits inside its cell, its tilt and colour, and the background. */
static void draw_looks(leap_vqa_scene *s, leap_gen_rng *r) {
  for (int i = 0; i < s->n_objects; i++) {
    leap_vqa_object *o = &s->objects[i];
    o->extent = g_extent[o->size];
    float room = 0.5f * (VQA_CELL - o->extent) - 0.35f;
    o->x = ((float)o->col + 0.5f) * VQA_CELL + leap_gen_range(r, -room, room);
    o->y = ((float)o->row + 0.5f) * VQA_CELL + leap_gen_range(r, -room, room);
    o->angle = o->shape == 0 ? 0.0f : leap_gen_range(r, -VQA_TILT, VQA_TILT);
    for (int k = 0; k < 3; k++) o->rgb[k] = g_palette[o->colour][k] + leap_gen_range(r, -12.0f, 12.0f);
  }
  float level = leap_gen_range(r, 40.0f, 110.0f);
  for (int k = 0; k < 3; k++) s->background[k] = level + leap_gen_range(r, -10.0f, 10.0f);
  s->gradient[0] = leap_gen_range(r, -0.5f, 0.5f), s->gradient[1] = leap_gen_range(r, -0.5f, 0.5f);
  s->noise = leap_gen_range(r, 6.0f, 14.0f);
}

void leap_vqa_scene_sample(leap_vqa_scene *scene, uint64_t seed, leap_split split, int64_t index) {
  memset(scene, 0, sizeof *scene);
  leap_gen_rng r = leap_gen_rng_at(seed, leap_gen_stream(VQA_TASK, VQA_PURPOSE_SCENE, split), index);
  int32_t answer[LEAP_VQA_ANSWER_LEN];
  for (int attempt = 0; attempt < VQA_ATTEMPTS; attempt++) {
    /* The last attempt asks a template that always plants; in practice the first few attempts succeed. */
    leap_vqa_template t = attempt + 1 < VQA_ATTEMPTS ? (leap_vqa_template)leap_gen_int(&r, LEAP_VQA_TEMPLATES)
                                                     : LEAP_VQA_COLOUR_OF_SHAPE;
    int want = draw_wanted(t, &r);
    int n = 1 + leap_gen_int(&r, LEAP_VQA_MAX_OBJECTS);
    if (t == LEAP_VQA_COUNT && n < want) n = want;
    draw_objects(scene, n, &r);
    if (plant_question(scene, t, want, &r) && leap_vqa_answer_tokens(answer, scene) > 0) break;
  }
  sort_left_to_right(scene);
  draw_looks(scene, &r);
  scene->noise_seed = seed;
  scene->noise_stream = leap_gen_stream(VQA_TASK, VQA_PURPOSE_NOISE, split);
  scene->noise_sample = index;
}

void leap_vqa_render(uint8_t *image, const leap_vqa_scene *s) {
  float canvas[VQA_PIXELS * 3];
  for (int row = 0; row < LEAP_VQA_SIZE; row++)
    for (int col = 0; col < LEAP_VQA_SIZE; col++) {
      float shift = s->gradient[0] * ((float)col - 15.5f) + s->gradient[1] * ((float)row - 15.5f);
      for (int k = 0; k < 3; k++) canvas[(row * LEAP_VQA_SIZE + col) * 3 + k] = s->background[k] + shift;
    }
  for (int i = 0; i < s->n_objects; i++) {
    const leap_vqa_object *o = &s->objects[i];
    leap__gen_stamp(canvas, LEAP_VQA_SIZE, LEAP_VQA_SIZE, (leap_gen_shape)o->shape, o->x, o->y, o->extent, o->angle,
                    o->rgb, VQA_SAMPLES);
  }
  uint64_t base = (uint64_t)s->noise_sample * VQA_PIXELS;
  for (int p = 0; p < VQA_PIXELS; p++) {
    leap_philox4 bits = leap_rng_block(s->noise_seed, s->noise_stream, base + (uint64_t)p);
    for (int k = 0; k < 3; k++) {
      float v = canvas[p * 3 + k] + s->noise * leap_gen_triangular(bits.x[k]);
      v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
      image[p * 3 + k] = (uint8_t)(v + 0.5f);
    }
  }
}

/* ---- Text ------------------------------------------------------------------------------------------------------ */

/* Appends <eos>, pads to width and returns the length. */
static int finish_text(int32_t *tokens, int len, int width) {
  tokens[len++] = LEAP_VQA_EOS;
  for (int i = len; i < width; i++) tokens[i] = LEAP_VQA_PAD;
  return len;
}

int leap_vqa_question_tokens(int32_t *tokens, const leap_vqa_scene *s) {
  int32_t colour = W_COLOUR0 + s->q_colour, shape = W_SHAPE0 + s->q_shape;
  int len = 0;
#define SAY(...)                                                                   \
  do {                                                                             \
    const int32_t words[] = {__VA_ARGS__};                                         \
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) tokens[len++] = words[w]; \
  } while (0)
  switch (s->question) {
  case LEAP_VQA_COLOUR_OF_SHAPE: SAY(W_WHAT, W_COLOUR, W_IS, W_THE, shape); break;
  case LEAP_VQA_SHAPE_OF_COLOUR: SAY(W_WHAT, W_SHAPE, W_IS, W_THE, colour, W_OBJECT); break;
  case LEAP_VQA_COUNT: SAY(W_HOW, W_MANY, colour, W_OBJECTS, W_ARE, W_THERE); break;
  case LEAP_VQA_EXISTS: SAY(W_IS, W_THERE, W_A, colour, shape); break;
  case LEAP_VQA_LEFT_OF: SAY(W_WHAT, W_IS, W_COL0, W_OF, W_THE, colour, shape); break;
  case LEAP_VQA_RIGHT_OF: SAY(W_WHAT, W_IS, W_COL0 + 2, W_OF, W_THE, colour, shape); break;
  case LEAP_VQA_SIZE_OF: SAY(W_WHAT, W_SIZE, W_IS, W_THE, colour, shape); break;
  default: SAY(W_WHERE, W_IS, W_THE, colour, shape); break;
  }
#undef SAY
  return finish_text(tokens, len, LEAP_VQA_QUESTION_LEN);
}

/* The only object matching the question's names (shape and/or colour), or -1 if none or several. */
static int find_referent(const leap_vqa_scene *s) {
  int found = -1;
  for (int i = 0; i < s->n_objects; i++) {
    const leap_vqa_object *o = &s->objects[i];
    if ((s->q_shape >= 0 && o->shape != s->q_shape) || (s->q_colour >= 0 && o->colour != s->q_colour)) continue;
    if (found >= 0) return -1;
    found = i;
  }
  return found;
}

static int answer_words(int32_t *a, const leap_vqa_scene *s) {
  int ref = find_referent(s), count = 0, other = -1;
  switch (s->question) {
  case LEAP_VQA_COUNT:
    for (int i = 0; i < s->n_objects; i++) count += s->objects[i].colour == s->q_colour;
    return a[0] = W_NUMBER0 + count, 1;
  case LEAP_VQA_EXISTS:
    for (int i = 0; i < s->n_objects; i++)
      count += s->objects[i].colour == s->q_colour && s->objects[i].shape == s->q_shape;
    return a[0] = count ? W_YES : W_NO, 1;
  default:
    break;
  }
  if (ref < 0) return -1;
  const leap_vqa_object *o = &s->objects[ref];
  switch (s->question) {
  case LEAP_VQA_COLOUR_OF_SHAPE: return a[0] = W_COLOUR0 + o->colour, 1;
  case LEAP_VQA_SHAPE_OF_COLOUR: return a[0] = W_SHAPE0 + o->shape, 1;
  case LEAP_VQA_SIZE_OF: return a[0] = W_SIZE0 + o->size, 1;
  case LEAP_VQA_WHERE: return a[0] = W_ROW0 + o->row, a[1] = W_COL0 + o->col, 2;
  default:
    count = count_beside(s, ref, s->question == LEAP_VQA_LEFT_OF ? -1 : 1, &other);
    if (count == 0) return a[0] = W_NOTHING, 1;
    if (count > 1) return -1;
    return a[0] = W_COLOUR0 + s->objects[other].colour, a[1] = W_SHAPE0 + s->objects[other].shape, 2;
  }
}

int leap_vqa_answer_tokens(int32_t *tokens, const leap_vqa_scene *s) {
  int len = answer_words(tokens, s);
  return len < 0 ? -1 : finish_text(tokens, len, LEAP_VQA_ANSWER_LEN);
}

int leap_vqa_scene_tokens(int32_t *tokens, const leap_vqa_scene *s) {
  int len = 0;
  for (int i = 0; i < s->n_objects; i++) {
    const leap_vqa_object *o = &s->objects[i];
    if (i > 0) tokens[len++] = W_SEMICOLON;
    tokens[len++] = W_SIZE0 + o->size, tokens[len++] = W_COLOUR0 + o->colour, tokens[len++] = W_SHAPE0 + o->shape;
    tokens[len++] = W_ROW0 + o->row, tokens[len++] = W_COL0 + o->col;
  }
  return finish_text(tokens, len, LEAP_VQA_SCENE_LEN);
}

void leap_vqa_generate(uint8_t *images, int32_t *question, int32_t *question_len, int32_t *answer,
                       int32_t *answer_len, int32_t *scene_text, int32_t *scene_len, uint64_t seed, leap_split split,
                       int64_t first, int64_t n) {
  LEAP_OMP_FOR
  for (int64_t i = 0; i < n; i++) {
    leap_vqa_scene s;
    leap_vqa_scene_sample(&s, seed, split, first + i);
    if (images) leap_vqa_render(images + i * LEAP_VQA_IMAGE_BYTES, &s);
    int32_t q[LEAP_VQA_QUESTION_LEN], a[LEAP_VQA_ANSWER_LEN], t[LEAP_VQA_SCENE_LEN];
    int ql = leap_vqa_question_tokens(q, &s), al = leap_vqa_answer_tokens(a, &s), tl = leap_vqa_scene_tokens(t, &s);
    if (question) memcpy(question + i * LEAP_VQA_QUESTION_LEN, q, sizeof q);
    if (answer) memcpy(answer + i * LEAP_VQA_ANSWER_LEN, a, sizeof a);
    if (scene_text) memcpy(scene_text + i * LEAP_VQA_SCENE_LEN, t, sizeof t);
    if (question_len) question_len[i] = ql;
    if (answer_len) answer_len[i] = al;
    if (scene_len) scene_len[i] = tl;
  }
}
