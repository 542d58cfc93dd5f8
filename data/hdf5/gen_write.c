#include "data/hdf5/gen_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/gen_robot.h"
#include "data/gen_speech.h"
#include "data/gen_vqa.h"
#include "data/hdf5/h5_write.h"

#define GEN_MAX_FIELDS 8
#define GEN_BLOCK_ROWS 1024 /* samples generated and written at a time: a whole number of chunks */
#define GEN_PARAMS_MAX 1024
#define GEN_TEXT_VERSION 1
#define GEN_TEXT_BUFFER (16 * LEAP_GEN_TEXT_CHUNK)

typedef struct gen_field {
  const char *name;
  leap_h5w_type type;
  int rank;        /* of one sample: 0 for a scalar per sample */
  int64_t dims[3]; /* of one sample */
  const char *description;
} gen_field;

typedef void (*gen_fill_fn)(void *const *buffers, uint64_t seed, leap_split split, int64_t first, int64_t n);
/* Writes the task's own file attributes: parameters and vocabularies. */
typedef leap_status (*gen_attrs_fn)(leap_h5w *w, leap_error *err);

typedef struct gen_task {
  const char *name;
  int version;
  int n_fields;
  gen_field fields[GEN_MAX_FIELDS];
  gen_fill_fn fill;
  gen_attrs_fn attributes;
} gen_task;

/* ---- The tasks ------------------------------------------------------------------------------------------------- */

static void fill_robot(void *const *b, uint64_t seed, leap_split split, int64_t first, int64_t n) {
  leap_robot_generate(b[0], b[1], b[2], seed, split, first, n);
}

static void fill_vqa(void *const *b, uint64_t seed, leap_split split, int64_t first, int64_t n) {
  leap_vqa_generate(b[0], b[1], b[2], b[3], b[4], b[5], b[6], seed, split, first, n);
}

static void fill_speech(void *const *b, uint64_t seed, leap_split split, int64_t first, int64_t n) {
  leap_speech_fields f = {b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]};
  leap_speech_generate(&f, seed, split, first, n);
}

static leap_status robot_attributes(leap_h5w *w, leap_error *err) {
  char p[GEN_PARAMS_MAX];
  snprintf(p, sizeof p,
           "{\"image_size\": %d, \"arm_base\": [%g, %g], \"links\": [%g, %g], \"max_reach\": %g, "
           "\"can_size\": [%g, %g], \"cap_length\": %g, \"distractors\": [0, %d], \"distractor_size\": [4, 9], "
           "\"brightness\": [0.7, 1.3], \"coordinates\": \"pixel (row r, column c) covers [c, c+1) x [r, r+1); x "
           "right, y down; angles counter-clockwise as seen on the picture\", \"pose\": \"x / 32 - 1, y / 32 - 1, "
           "cos psi, sin psi\", \"joints\": \"theta1, theta2, cos theta3, sin theta3 with theta3 = psi - theta1 - "
           "theta2; elbow up (theta2 <= 0)\"}",
           LEAP_ROBOT_SIZE, LEAP_ROBOT_BASE_X, LEAP_ROBOT_BASE_Y, LEAP_ROBOT_LINK1, LEAP_ROBOT_LINK2,
           LEAP_ROBOT_MAX_REACH, LEAP_ROBOT_CAN_WIDTH, LEAP_ROBOT_CAN_LENGTH, LEAP_ROBOT_CAP_LENGTH,
           LEAP_ROBOT_MAX_DISTRACTORS);
  return leap_h5w_attr_string(w, "/", "parameters", p, err);
}

/* Joins names(0 .. n-1) with newlines: line i is token i. The caller frees the result. */
static char *join_lines(const char *(*name)(int), int n) {
  size_t size = 1;
  for (int i = 0; i < n; i++) size += strlen(name(i)) + 1;
  char *s = malloc(size), *p = s;
  if (!s) return NULL;
  for (int i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? "\n" : "", name(i));
  *p = '\0';
  return s;
}

static leap_status attr_lines(leap_h5w *w, const char *attr, const char *(*name)(int), int n, leap_error *err) {
  char *s = join_lines(name, n);
  if (!s) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", w->path);
  leap_status st = leap_h5w_attr_string(w, "/", attr, s, err);
  free(s);
  return st;
}

