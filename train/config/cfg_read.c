/* Typed values and table-driven mappings: each reader checks the YAML node's type and range, stores the value and
 * writes its canonical JSON. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/config/cfg_internal.h"

/* What a non-scalar node is, for "expected X, got Y". */
static const char *shape_of(struct fy_node *node) {
  if (fy_node_is_mapping(node)) return "a mapping";
  if (fy_node_is_sequence(node)) return "a list";
  return "an alias";
}

/* The scalar's text, or an error "expected WHAT, got a mapping". quoted: written in quotes (so a string). */
static const char *scalar(leap__cfg *c, const leap__cfg_at *at, const char *what, bool *quoted) {
  if (!at->node || leap__cfg_is_absent(at)) {
    leap__cfg_error(c, at, "expected %s, got nothing", what);
    return NULL;
  }
  if (!fy_node_is_scalar(at->node)) {
    leap__cfg_error(c, at, "expected %s, got %s", what, shape_of(at->node));
    return NULL;
  }
  enum fy_node_style style = fy_node_get_style(at->node);
  if (quoted) *quoted = style == FYNS_SINGLE_QUOTED || style == FYNS_DOUBLE_QUOTED;
  const char *s = fy_node_get_scalar0(at->node);
  if (!s) leap_error_set(c->err, LEAP_ERR_MEMORY, "out of memory reading '%s'", at->path);
  return s;
}

static leap_status out_of_range(leap__cfg *c, const leap__cfg_at *at, const char *text, double lo, double hi) {
  if (hi >= 1e15) return leap__cfg_error(c, at, "%s is out of range (at least %.15g)", text, lo);
  return leap__cfg_error(c, at, "%s is out of range (%.15g to %.15g)", text, lo, hi);
}

leap_status leap__cfg_read_int(leap__cfg *c, const leap__cfg_at *at, int64_t *v, double lo, double hi) {
  bool quoted;
  const char *s = scalar(c, at, "an integer", &quoted);
  if (!s) return c->err->status;
  if (quoted) return leap__cfg_error(c, at, "expected an integer, got the string \"%s\"", s);
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (end == s || *end || errno) return leap__cfg_error(c, at, "expected an integer, got '%s'", s);
  if ((double)x < lo || (double)x > hi) return out_of_range(c, at, s, lo, hi);
  *v = x;
  leap__json_int(&c->json, x);
  return LEAP_OK;
}

leap_status leap__cfg_read_number(leap__cfg *c, const leap__cfg_at *at, double *v, size_t size, double lo,
                                  double hi) {
  bool quoted;
  const char *s = scalar(c, at, "a number", &quoted);
  if (!s) return c->err->status;
  if (quoted) return leap__cfg_error(c, at, "expected a number, got the string \"%s\"", s);
  char *end;
  double x = strtod(s, &end);
  if (end == s || *end || !isfinite(x)) return leap__cfg_error(c, at, "expected a number, got '%s'", s);
  if (x < lo || x > hi) return out_of_range(c, at, s, lo, hi);
  *v = size == sizeof(float) ? (double)(float)x : x;
  leap__json_number(&c->json, x, size);
  return LEAP_OK;
}

leap_status leap__cfg_read_bool(leap__cfg *c, const leap__cfg_at *at, bool *v) {
  bool quoted;
  const char *s = scalar(c, at, "true or false", &quoted);
  if (!s) return c->err->status;
  bool t = !strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE");
  bool f = !strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE");
  if (quoted || (!t && !f)) return leap__cfg_error(c, at, "expected true or false, got '%s'", s);
  *v = t;
  leap__json_raw(&c->json, t ? "true" : "false");
  return LEAP_OK;
}

leap_status leap__cfg_read_string(leap__cfg *c, const leap__cfg_at *at, char *buf, size_t size) {
  const char *s = scalar(c, at, "a string", NULL);
  if (!s) return c->err->status;
  if (strlen(s) >= size) return leap__cfg_error(c, at, "'%s' is longer than %zu characters", s, size - 1);
  memcpy(buf, s, strlen(s) + 1);
  leap__json_string(&c->json, s);
  return LEAP_OK;
}

static void join_names(const char *const *names, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; names[i] && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
}

leap_status leap__cfg_read_choice(leap__cfg *c, const leap__cfg_at *at, const char *const *names, int *v) {
  char all[256];
  join_names(names, all, sizeof all);
  char what[300];
  snprintf(what, sizeof what, "one of: %s", all);
  const char *s = scalar(c, at, what, NULL);
  if (!s) return c->err->status;
  for (int i = 0; names[i]; i++)
    if (!strcmp(s, names[i])) {
      *v = i;
      leap__json_string(&c->json, s);
      return LEAP_OK;
    }
  return leap__cfg_error(c, at, "expected one of: %s; got '%s'", all, s);
}

leap_status leap__cfg_sequence(leap__cfg *c, const leap__cfg_at *at, int count_lo, int count_hi, int *count) {
  if (leap__cfg_is_absent(at) || !fy_node_is_sequence(at->node))
    return leap__cfg_error(c, at, "expected a list, got %s",
                           leap__cfg_is_absent(at) ? "nothing" : fy_node_is_scalar(at->node) ? "a single value"
                                                                                              : shape_of(at->node));
  int n = fy_node_sequence_item_count(at->node);
  if (n < count_lo || n > count_hi) {
    if (count_lo == count_hi) return leap__cfg_error(c, at, "has %d items; it needs %d", n, count_lo);
    return leap__cfg_error(c, at, "has %d items; %d to %d are allowed", n, count_lo, count_hi);
  }
  *count = n;
  return LEAP_OK;
}

