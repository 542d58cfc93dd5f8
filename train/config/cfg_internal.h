/* The machinery behind leap_run_config_load (private to train/config): the YAML document with --set overrides
 * applied, cursors that know where each value is (FILE:LINE or the --set that wrote it) and its dotted key, a
 * table-driven reader that fills C structs from mappings, checks types, ranges, required and unknown keys, and
 * writes the resolved config (defaults included) as JSON while it reads.
 *
 * A table lists a mapping's keys in the order they are read and written; a key's value is parsed by its type, or,
 * for LEAP__CFG_CUSTOM, by a function that also handles the key's absence (computed defaults, lists, unions). */
#ifndef LEAP_TRAIN_CONFIG_CFG_INTERNAL_H
#define LEAP_TRAIN_CONFIG_CFG_INTERNAL_H

#include <libfyaml.h>
#include <stddef.h>

#include "train/config/run_config.h"

#define LEAP__CFG_KEY_MAX 256
#define LEAP__CFG_MAX_OVERRIDES 64
#define LEAP__CFG_JSON_DEPTH 32

/* ---- JSON text written as the config is read ----------------------------------------------------------------- */

typedef struct leap__json {
  char *buf;
  size_t len, cap;
  int depth;
  bool need_comma[LEAP__CFG_JSON_DEPTH];
  bool after_key;
  bool failed; /* out of memory */
} leap__json;

void leap__json_open(leap__json *j, char bracket); /* '{' or '[' */
void leap__json_close(leap__json *j, char bracket);
void leap__json_key(leap__json *j, const char *key);
void leap__json_raw(leap__json *j, const char *literal); /* a number, true, false or null */
void leap__json_string(leap__json *j, const char *s);
void leap__json_int(leap__json *j, int64_t v);
/* The shortest decimal that reads back as the same float (size 4) or double (size 8). */
void leap__json_number(leap__json *j, double v, size_t size);

/* ---- the document and cursors -------------------------------------------------------------------------------- */

typedef struct leap__cfg {
  const char *file;
  struct fy_document *doc;
  int n_overrides;                                  /* nodes written by --set, and the text that wrote each */
  struct fy_node *override_node[2 * LEAP__CFG_MAX_OVERRIDES];
  const char *override_text[2 * LEAP__CFG_MAX_OVERRIDES];
  leap__json json;
  leap_run_config *cfg;                             /* the config being filled, for checks across sections */
  leap_error *err;
} leap__cfg;

/* A value and where it is. node is NULL when the key is absent. */
typedef struct leap__cfg_at {
  struct fy_node *node;
  char path[LEAP__CFG_KEY_MAX]; /* "stages.0.network.layers.3" */
  int line;                     /* 1-based line in the file; 0 when unknown */
  const char *set;              /* the --set argument the value came from, or NULL */
} leap__cfg_at;