static leap_status vqa_attributes(leap_h5w *w, leap_error *err) {
  char p[GEN_PARAMS_MAX];
  snprintf(p, sizeof p,
           "{\"image_size\": %d, \"grid\": %d, \"objects\": [1, %d], \"shapes\": [\"circle\", \"square\", "
           "\"triangle\", \"cross\"], \"colours\": [\"red\", \"green\", \"blue\", \"yellow\", \"purple\", \"white\"], "
           "\"sizes\": [\"small\", \"large\"], \"templates\": %d, \"question_len\": %d, \"answer_len\": %d, "
           "\"scene_len\": %d, \"text\": \"tokens, <eos>, <pad>...; *_len counts the <eos>\"}",
           LEAP_VQA_SIZE, LEAP_VQA_GRID, LEAP_VQA_MAX_OBJECTS, LEAP_VQA_TEMPLATES, LEAP_VQA_QUESTION_LEN,
           LEAP_VQA_ANSWER_LEN, LEAP_VQA_SCENE_LEN);
  if (leap_h5w_attr_string(w, "/", "parameters", p, err)) return err->status;
  if (leap_h5w_attr_int(w, "/", "vocab_size", leap_vqa_vocab_size(), err)) return err->status;
  return attr_lines(w, "vocab", leap_vqa_word, leap_vqa_vocab_size(), err);
}

/* "word unit unit ..." per target word, in target token order: the lexicon that maps units back to words. */
static leap_status speech_lexicon(leap_h5w *w, leap_error *err) {
  char *s = malloc(LEAP_SPEECH_TEXT_VOCAB * 32), *p = s;
  if (!s) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", w->path);
  for (int t = 3; t < LEAP_SPEECH_TEXT_VOCAB; t++) {
    const char *word = leap_speech_tgt_word(t);
    p += sprintf(p, "%s%s", t > 3 ? "\n" : "", word);
    for (const char *c = word; *c; c++) p += sprintf(p, " %c", *c);
  }
  leap_status st = leap_h5w_attr_string(w, "/", "tgt_lexicon", s, err);
  /* The dictionary, "source target" per source word, in source token order. */
  p = s;
  for (int t = 3; t < LEAP_SPEECH_TEXT_VOCAB && st == LEAP_OK; t++)
    p += sprintf(p, "%s%s %s", t > 3 ? "\n" : "", leap_speech_src_word(t),
                 leap_speech_tgt_word(leap_speech_translate(t)));
  if (st == LEAP_OK) st = leap_h5w_attr_string(w, "/", "dictionary", s, err);
  free(s);
  return st;
}

static leap_status speech_attributes(leap_h5w *w, leap_error *err) {
  char p[GEN_PARAMS_MAX];
  snprintf(p, sizeof p,
           "{\"bands\": %d, \"max_frames\": %d, \"frames_per_phoneme\": [%d, %d], \"frames_per_unit\": %d, "
           "\"words\": [2, %d], \"text_len\": %d, \"max_units\": %d, \"grammar\": \"NP V | NP V NP | NP V ADV; NP = "
           "[ADJ] N in the source, N [ADJ] in the target\", \"text\": \"tokens, <eos>, <pad>...; *_len counts the "
           "<eos>\", \"units\": \"target phonemes, <sil> between words, <eos>\"}",
           LEAP_SPEECH_BANDS, LEAP_SPEECH_MAX_FRAMES, LEAP_SPEECH_MIN_FRAMES_PER_PHONEME,
           LEAP_SPEECH_MAX_FRAMES_PER_PHONEME, LEAP_SPEECH_FRAMES_PER_UNIT, LEAP_SPEECH_MAX_WORDS,
           LEAP_SPEECH_TEXT_LEN, LEAP_SPEECH_MAX_UNITS);
  if (leap_h5w_attr_string(w, "/", "parameters", p, err) ||
      attr_lines(w, "src_vocab", leap_speech_src_word, LEAP_SPEECH_TEXT_VOCAB, err) ||
      attr_lines(w, "tgt_vocab", leap_speech_tgt_word, LEAP_SPEECH_TEXT_VOCAB, err) ||
      attr_lines(w, "unit_vocab", leap_speech_unit_name, LEAP_SPEECH_UNIT_VOCAB, err) || speech_lexicon(w, err))
    return err->status;
  float patterns[LEAP_SPEECH_UNIT_VOCAB * LEAP_SPEECH_BANDS];
  for (int u = 0; u < LEAP_SPEECH_UNIT_VOCAB; u++) leap_speech_unit_pattern(patterns + u * LEAP_SPEECH_BANDS, u);
  int64_t dims[2] = {LEAP_SPEECH_UNIT_VOCAB, LEAP_SPEECH_BANDS};
  return leap_h5w_attr_f32_array(w, "/", "unit_patterns", 2, dims, patterns, err);
}

