/* The vqa generator's answers are true of its scenes, its scene text describes them, its pictures show them, and
 * no answer is more than 15% of a split.
 *
 * The test reads the stored question back as words and answers it itself from the object list, with its own
 * reading of each template (written here, not taken from the generator). Each object's pixels are measured by
 * rendering the scene again with that object's colour changed: the change of each pixel is its coverage. */
#include <stdlib.h>
#include <string.h>

#include "data/gen_vqa.h"
#include "kernels/common/kernel_common.h"
#include "tests/common/leap_test.h"

#define N_PER_SPLIT 2000
#define MAX_SHARE 0.15
#define N_PICTURES 200

static const char *const shape_words[] = {"circle", "square", "triangle", "cross"};
static const char *const colour_words[] = {"red", "green", "blue", "yellow", "purple", "white"};
static const char *const size_words[] = {"small", "large"};
static const char *const row_words[] = {"top", "middle", "bottom"};
static const char *const col_words[] = {"left", "center", "right"};
static const char *const number_words[] = {"zero", "one", "two", "three", "four"};

static int index_of(const char *const *names, int n, const char *word) {
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], word)) return i;
  return -1;
}
#define SHAPE_OF(w) index_of(shape_words, 4, w)
#define COLOUR_OF(w) index_of(colour_words, 6, w)

/* Decodes tokens up to <eos> into words; returns the word count, or -1 if the padding or length is wrong. */
static int decode(const char **words, const int32_t *tokens, int width, int stored_len) {
  int n = 0;
  while (n < width && tokens[n] != LEAP_VQA_EOS) {
    words[n] = leap_vqa_word(tokens[n]);
    if (!words[n] || tokens[n] < 4) return -1;
    n++;
  }
  if (n == width || stored_len != n + 1) return -1;
  for (int i = n + 1; i < width; i++)
    if (tokens[i] != LEAP_VQA_PAD) return -1;
  return n;
}

static bool says(const char **words, int n, int want_n, const char *pattern) {
  if (n != want_n) return false;
  char buf[128];
  snprintf(buf, sizeof buf, "%s", pattern);
  int i = 0;
  for (char *w = strtok(buf, " "); w; w = strtok(NULL, " "), i++)
    if (strcmp(w, "*") && strcmp(w, words[i])) return false;
  return true;
}

/* The one object with this colour (or any if -1) and shape (or any if -1); -1 if none or several. */
static int unique(const leap_vqa_scene *s, int colour, int shape) {
  int found = -1, count = 0;
  for (int i = 0; i < s->n_objects; i++)
    if ((colour < 0 || s->objects[i].colour == colour) && (shape < 0 || s->objects[i].shape == shape))
      found = i, count++;
  return count == 1 ? found : -1;
}

