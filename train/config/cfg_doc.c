/* Cursors over the YAML document, error locations, --set overrides and unknown-key suggestions. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/config/cfg_internal.h"

/* ---- where things are ---------------------------------------------------------------------------------------- */

/* The 1-based line a node starts on: its own token for a scalar, its first key or item otherwise; 0 if none. */
static int node_line(struct fy_node *node) {
  for (int depth = 0; node && depth < 64; depth++) {
    if (fy_node_is_scalar(node)) {
      struct fy_token *t = fy_node_get_scalar_token(node);
      const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
      return m ? m->line + 1 : 0;
    }
    if (fy_node_is_mapping(node)) {
      struct fy_node_pair *p = fy_node_mapping_get_by_index(node, 0);
      node = p ? fy_node_pair_key(p) : NULL;
    } else if (fy_node_is_sequence(node)) {
      node = fy_node_sequence_get_by_index(node, 0);
    } else {
      return 0;
    }
  }
  return 0;
}

static const char *override_of(const leap__cfg *c, struct fy_node *node) {
  for (int i = 0; node && i < c->n_overrides; i++)
    if (c->override_node[i] == node) return c->override_text[i];
  return NULL;
}

const char *leap__cfg_where(const leap__cfg *c, const leap__cfg_at *at, char *buf, size_t size) {
  if (at->set) snprintf(buf, size, "--set %s", at->set);
  else snprintf(buf, size, "%s:%d", c->file, at->line > 0 ? at->line : 1);
  return buf;
}

leap_status leap__cfg_error(leap__cfg *c, const leap__cfg_at *at, const char *fmt, ...) {
  char where[LEAP_CFG_PATH + 32], msg[LEAP_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  leap__cfg_where(c, at, where, sizeof where);
  if (!at->path[0]) return leap_error_set(c->err, LEAP_ERR_CONFIG, "%s: %s", where, msg);
  return leap_error_set(c->err, LEAP_ERR_CONFIG, "%s: key '%s': %s", where, at->path, msg);
}

void leap__cfg_root(leap__cfg *c, leap__cfg_at *root) {
  memset(root, 0, sizeof *root);
  root->node = fy_document_root(c->doc);
  root->line = 1;
}

/* A plain scalar written as nothing, ~ or null. */
static bool is_null(struct fy_node *node) {
  if (!fy_node_is_scalar(node)) return false;
  enum fy_node_style style = fy_node_get_style(node);
  if (style != FYNS_PLAIN && style != FYNS_ANY) return false;
  size_t len;
  const char *s = fy_node_get_scalar(node, &len);
  return !s || len == 0 || (len == 1 && s[0] == '~') ||
         (len == 4 && (!strncmp(s, "null", 4) || !strncmp(s, "Null", 4) || !strncmp(s, "NULL", 4)));
}

bool leap__cfg_is_absent(const leap__cfg_at *at) { return !at->node || is_null(at->node); }

/* parent.comp into dst (truncated to fit; keys that long are refused elsewhere). */
static void join_path(char *dst, size_t size, const char *parent, const char *comp) {
  size_t lp = strlen(parent), lc = strlen(comp), used = 0;
  if (lp > size - 1) lp = size - 1;
  memcpy(dst, parent, lp);
  used = lp;
  if (lp && used < size - 1) dst[used++] = '.';
  if (lc > size - 1 - used) lc = size - 1 - used;
  memcpy(dst + used, comp, lc);
  dst[used + lc] = '\0';
}

void leap__cfg_child(leap__cfg *c, const leap__cfg_at *parent, const char *key, leap__cfg_at *child) {
  memset(child, 0, sizeof *child);
  join_path(child->path, sizeof child->path, parent->path, key);
  child->line = parent->line;
  child->set = parent->set;
  if (!parent->node || !fy_node_is_mapping(parent->node)) return;
  struct fy_node_pair *pair = fy_node_mapping_lookup_pair_by_string(parent->node, key, FY_NT);
  if (!pair) return;
  child->node = fy_node_pair_value(pair);
  const char *set = override_of(c, fy_node_pair_key(pair));
  if (!set) set = override_of(c, child->node);
  if (set) child->set = set;
  int line = node_line(fy_node_pair_key(pair));
  if (line > 0 && !child->set) child->line = line;
}

void leap__cfg_item(leap__cfg *c, const leap__cfg_at *parent, int index, leap__cfg_at *child) {
  memset(child, 0, sizeof *child);
  char comp[16];
  snprintf(comp, sizeof comp, "%d", index);
  join_path(child->path, sizeof child->path, parent->path, comp);
  child->line = parent->line;
  child->set = parent->set;
  if (!parent->node || !fy_node_is_sequence(parent->node)) return;
  child->node = fy_node_sequence_get_by_index(parent->node, index);
  const char *set = override_of(c, child->node);
  if (set) child->set = set;
  int line = node_line(child->node);
  if (line > 0 && !child->set) child->line = line;
}

/* ---- unknown keys -------------------------------------------------------------------------------------------- */

static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 99;
  int row[64];
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j];
      int best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb];
}