#define ROBOT_PX LEAP_ROBOT_SIZE
#define VQA_PX LEAP_VQA_SIZE
#define SPEECH_T LEAP_SPEECH_MAX_FRAMES

static const gen_task g_tasks[] = {
    {"robot", LEAP_ROBOT_VERSION, 3,
     {{"image", LEAP_H5W_U8, 3, {ROBOT_PX, ROBOT_PX, 3}, "top-down view of the floor, (N,64,64,3) uint8 RGB"},
      {"pose", LEAP_H5W_F32, 1, {4}, "intermediate label: x / 32 - 1, y / 32 - 1, cos psi, sin psi of the can"},
      {"joints", LEAP_H5W_F32, 1, {4}, "final target: theta1, theta2, cos theta3, sin theta3 of the arm"}},
     fill_robot, robot_attributes},
    {"vqa", LEAP_VQA_VERSION, 7,
     {{"image", LEAP_H5W_U8, 3, {VQA_PX, VQA_PX, 3}, "the objects, (N,32,32,3) uint8 RGB"},
      {"question", LEAP_H5W_I32, 1, {LEAP_VQA_QUESTION_LEN}, "question tokens (vocab attribute), <eos>, <pad>"},
      {"question_len", LEAP_H5W_I32, 0, {0}, "question tokens including <eos>"},
      {"answer", LEAP_H5W_I32, 1, {LEAP_VQA_ANSWER_LEN}, "final target: answer tokens, <eos>, <pad>"},
      {"answer_len", LEAP_H5W_I32, 0, {0}, "answer tokens including <eos>"},
      {"scene", LEAP_H5W_I32, 1, {LEAP_VQA_SCENE_LEN}, "intermediate label: the objects left to right as text"},
      {"scene_len", LEAP_H5W_I32, 0, {0}, "scene tokens including <eos>"}},
     fill_vqa, vqa_attributes},
    {"speech", LEAP_SPEECH_VERSION, 8,
     {{"src_frames", LEAP_H5W_F32, 2, {SPEECH_T, LEAP_SPEECH_BANDS}, "source speech, 20 bands, zero after src_len"},
      {"src_len", LEAP_H5W_I32, 0, {0}, "source speech frames"},
      {"src_text", LEAP_H5W_I32, 1, {LEAP_SPEECH_TEXT_LEN}, "intermediate label: source words (src_vocab), <eos>"},
      {"src_text_len", LEAP_H5W_I32, 0, {0}, "source words including <eos>"},
      {"tgt_text", LEAP_H5W_I32, 1, {LEAP_SPEECH_TEXT_LEN}, "intermediate label: target words (tgt_vocab), <eos>"},
      {"tgt_text_len", LEAP_H5W_I32, 0, {0}, "target words including <eos>"},
      {"tgt_units", LEAP_H5W_I32, 1, {LEAP_SPEECH_MAX_UNITS}, "final target: target speech units (unit_vocab), <eos>"},
      {"tgt_units_len", LEAP_H5W_I32, 0, {0}, "target units including <eos>"}},
     fill_speech, speech_attributes},
};
#define GEN_TASKS ((int)(sizeof g_tasks / sizeof g_tasks[0]))