/* Answers the question from the object list; writes the answer words into out (joined by spaces). */
static bool answer_myself(char *out, size_t size, const leap_vqa_scene *s, const char **q, int n) {
  int ref;
  if (says(q, n, 5, "what colour is the *")) {
    if ((ref = unique(s, -1, SHAPE_OF(q[4]))) < 0) return false;
    return snprintf(out, size, "%s", colour_words[s->objects[ref].colour]), true;
  }
  if (says(q, n, 6, "what shape is the * object")) {
    if ((ref = unique(s, COLOUR_OF(q[4]), -1)) < 0) return false;
    return snprintf(out, size, "%s", shape_words[s->objects[ref].shape]), true;
  }
  if (says(q, n, 6, "how many * objects are there")) {
    int count = 0;
    for (int i = 0; i < s->n_objects; i++) count += s->objects[i].colour == COLOUR_OF(q[2]);
    return snprintf(out, size, "%s", number_words[count]), true;
  }
  if (says(q, n, 5, "is there a * *")) {
    int count = 0;
    for (int i = 0; i < s->n_objects; i++)
      count += s->objects[i].colour == COLOUR_OF(q[3]) && s->objects[i].shape == SHAPE_OF(q[4]);
    return snprintf(out, size, "%s", count ? "yes" : "no"), true;
  }
  if (says(q, n, 7, "what is * of the * *")) {
    int side = !strcmp(q[2], "left") ? -1 : !strcmp(q[2], "right") ? 1 : 0, count = 0, other = -1;
    if (!side || (ref = unique(s, COLOUR_OF(q[5]), SHAPE_OF(q[6]))) < 0) return false;
    for (int i = 0; i < s->n_objects; i++)
      if ((s->objects[i].col - s->objects[ref].col) * side > 0) count++, other = i;
    if (count > 1) return false;
    if (!count) return snprintf(out, size, "nothing"), true;
    return snprintf(out, size, "%s %s", colour_words[s->objects[other].colour], shape_words[s->objects[other].shape]),
           true;
  }
  if (says(q, n, 6, "what size is the * *")) {
    if ((ref = unique(s, COLOUR_OF(q[4]), SHAPE_OF(q[5]))) < 0) return false;
    return snprintf(out, size, "%s", size_words[s->objects[ref].size]), true;
  }
  if (says(q, n, 5, "where is the * *")) {
    if ((ref = unique(s, COLOUR_OF(q[3]), SHAPE_OF(q[4]))) < 0) return false;
    return snprintf(out, size, "%s %s", row_words[s->objects[ref].row], col_words[s->objects[ref].col]), true;
  }
  return false;
}

static void join(char *out, size_t size, const char **words, int n) {
  out[0] = '\0';
  for (int i = 0; i < n; i++) snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", words[i]);
}

/* The scene text lists the objects left to right as "size colour shape row column", joined by ";". */
static bool scene_text_matches(const leap_vqa_scene *s, const char **words, int n) {
  if (n != s->n_objects * 6 - 1) return false;
  for (int i = 0; i < s->n_objects; i++) {
    const leap_vqa_object *o = &s->objects[i];
    const char **w = words + i * 6;
    if (i > 0 && (strcmp(w[-1], ";") || o->col < o[-1].col || (o->col == o[-1].col && o->row <= o[-1].row)))
      return false;
    if (strcmp(w[0], size_words[o->size]) || strcmp(w[1], colour_words[o->colour]) ||
        strcmp(w[2], shape_words[o->shape]) || strcmp(w[3], row_words[o->row]) || strcmp(w[4], col_words[o->col]))
      return false;
  }
  return true;
}

typedef struct tally {
  char answers[64][24];
  int counts[64], kinds, total;
} tally;

static void count_answer(tally *t, const char *answer) {
  int k = 0;
  while (k < t->kinds && strcmp(t->answers[k], answer)) k++;
  if (k == t->kinds && t->kinds < 64) snprintf(t->answers[t->kinds++], sizeof t->answers[0], "%s", answer);
  if (k < 64) t->counts[k]++;
  t->total++;
}