/* Sets err to "FILE:LINE: key 'PATH': MESSAGE" (or "--set ARG: key 'PATH': ...") as LEAP_ERR_CONFIG. */
leap_status leap__cfg_error(leap__cfg *c, const leap__cfg_at *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "FILE:LINE" or "--set ARG" for at, into buf. */
const char *leap__cfg_where(const leap__cfg *c, const leap__cfg_at *at, char *buf, size_t size);

void leap__cfg_root(leap__cfg *c, leap__cfg_at *root);
/* The value of key in the mapping at parent (node NULL when absent, or when parent is absent or null). */
void leap__cfg_child(leap__cfg *c, const leap__cfg_at *parent, const char *key, leap__cfg_at *child);
/* Item index of the sequence at parent. */
void leap__cfg_item(leap__cfg *c, const leap__cfg_at *parent, int index, leap__cfg_at *child);
/* Absent, or written as null/~/nothing: the key takes its default. */
bool leap__cfg_is_absent(const leap__cfg_at *at);

/* Applies one "a.b.c=value" override to the document (value parsed as YAML). */
leap_status leap__cfg_apply_override(leap__cfg *c, const char *text);

/* ---- scalars and lists (each parses at->node, checks it, and writes its JSON value) --------------------------- */

leap_status leap__cfg_read_int(leap__cfg *c, const leap__cfg_at *at, int64_t *v, double lo, double hi);
leap_status leap__cfg_read_number(leap__cfg *c, const leap__cfg_at *at, double *v, size_t size, double lo, double hi);
leap_status leap__cfg_read_bool(leap__cfg *c, const leap__cfg_at *at, bool *v);
leap_status leap__cfg_read_string(leap__cfg *c, const leap__cfg_at *at, char *buf, size_t size);
/* names is NULL-terminated; *v is the index of the name given. */
leap_status leap__cfg_read_choice(leap__cfg *c, const leap__cfg_at *at, const char *const *names, int *v);
/* A list of count_lo..count_hi numbers in [lo, hi]: integers when size is 0, else float (4) or double (8). */
leap_status leap__cfg_read_numbers(leap__cfg *c, const leap__cfg_at *at, double *out, int *count, int count_lo,
                                   int count_hi, size_t size, double lo, double hi);
/* Checks that at is a sequence of count_lo..count_hi items; *count is its length. Writes nothing. */
leap_status leap__cfg_sequence(leap__cfg *c, const leap__cfg_at *at, int count_lo, int count_hi, int *count);

/* ---- tables -------------------------------------------------------------------------------------------------- */

typedef enum leap__cfg_type {
  LEAP__CFG_INT,    /* an int or int64_t (by size), or a uint64_t seed read as a non-negative integer */
  LEAP__CFG_NUMBER, /* a float or double (by size) */
  LEAP__CFG_BOOL,
  LEAP__CFG_STRING, /* a char buffer of size bytes */
  LEAP__CFG_CHOICE, /* one of names, stored as an int: the index, or values[index] when values is set */
  LEAP__CFG_MAP,    /* a nested mapping read with sub (absent: every key of sub takes its default) */
  LEAP__CFG_CUSTOM, /* fn reads the value (or its absence) and writes its JSON */
} leap__cfg_type;

struct leap__cfg_table;
typedef leap_status (*leap__cfg_fn)(leap__cfg *c, const leap__cfg_at *at, void *target);

typedef struct leap__cfg_key {
  const char *name;
  leap__cfg_type type;
  size_t offset, size; /* where the value goes in the struct the table fills, and its size */
  bool required;
  double def;          /* the default of numbers, bools (0 or 1) and choices (the index) */
  const char *def_str; /* the default of strings */
  double lo, hi;       /* the range of numbers */
  const char *const *names;
  const int *values;
  const struct leap__cfg_table *sub;
  leap__cfg_fn fn;     /* called with the struct + offset */
} leap__cfg_key;

typedef struct leap__cfg_table {
  const leap__cfg_key *keys;
  int n_keys;
  const char *what; /* named in unknown-key errors ("arch convnet"); NULL for none */
  /* Checks across keys once all are read (at is the mapping); NULL for none. */
  leap_status (*check)(leap__cfg *c, const leap__cfg_at *at, void *base);
} leap__cfg_table;

/* Reads the mapping at `at` into base with the table: unknown keys (with the closest known key), required keys,
 * types, ranges, defaults; writes the JSON object. An absent or null mapping reads as an empty one. */
leap_status leap__cfg_read_map(leap__cfg *c, const leap__cfg_at *at, const leap__cfg_table *table, void *base);
/* Rejects keys of the mapping at `at` that are not in names (n of them); what says whose keys they are. */
leap_status leap__cfg_check_keys(leap__cfg *c, const leap__cfg_at *at, const char *const *names, int n,
                                 const char *what);
/* The closest of n names to s by edit distance, or NULL when none is close. */
const char *leap__cfg_closest(const char *s, const char *const *names, int n);

/* Table entries, by the C member they fill. */
#define LEAP__CFG_SIZEOF(type, member) sizeof(((type *)0)->member)
#define LEAP__K_ENTRY(name, kind, type, member, required, def, def_str, lo, hi, names, values, sub) \
  {name, kind, offsetof(type, member), LEAP__CFG_SIZEOF(type, member), required, def, def_str, lo, hi, names, \
   values, sub, NULL}
#define LEAP__K_INT(name, type, member, def, lo, hi) \
  LEAP__K_ENTRY(name, LEAP__CFG_INT, type, member, false, def, NULL, lo, hi, NULL, NULL, NULL)
#define LEAP__K_REQ_INT(name, type, member, lo, hi) \
  LEAP__K_ENTRY(name, LEAP__CFG_INT, type, member, true, 0, NULL, lo, hi, NULL, NULL, NULL)
#define LEAP__K_NUM(name, type, member, def, lo, hi) \
  LEAP__K_ENTRY(name, LEAP__CFG_NUMBER, type, member, false, def, NULL, lo, hi, NULL, NULL, NULL)
#define LEAP__K_BOOL(name, type, member, def) \
  LEAP__K_ENTRY(name, LEAP__CFG_BOOL, type, member, false, def, NULL, 0, 1, NULL, NULL, NULL)
#define LEAP__K_STR(name, type, member, def) \
  LEAP__K_ENTRY(name, LEAP__CFG_STRING, type, member, def == NULL, 0, def, 0, 0, NULL, NULL, NULL)
#define LEAP__K_CHOICE(name, type, member, def, names, values) \
  LEAP__K_ENTRY(name, LEAP__CFG_CHOICE, type, member, false, def, NULL, 0, 0, names, values, NULL)
#define LEAP__K_MAP(name, type, member, required, sub) \
  LEAP__K_ENTRY(name, LEAP__CFG_MAP, type, member, required, 0, NULL, 0, 0, NULL, NULL, sub)
/* The same struct, with another mapping level in the YAML (data.groups fills leap_data_config's *_group). */
#define LEAP__K_MAP_HERE(name, required, sub) \
  {name, LEAP__CFG_MAP, 0, 0, required, 0, NULL, 0, 0, NULL, NULL, sub, NULL}
#define LEAP__K_FN(name, offset, fn) {name, LEAP__CFG_CUSTOM, offset, 0, false, 0, NULL, 0, 0, NULL, NULL, NULL, fn}

/* ---- networks (cfg_net.c) ------------------------------------------------------------------------------------ */

/* Reads a network mapping (arch and its keys, or a layer list) into a leap_net_spec (target), recording where it
 * came from for leap_net_create's errors. Required: an absent network is an error. */
leap_status leap__cfg_read_network(leap__cfg *c, const leap__cfg_at *at, void *target);

#endif