static const gen_task *find_task(const char *name) {
  for (int t = 0; t < GEN_TASKS; t++)
    if (!strcmp(g_tasks[t].name, name)) return &g_tasks[t];
  return NULL;
}

bool leap_gen_task_known(const char *task) { return find_task(task) != NULL; }
const char *leap_gen_task_list(void) { return "robot, vqa, speech"; }

/* ---- Writing a task -------------------------------------------------------------------------------------------- */

static size_t field_row_bytes(const gen_field *f) {
  size_t bytes = f->type == LEAP_H5W_U8 ? 1 : 4;
  for (int k = 0; k < f->rank; k++) bytes *= (size_t)f->dims[k];
  return bytes;
}

static leap_status create_fields(leap_h5w_dataset *sets, leap_h5w *w, const gen_task *t, const char *group, int64_t n,
                                 leap_error *err) {
  for (int i = 0; i < t->n_fields; i++) {
    const gen_field *f = &t->fields[i];
    char name[LEAP_H5W_NAME_MAX];
    int64_t dims[4] = {n, f->dims[0], f->dims[1], f->dims[2]};
    snprintf(name, sizeof name, "%s/%s", group, f->name);
    if (leap_h5w_dataset_create(&sets[i], w, name, f->type, 1 + f->rank, dims, LEAP_GEN_CHUNK_ROWS,
                                LEAP_GEN_GZIP_LEVEL, err) ||
        leap_h5w_attr_string(w, name, "description", f->description, err))
      return err->status;
  }
  return LEAP_OK;
}

/* Generates and writes one split, GEN_BLOCK_ROWS samples at a time. */
static leap_status write_split(leap_h5w *w, const gen_task *t, leap_split split, int64_t n, uint64_t seed,
                               leap_error *err) {
  const char *group = leap_split_name(split);
  leap_h5w_dataset sets[GEN_MAX_FIELDS];
  void *buffers[GEN_MAX_FIELDS] = {0};
  for (int i = 0; i < GEN_MAX_FIELDS; i++) sets[i].id = H5I_INVALID_HID;
  leap_status st = leap_h5w_group(w, group, err);
  if (!st) st = leap_h5w_attr_string(w, group, "split", group, err);
  if (!st) st = leap_h5w_attr_int(w, group, "n", n, err);
  if (!st) st = create_fields(sets, w, t, group, n, err);
  for (int i = 0; i < t->n_fields && !st; i++)
    if (!(buffers[i] = malloc(field_row_bytes(&t->fields[i]) * GEN_BLOCK_ROWS)))
      st = leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", w->path);
  for (int64_t first = 0; first < n && !st; first += GEN_BLOCK_ROWS) {
    int64_t rows = n - first < GEN_BLOCK_ROWS ? n - first : GEN_BLOCK_ROWS;
    t->fill(buffers, seed, split, first, rows);
    for (int i = 0; i < t->n_fields && !st; i++) st = leap_h5w_dataset_write(&sets[i], first, rows, buffers[i], err);
  }
  for (int i = 0; i < t->n_fields; i++) {
    leap_status closed = leap_h5w_dataset_close(&sets[i], err);
    st = st ? st : closed;
    free(buffers[i]);
  }
  return st;
}

static leap_status write_task_attributes(leap_h5w *w, const gen_task *t, const leap_gen_options *o, leap_error *err) {
  if (leap_h5w_attr_string(w, "/", "generator", t->name, err) ||
      leap_h5w_attr_int(w, "/", "generator_version", t->version, err) ||
      leap_h5w_attr_uint64(w, "/", "seed", o->seed, err) || leap_h5w_attr_int(w, "/", "n_train", o->n_train, err) ||
      leap_h5w_attr_int(w, "/", "n_val", o->n_val, err) || leap_h5w_attr_int(w, "/", "n_test", o->n_test, err))
    return err->status;
  return t->attributes(w, err);
}