const char *leap__cfg_closest(const char *s, const char *const *names, int n) {
  const char *best = NULL;
  int best_d = 99;
  for (int i = 0; i < n; i++) {
    int d = edit_distance(s, names[i]);
    if (d < best_d) best_d = d, best = names[i];
  }
  int len = (int)strlen(s);
  return best && best_d <= (len < 4 ? 1 : len / 3 + 1) ? best : NULL;
}

static void list_names(const char *const *names, int n, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
}

leap_status leap__cfg_check_keys(leap__cfg *c, const leap__cfg_at *at, const char *const *names, int n,
                                 const char *what) {
  if (!at->node || !fy_node_is_mapping(at->node)) return LEAP_OK;
  void *iter = NULL;
  struct fy_node_pair *pair;
  while ((pair = fy_node_mapping_iterate(at->node, &iter))) {
    struct fy_node *key = fy_node_pair_key(pair);
    const char *name = key && fy_node_is_scalar(key) ? fy_node_get_scalar0(key) : NULL;
    leap__cfg_at k = *at;
    int line = node_line(key);
    if (override_of(c, key)) k.set = override_of(c, key);
    else if (line > 0 && !k.set) k.line = line;
    if (!name) return leap__cfg_error(c, &k, "keys must be plain names");
    bool known = false;
    for (int i = 0; i < n && !known; i++) known = !strcmp(name, names[i]);
    if (known) continue;
    join_path(k.path, sizeof k.path, at->path, name);
    const char *close = leap__cfg_closest(name, names, n);
    char known_list[512];
    list_names(names, n, known_list, sizeof known_list);
    if (close) return leap__cfg_error(c, &k, "unknown key%s%s (did you mean '%s'?)", what ? " for " : "",
                                      what ? what : "", close);
    return leap__cfg_error(c, &k, "unknown key%s%s (known keys: %s)", what ? " for " : "", what ? what : "",
                           known_list);
  }
  return LEAP_OK;
}

/* ---- --set ---------------------------------------------------------------------------------------------------- */

static void remember(leap__cfg *c, struct fy_node *node, const char *text) {
  if (node && c->n_overrides < 2 * LEAP__CFG_MAX_OVERRIDES) {
    c->override_node[c->n_overrides] = node;
    c->override_text[c->n_overrides++] = text;
  }
}

/* Parses value as YAML into a node of the document; "" is the empty string. */
static struct fy_node *parse_value(leap__cfg *c, const char *text, const char *value) {
  if (!*value) return fy_node_build_from_string(c->doc, "''", FY_NT);
  struct fy_diag_cfg dcfg;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL;
  dcfg.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dcfg);
  if (!diag) return NULL;
  fy_diag_set_collect_errors(diag, true);
  struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT, .diag = diag};
  struct fy_document *tmp = fy_document_build_from_string(&pcfg, value, FY_NT);
  struct fy_node *node = NULL;
  if (tmp && !fy_diag_got_error(diag) && fy_document_root(tmp)) node = fy_node_copy(c->doc, fy_document_root(tmp));
  if (!node) {
    void *iter = NULL;
    struct fy_diag_error *e = fy_diag_errors_iterate(diag, &iter);
    leap_error_set(c->err, LEAP_ERR_CONFIG, "--set %s: the value is not valid YAML%s%s", text, e ? ": " : "",
                   e ? e->msg : "");
  }
  if (tmp) fy_document_destroy(tmp);
  fy_diag_destroy(diag);
  return node;
}

/* The item of a sequence named by a path component: an index, or the item whose `name` is the component. */
static struct fy_node *sequence_step(struct fy_node *seq, const char *comp) {
  char *end;
  long index = strtol(comp, &end, 10);
  if (*comp && !*end) return index >= 0 ? fy_node_sequence_get_by_index(seq, (int)index) : NULL;
  void *iter = NULL;
  struct fy_node *item;
  while ((item = fy_node_sequence_iterate(seq, &iter))) {
    struct fy_node *name = fy_node_is_mapping(item) ? fy_node_mapping_lookup_by_string(item, "name", FY_NT) : NULL;
    const char *s = name && fy_node_is_scalar(name) ? fy_node_get_scalar0(name) : NULL;
    if (s && !strcmp(s, comp)) return item;
  }
  return NULL;
}