static void check_split(leap_split split) {
  int32_t *q = malloc(sizeof(int32_t) * N_PER_SPLIT * LEAP_VQA_QUESTION_LEN);
  int32_t *a = malloc(sizeof(int32_t) * N_PER_SPLIT * LEAP_VQA_ANSWER_LEN);
  int32_t *t = malloc(sizeof(int32_t) * N_PER_SPLIT * LEAP_VQA_SCENE_LEN);
  int32_t ql[N_PER_SPLIT], al[N_PER_SPLIT], tl[N_PER_SPLIT];
  leap_vqa_generate(NULL, q, ql, a, al, t, tl, 21, split, 0, N_PER_SPLIT);
  tally *tal = calloc(1, sizeof *tal);
  int wrong = 0, templates_seen[8] = {0};
  for (int i = 0; i < N_PER_SPLIT; i++) {
    leap_vqa_scene s;
    leap_vqa_scene_sample(&s, 21, split, i);
    const char *qw[LEAP_VQA_QUESTION_LEN], *aw[LEAP_VQA_ANSWER_LEN], *tw[LEAP_VQA_SCENE_LEN];
    int nq = decode(qw, q + i * LEAP_VQA_QUESTION_LEN, LEAP_VQA_QUESTION_LEN, ql[i]);
    int na = decode(aw, a + i * LEAP_VQA_ANSWER_LEN, LEAP_VQA_ANSWER_LEN, al[i]);
    int nt = decode(tw, t + i * LEAP_VQA_SCENE_LEN, LEAP_VQA_SCENE_LEN, tl[i]);
    char mine[48] = "", stored[48] = "", question[96] = "";
    if (nq > 0) join(question, sizeof question, qw, nq);
    if (na > 0) join(stored, sizeof stored, aw, na);
    bool ok = nq > 0 && na > 0 && answer_myself(mine, sizeof mine, &s, qw, nq) && !strcmp(mine, stored);
    if (!ok && wrong++ < 5)
      LEAP_TEST_ASSERT(false, "%s sample %d: '%s' answered '%s', the objects say '%s'", leap_split_name(split), i,
                       question, stored, mine);
    LEAP_TEST_ASSERT(nt > 0 && scene_text_matches(&s, tw, nt), "%s sample %d: scene text does not list the objects",
                     leap_split_name(split), i);
    LEAP_TEST_ASSERT(s.n_objects >= 1 && s.n_objects <= 4, "sample %d has %d objects", i, s.n_objects);
    templates_seen[s.question]++;
    if (na > 0) count_answer(tal, stored);
  }
  LEAP_TEST_ASSERT(wrong == 0, "%s: %d answers disagree with their scenes", leap_split_name(split), wrong);
  int top = 0;
  for (int k = 1; k < tal->kinds; k++) top = tal->counts[k] > tal->counts[top] ? k : top;
  double share = (double)tal->counts[top] / tal->total;
  printf("vqa %s: %d distinct answers, the most common '%s' is %.1f%%\n", leap_split_name(split), tal->kinds,
         tal->answers[top], 100.0 * share);
  LEAP_TEST_ASSERT(share <= MAX_SHARE, "%s: answer '%s' is %.1f%% of the split", leap_split_name(split),
                   tal->answers[top], 100.0 * share);
  for (int k = 0; k < 8; k++) LEAP_TEST_ASSERT(templates_seen[k] > N_PER_SPLIT / 16, "template %d rarely asked", k);
  free(tal);
  free(q), free(a), free(t);
}

/* Coverage of each pixel by object i, from re-rendering with its colour changed (away from 0 and 255). */
static void object_coverage(float *cover, const uint8_t *image, const leap_vqa_scene *s, int i) {
  leap_vqa_scene changed = *s;
  float delta[3];
  for (int k = 0; k < 3; k++) {
    delta[k] = changed.objects[i].rgb[k] > 128.0f ? -70.0f : 70.0f;
    changed.objects[i].rgb[k] += delta[k];
  }
  uint8_t other[LEAP_VQA_IMAGE_BYTES];
  leap_vqa_render(other, &changed);
  for (int p = 0; p < LEAP_VQA_SIZE * LEAP_VQA_SIZE; p++) {
    float sum = 0.0f;
    int used = 0;
    for (int k = 0; k < 3; k++) {
      int x = image[p * 3 + k], y = other[p * 3 + k];
      if (x == 0 || x == 255 || y == 0 || y == 255) continue;
      sum += (float)(y - x) / delta[k], used++;
    }
    cover[p] = used ? sum / (float)used : 0.0f;
  }
}