leap_status leap_gen_write(const leap_gen_options *o, leap_error *err) {
  const gen_task *t = find_task(o->task);
  if (!t)
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: unknown generator '%s' (one of %s)", o->path, o->task,
                          leap_gen_task_list());
  if (o->n_train < 1 || o->n_val < 1 || o->n_test < 1)
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: every split needs at least one sample", o->path);
  leap_h5w w;
  leap_status st = leap_h5w_create(&w, o->path, err);
  if (!st) st = write_task_attributes(&w, t, o, err);
  const int64_t sizes[LEAP_SPLIT_COUNT] = {o->n_train, o->n_val, o->n_test};
  for (int s = 0; s < LEAP_SPLIT_COUNT && !st; s++) st = write_split(&w, t, (leap_split)s, sizes[s], o->seed, err);
  if (st) {
    leap_h5w_abandon(&w);
    return st;
  }
  return leap_h5w_commit(&w, err);
}

/* ---- Text ------------------------------------------------------------------------------------------------------ */

/* Collects a stream's bytes and writes them a whole number of chunks at a time (the fast, parallel path). */
typedef struct text_sink {
  leap_h5w_dataset set;
  uint8_t *buffer;
  int64_t held, written, total;
} text_sink;

static leap_status sink_flush(text_sink *s, leap_error *err) {
  if (!s->held) return LEAP_OK;
  leap_status st = leap_h5w_dataset_write(&s->set, s->written, s->held, s->buffer, err);
  s->written += s->held, s->held = 0;
  return st;
}

static leap_status sink_put(text_sink *s, const uint8_t *bytes, int64_t n, leap_error *err) {
  while (n > 0) {
    int64_t take = GEN_TEXT_BUFFER - s->held < n ? GEN_TEXT_BUFFER - s->held : n;
    memcpy(s->buffer + s->held, bytes, (size_t)take);
    s->held += take, bytes += take, n -= take;
    if (s->held == GEN_TEXT_BUFFER && sink_flush(s, err)) return err->status;
  }
  return LEAP_OK;
}

/* Streams every input through the sinks: the first sinks[0].total bytes to train, the rest to val. */
static leap_status stream_inputs(text_sink *sinks, const char *const *inputs, int n_inputs, leap_error *err) {
  uint8_t *block = malloc(GEN_TEXT_BUFFER);
  if (!block) return leap_error_set(err, LEAP_ERR_MEMORY, "out of memory reading text");
  leap_status st = LEAP_OK;
  for (int i = 0; i < n_inputs && !st; i++) {
    FILE *f = fopen(inputs[i], "rb");
    if (!f) {
      st = leap_error_set(err, LEAP_ERR_IO, "%s: cannot read: %s", inputs[i], strerror(errno));
      break;
    }
    size_t got;
    while (!st && (got = fread(block, 1, GEN_TEXT_BUFFER, f)) > 0) {
      int64_t to_train = sinks[0].total - sinks[0].written - sinks[0].held;
      to_train = to_train < (int64_t)got ? to_train : (int64_t)got;
      int64_t to_val = (int64_t)got - to_train, val_room = sinks[1].total - sinks[1].written - sinks[1].held;
      if (to_val > val_room)
        st = leap_error_set(err, LEAP_ERR_IO, "%s: the file grew while being read", inputs[i]);
      if (!st) st = sink_put(&sinks[0], block, to_train, err);
      if (!st && to_val > 0) st = sink_put(&sinks[1], block + to_train, to_val, err);
    }
    if (!st && ferror(f)) st = leap_error_set(err, LEAP_ERR_IO, "%s: read error", inputs[i]);
    fclose(f);
  }
  free(block);
  return st;
}

/* Sums the inputs' sizes; each must be a regular, readable file. */
static leap_status measure_inputs(int64_t *total, const char *const *inputs, int n_inputs, leap_error *err) {
  *total = 0;
  for (int i = 0; i < n_inputs; i++) {
    struct stat st;
    if (stat(inputs[i], &st) != 0)
      return leap_error_set(err, LEAP_ERR_IO, "%s: cannot read: %s", inputs[i], strerror(errno));
    if (!S_ISREG(st.st_mode)) return leap_error_set(err, LEAP_ERR_IO, "%s: not a regular file", inputs[i]);
    *total += (int64_t)st.st_size;
  }
  if (*total < 2) return leap_error_set(err, LEAP_ERR_VALUE, "%s: fewer than 2 bytes of text", inputs[0]);
  return LEAP_OK;
}