/* Sets comp of the mapping or sequence `at` to value, making the key when it is new. */
static leap_status set_member(leap__cfg *c, const char *text, struct fy_node *at, const char *comp,
                              struct fy_node *value, const char *so_far) {
  if (!fy_node_is_sequence(at) && !fy_node_is_mapping(at))
    return leap_error_set(c->err, LEAP_ERR_CONFIG, "--set %s: '%s' is a single value, not a mapping or list", text,
                          so_far);
  if (fy_node_is_sequence(at)) {
    struct fy_node *old = sequence_step(at, comp);
    if (!old) return leap_error_set(c->err, LEAP_ERR_CONFIG, "--set %s: '%s' has no item '%s'", text, so_far, comp);
    if (fy_node_sequence_insert_before(at, old, value) || !fy_node_sequence_remove(at, old))
      return leap_error_set(c->err, LEAP_ERR_MEMORY, "--set %s: cannot replace the item", text);
    fy_node_free(old);
    remember(c, value, text);
    return LEAP_OK;
  }
  struct fy_node_pair *pair = fy_node_mapping_lookup_pair_by_string(at, comp, FY_NT);
  if (pair) {
    if (fy_node_pair_set_value(pair, value))
      return leap_error_set(c->err, LEAP_ERR_MEMORY, "--set %s: cannot set the value", text);
    remember(c, value, text);
    return LEAP_OK;
  }
  struct fy_node *key = fy_node_create_scalar_copy(c->doc, comp, strlen(comp));
  if (!key || fy_node_mapping_append(at, key, value))
    return leap_error_set(c->err, LEAP_ERR_MEMORY, "--set %s: cannot add the key", text);
  remember(c, key, text);
  remember(c, value, text);
  return LEAP_OK;
}

/* Walks one path component down from node, creating an empty mapping for a missing key. */
static struct fy_node *descend(leap__cfg *c, const char *text, struct fy_node *node, const char *comp,
                               const char *so_far) {
  if (fy_node_is_sequence(node)) {
    struct fy_node *item = sequence_step(node, comp);
    if (!item) leap_error_set(c->err, LEAP_ERR_CONFIG, "--set %s: '%s' has no item '%s'", text, so_far, comp);
    return item;
  }
  if (!fy_node_is_mapping(node)) {
    leap_error_set(c->err, LEAP_ERR_CONFIG, "--set %s: '%s' is a single value, not a mapping or list", text, so_far);
    return NULL;
  }
  struct fy_node *child = fy_node_mapping_lookup_by_string(node, comp, FY_NT);
  if (child && !is_null(child)) return child;
  struct fy_node *map = fy_node_create_mapping(c->doc);
  if (!map) leap_error_set(c->err, LEAP_ERR_MEMORY, "--set %s: out of memory", text);
  if (!map || set_member(c, text, node, comp, map, so_far)) {
    if (map) fy_node_free(map);
    return NULL;
  }
  return map;
}

leap_status leap__cfg_apply_override(leap__cfg *c, const char *text) {
  const char *eq = strchr(text, '=');
  char path[LEAP__CFG_KEY_MAX];
  if (!eq || eq == text || (size_t)(eq - text) >= sizeof path)
    return leap_error_set(c->err, LEAP_ERR_CONFIG, "--set %s: expected KEY=VALUE, e.g. train.batch=32", text);
  const char *begin = text, *end = eq;
  while (begin < end && isspace((unsigned char)*begin)) begin++;
  while (end > begin && isspace((unsigned char)end[-1])) end--;
  memcpy(path, begin, (size_t)(end - begin));
  path[end - begin] = '\0';
  struct fy_node *value = parse_value(c, text, eq + 1);
  if (!value) return c->err->status ? c->err->status : leap_error_set(c->err, LEAP_ERR_MEMORY, "out of memory");
  struct fy_node *node = fy_document_root(c->doc);
  char so_far[LEAP__CFG_KEY_MAX] = "";
  char *save = NULL;
  char *comp = strtok_r(path, ".", &save);
  while (comp) {
    char *next = strtok_r(NULL, ".", &save);
    if (!next) {
      if (set_member(c, text, node, comp, value, so_far)) break;
      return LEAP_OK;
    }
    if (!(node = descend(c, text, node, comp, so_far[0] ? so_far : comp))) break;
    size_t used = strlen(so_far);
    snprintf(so_far + used, sizeof so_far - used, "%s%s", used ? "." : "", comp);
    comp = next;
  }
  /* The value was not attached to the document, so it is not freed with it. */
  fy_node_free(value);
  if (c->err->status) return c->err->status;
  return leap_error_set(c->err, LEAP_ERR_CONFIG, "--set %s: expected KEY=VALUE with a dotted key", text);
}