/* Each object covers the area its shape and size imply, entirely inside its own grid cell. */
static void check_pictures(void) {
  /* Areas in units of extent^2: disc pi/4, square 0.88^2, triangle 1/2, cross 2/3 - 1/9. */
  const double unit_area[4] = {0.785398, 0.7744, 0.5, 0.555556};
  const double extent[2] = {5.5, 9.0}, cell = 32.0 / 3.0;
  double worst = 0.0;
  uint8_t image[LEAP_VQA_IMAGE_BYTES];
  float cover[LEAP_VQA_SIZE * LEAP_VQA_SIZE];
  for (int n = 0; n < N_PICTURES; n++) {
    leap_vqa_scene s;
    leap_vqa_scene_sample(&s, 4, LEAP_SPLIT_TEST, n);
    leap_vqa_render(image, &s);
    for (int i = 0; i < s.n_objects; i++) {
      const leap_vqa_object *o = &s.objects[i];
      object_coverage(cover, image, &s, i);
      double area = 0.0, outside = 0.0;
      for (int p = 0; p < LEAP_VQA_SIZE * LEAP_VQA_SIZE; p++) {
        double px = p % LEAP_VQA_SIZE + 0.5, py = p / LEAP_VQA_SIZE + 0.5;
        bool in_cell = px > o->col * cell - 0.5 && px < (o->col + 1) * cell + 0.5 && py > o->row * cell - 0.5 &&
                       py < (o->row + 1) * cell + 0.5;
        area += cover[p];
        if (!in_cell) outside += cover[p];
      }
      double want = unit_area[o->shape] * extent[o->size] * extent[o->size];
      worst = area / want - 1.0 > worst ? area / want - 1.0 : 1.0 - area / want > worst ? 1.0 - area / want : worst;
      LEAP_TEST_ASSERT(area > 0.9 * want && area < 1.1 * want, "picture %d object %d (%s %s): area %.1f, want %.1f", n,
                       i, size_words[o->size], shape_words[o->shape], area, want);
      LEAP_TEST_ASSERT(outside < 0.05, "picture %d object %d spills %.2f px out of its cell", n, i, outside);
    }
  }
  printf("vqa: worst object area error %.1f%% over %d pictures\n", 100.0 * worst, N_PICTURES);
}

static void check_vocabulary(void) {
  int v = leap_vqa_vocab_size();
  LEAP_TEST_ASSERT(v >= 40 && v <= 60, "vocabulary of %d tokens", v);
  const char *specials[] = {"<pad>", "<bos>", "<eos>", "<sep>"};
  for (int t = 0; t < 4; t++)
    LEAP_TEST_ASSERT(!strcmp(leap_vqa_word(t), specials[t]), "token %d is not %s", t, specials[t]);
  for (int t = 0; t < v; t++) LEAP_TEST_ASSERT(leap_vqa_token(leap_vqa_word(t)) == t, "word %d is not unique", t);
  LEAP_TEST_ASSERT(leap_vqa_word(v) == NULL && leap_vqa_token("banana") == -1, "out-of-vocabulary lookups");
}

static void check_determinism(void) {
  enum { N = 40 };
  static uint8_t img1[N * LEAP_VQA_IMAGE_BYTES], img2[N * LEAP_VQA_IMAGE_BYTES];
  static int32_t q1[N * LEAP_VQA_QUESTION_LEN], q2[N * LEAP_VQA_QUESTION_LEN];
#ifdef LEAP_WITH_OPENMP
  omp_set_num_threads(1);
#endif
  leap_vqa_generate(img1, q1, NULL, NULL, NULL, NULL, NULL, 5, LEAP_SPLIT_TRAIN, 3, N);
#ifdef LEAP_WITH_OPENMP
  omp_set_num_threads(2);
#endif
  leap_vqa_generate(img2, q2, NULL, NULL, NULL, NULL, NULL, 5, LEAP_SPLIT_TRAIN, 3, N);
  LEAP_TEST_ASSERT(!memcmp(img1, img2, sizeof img1) && !memcmp(q1, q2, sizeof q1), "1 and 2 threads differ");
  leap_vqa_generate(img2, NULL, NULL, NULL, NULL, NULL, NULL, 5, LEAP_SPLIT_VAL, 3, N);
  LEAP_TEST_ASSERT(memcmp(img1, img2, sizeof img1) != 0, "train and val give the same pictures");
}

int main(void) {
  check_vocabulary();
  for (int split = 0; split < LEAP_SPLIT_COUNT; split++) check_split((leap_split)split);
  check_pictures();
  check_determinism();
  return leap_test_finish();
}