static leap_status text_attributes(leap_h5w *w, const char *const *inputs, int n_inputs, double fraction,
                                   const int64_t *n, leap_error *err) {
  size_t size = 1;
  for (int i = 0; i < n_inputs; i++) size += strlen(inputs[i]) + 1;
  char *sources = calloc(1, size);
  if (!sources) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", w->path);
  for (int i = 0; i < n_inputs; i++) strcat(strcat(sources, i ? "\n" : ""), inputs[i]);
  leap_status st = leap_h5w_attr_string(w, "/", "generator", "text", err);
  if (!st) st = leap_h5w_attr_int(w, "/", "generator_version", GEN_TEXT_VERSION, err);
  if (!st) st = leap_h5w_attr_string(w, "/", "tokenizer", "bytes: token i is the byte value i", err);
  if (!st) st = leap_h5w_attr_int(w, "/", "vocab_size", 256, err);
  if (!st) st = leap_h5w_attr_string(w, "/", "sources", sources, err);
  if (!st) st = leap_h5w_attr_double(w, "/", "val_fraction", fraction, err);
  if (!st) st = leap_h5w_attr_int(w, "/", "n_train", n[0], err);
  if (!st) st = leap_h5w_attr_int(w, "/", "n_val", n[1], err);
  free(sources);
  return st;
}

static leap_status open_sink(text_sink *s, leap_h5w *w, const char *group, int64_t n, leap_error *err) {
  char name[LEAP_H5W_NAME_MAX];
  snprintf(name, sizeof name, "%s/tokens", group);
  s->total = n;
  if (!(s->buffer = malloc(GEN_TEXT_BUFFER))) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", w->path);
  if (leap_h5w_group(w, group, err) || leap_h5w_attr_string(w, group, "split", group, err) ||
      leap_h5w_attr_int(w, group, "n", n, err) ||
      leap_h5w_dataset_create(&s->set, w, name, LEAP_H5W_U8, 1, &n, LEAP_GEN_TEXT_CHUNK, LEAP_GEN_GZIP_LEVEL, err))
    return err->status;
  return leap_h5w_attr_string(w, name, "description", "byte-level token stream (u8, vocabulary of 256)", err);
}

leap_status leap_gen_write_text(const char *path, const char *const *inputs, int n_inputs, double val_fraction,
                                leap_error *err) {
  int64_t total = 0;
  if (n_inputs < 1) return leap_error_set(err, LEAP_ERR_VALUE, "%s: no input files", path);
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: val fraction %g is not in [0, 1)", path, val_fraction);
  if (measure_inputs(&total, inputs, n_inputs, err)) return err->status;
  int64_t n[2] = {0, (int64_t)(val_fraction * (double)total)};
  if (val_fraction > 0.0 && n[1] == 0) n[1] = 1;
  n[0] = total - n[1];
  text_sink sinks[2];
  memset(sinks, 0, sizeof sinks);
  sinks[0].set.id = sinks[1].set.id = H5I_INVALID_HID;
  leap_h5w w;
  leap_status st = leap_h5w_create(&w, path, err);
  if (!st) st = text_attributes(&w, inputs, n_inputs, val_fraction, n, err);
  for (int s = 0; s < 2 && !st; s++)
    if (n[s] > 0) st = open_sink(&sinks[s], &w, s ? "val" : "train", n[s], err);
  if (!st) st = stream_inputs(sinks, inputs, n_inputs, err);
  for (int s = 0; s < 2 && !st; s++) st = sink_flush(&sinks[s], err);
  for (int s = 0; s < 2 && !st; s++)
    if (sinks[s].written != sinks[s].total)
      st = leap_error_set(err, LEAP_ERR_IO, "%s: the input files changed while being read", inputs[n_inputs - 1]);
  for (int s = 0; s < 2; s++) {
    leap_status closed = leap_h5w_dataset_close(&sinks[s].set, err);
    st = st ? st : closed;
    free(sinks[s].buffer);
  }
  if (st) {
    leap_h5w_abandon(&w);
    return st;
  }
  return leap_h5w_commit(&w, err);
}