leap_status leap__cfg_read_numbers(leap__cfg *c, const leap__cfg_at *at, double *out, int *count, int count_lo,
                                   int count_hi, size_t size, double lo, double hi) {
  int n;
  if (leap__cfg_sequence(c, at, count_lo, count_hi, &n)) return c->err->status;
  leap__json_open(&c->json, '[');
  for (int i = 0; i < n; i++) {
    leap__cfg_at item;
    leap__cfg_item(c, at, i, &item);
    int64_t iv;
    if (size == 0 ? leap__cfg_read_int(c, &item, &iv, lo, hi) : leap__cfg_read_number(c, &item, &out[i], size, lo, hi))
      return c->err->status;
    if (size == 0) out[i] = (double)iv;
  }
  leap__json_close(&c->json, ']');
  *count = n;
  return LEAP_OK;
}

/* ---- tables -------------------------------------------------------------------------------------------------- */

static void store_int(void *p, size_t size, int64_t v) {
  if (size == sizeof(int32_t)) *(int32_t *)p = (int32_t)v;
  else *(int64_t *)p = v;
}

/* A choice is stored as its index or values[index], into an enum (int) or a bool. */
static void store_choice(void *p, const leap__cfg_key *k, int index) {
  int v = k->values ? k->values[index] : index;
  if (k->size == sizeof(bool)) *(bool *)p = v != 0;
  else *(int *)p = v;
}

/* A typed key that is present. */
static leap_status read_present(leap__cfg *c, const leap__cfg_at *at, const leap__cfg_key *k, char *p) {
  int64_t iv;
  double dv;
  bool bv;
  int choice;
  switch (k->type) {
    case LEAP__CFG_INT:
      if (leap__cfg_read_int(c, at, &iv, k->lo, k->hi)) return c->err->status;
      store_int(p, k->size, iv);
      return LEAP_OK;
    case LEAP__CFG_NUMBER:
      if (leap__cfg_read_number(c, at, &dv, k->size, k->lo, k->hi)) return c->err->status;
      if (k->size == sizeof(float)) *(float *)p = (float)dv;
      else *(double *)p = dv;
      return LEAP_OK;
    case LEAP__CFG_BOOL:
      if (leap__cfg_read_bool(c, at, &bv)) return c->err->status;
      *(bool *)p = bv;
      return LEAP_OK;
    case LEAP__CFG_STRING: return leap__cfg_read_string(c, at, p, k->size);
    case LEAP__CFG_CHOICE:
      if (leap__cfg_read_choice(c, at, k->names, &choice)) return c->err->status;
      store_choice(p, k, choice);
      return LEAP_OK;
    default: return leap_error_set(c->err, LEAP_ERR_CONFIG, "key '%s': bad table entry", at->path);
  }
}

/* A typed key that is absent: its default. */
static void write_default(leap__cfg *c, const leap__cfg_key *k, char *p) {
  switch (k->type) {
    case LEAP__CFG_INT:
      store_int(p, k->size, (int64_t)k->def);
      leap__json_int(&c->json, (int64_t)k->def);
      break;
    case LEAP__CFG_NUMBER:
      if (k->size == sizeof(float)) *(float *)p = (float)k->def;
      else *(double *)p = k->def;
      leap__json_number(&c->json, k->def, k->size);
      break;
    case LEAP__CFG_BOOL:
      *(bool *)p = k->def != 0;
      leap__json_raw(&c->json, k->def != 0 ? "true" : "false");
      break;
    case LEAP__CFG_STRING:
      snprintf(p, k->size, "%s", k->def_str);
      leap__json_string(&c->json, k->def_str);
      break;
    case LEAP__CFG_CHOICE:
      store_choice(p, k, (int)k->def);
      leap__json_string(&c->json, k->names[(int)k->def]);
      break;
    default: break;
  }
}

static leap_status read_key(leap__cfg *c, const leap__cfg_at *at, const leap__cfg_key *k, void *base) {
  char *p = (char *)base + k->offset;
  bool absent = leap__cfg_is_absent(at);
  if (absent && k->required) {
    leap__cfg_at here = *at;
    here.path[0] = '\0';
    return leap__cfg_error(c, &here, "missing required key '%s'", at->path);
  }
  if (k->type == LEAP__CFG_MAP) return leap__cfg_read_map(c, at, k->sub, p);
  if (k->type == LEAP__CFG_CUSTOM) return k->fn(c, at, p);
  if (absent) {
    write_default(c, k, p);
    return LEAP_OK;
  }
  return read_present(c, at, k, p);
}

leap_status leap__cfg_read_map(leap__cfg *c, const leap__cfg_at *at, const leap__cfg_table *table, void *base) {
  const char *names[64];
  int n = table->n_keys < 64 ? table->n_keys : 64;
  for (int i = 0; i < n; i++) names[i] = table->keys[i].name;
  if (!leap__cfg_is_absent(at) && !fy_node_is_mapping(at->node)) {
    char known[512];
    size_t used = 0;
    known[0] = '\0';
    for (int i = 0; i < n && used < sizeof known; i++)
      used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", names[i]);
    return leap__cfg_error(c, at, "expected a mapping with keys %s; got %s", known,
                           fy_node_is_scalar(at->node) ? "a single value" : shape_of(at->node));
  }
  if (leap__cfg_check_keys(c, at, names, n, table->what)) return c->err->status;
  leap__json_open(&c->json, '{');
  for (int i = 0; i < n; i++) {
    leap__cfg_at child;
    leap__cfg_child(c, at, table->keys[i].name, &child);
    leap__json_key(&c->json, table->keys[i].name);
    if (read_key(c, &child, &table->keys[i], base)) return c->err->status;
  }
  leap__json_close(&c->json, '}');
  return table->check ? table->check(c, at, base) : LEAP_OK;
}
