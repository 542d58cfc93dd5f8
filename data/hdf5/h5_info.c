/* The listing of `leap data info`; see h5_info.h for its format. */
#define _GNU_SOURCE
#include "data/hdf5/h5_info.h"

#include <errno.h>
#include <hdf5.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define NAME_WIDTH 28
#define MAX_ATTR_VALUES 8
#define MAX_ATTR_TEXT 60

typedef struct info_ctx {
  const char *path;
  FILE *out;
  leap_error *err;
} info_ctx;

static leap_status h5_failed(info_ctx *c, const char *what, const char *name) {
  return leap_error_set(c->err, LEAP_ERR_FORMAT, "%s: cannot read %s of '/%s'", c->path, what, name);
}

/* "u8", "f64", "string(variable)", ... */
static void type_text(char *buf, size_t size, hid_t type) {
  H5T_class_t cls = H5Tget_class(type);
  size_t bytes = H5Tget_size(type);
  const char *be = H5Tget_order(type) == H5T_ORDER_BE ? " big-endian" : "";
  if (cls == H5T_INTEGER)
    snprintf(buf, size, "%c%zu%s", H5Tget_sign(type) == H5T_SGN_NONE ? 'u' : 'i', 8 * bytes, be);
  else if (cls == H5T_FLOAT)
    snprintf(buf, size, "f%zu%s", 8 * bytes, be);
  else if (cls == H5T_STRING) {
    htri_t variable = H5Tis_variable_str(type);
    if (variable > 0)
      snprintf(buf, size, "string(variable)");
    else
      snprintf(buf, size, "string(%zu bytes)", bytes);
  } else if (cls == H5T_ENUM) {
    hid_t base = H5Tget_super(type);
    char inner[32] = "?";
    if (base >= 0) type_text(inner, sizeof inner, base);
    if (base >= 0 && H5Tclose(base) < 0) snprintf(inner, sizeof inner, "?");
    snprintf(buf, size, "enum(%s)", inner);
  } else if (cls == H5T_COMPOUND) {
    snprintf(buf, size, "compound(%d fields)", H5Tget_nmembers(type));
  } else {
    static const char *names[] = {[H5T_TIME] = "time",           [H5T_BITFIELD] = "bitfield", [H5T_OPAQUE] = "opaque",
                                  [H5T_REFERENCE] = "reference", [H5T_VLEN] = "vlen",         [H5T_ARRAY] = "array"};
    snprintf(buf, size, "%s",
             cls >= 0 && (size_t)cls < sizeof names / sizeof names[0] && names[cls] ? names[cls] : "unknown type");
  }
}

static void dims_text(char *buf, size_t size, int ndim, const hsize_t *dims) {
  size_t used = (size_t)snprintf(buf, size, "(");
  for (int d = 0; d < ndim && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, d ? ",%llu" : "%llu", (unsigned long long)dims[d]);
  if (used < size) snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
}

/* "chunked (64,64,64,3)  shuffle gzip(4)" */
static leap_status layout_text(info_ctx *c, char *buf, size_t size, hid_t dset, const char *name) {
  hid_t dcpl = H5Dget_create_plist(dset);
  if (dcpl < 0) return h5_failed(c, "the layout", name);
  H5D_layout_t layout = H5Pget_layout(dcpl);
  size_t used = 0;
  if (layout == H5D_CHUNKED) {
    hsize_t chunk[H5S_MAX_RANK];
    int n = H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk);
    char dims[128] = "?";
    if (n > 0) dims_text(dims, sizeof dims, n, chunk);
    used = (size_t)snprintf(buf, size, "chunked %s", dims);
  } else {
    used = (size_t)snprintf(buf, size, "%s",
                            layout == H5D_CONTIGUOUS ? "contiguous"
                            : layout == H5D_COMPACT  ? "compact"
                            : layout == H5D_VIRTUAL  ? "virtual"
                                                     : "unknown layout");
  }
  int n_filters = H5Pget_nfilters(dcpl);
  for (int i = 0; i < n_filters && used < size; i++) {
    unsigned flags, cd[8] = {0};
    size_t n_cd = 8;
    char fname[64] = "";
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n_cd, cd, sizeof fname, fname, NULL);
    const char *sep = i ? " " : "  ";
    if (id == H5Z_FILTER_DEFLATE)
      used += (size_t)snprintf(buf + used, size - used, "%sgzip(%u)", sep, cd[0]);
    else if (id == H5Z_FILTER_SHUFFLE)
      used += (size_t)snprintf(buf + used, size - used, "%sshuffle", sep);
    else if (id == H5Z_FILTER_FLETCHER32)
      used += (size_t)snprintf(buf + used, size - used, "%sfletcher32", sep);
    else
      used += (size_t)snprintf(buf + used, size - used, "%sfilter %d (%s)", sep, (int)id, fname);
  }
  herr_t rc = H5Pclose(dcpl);
  if (n_filters < 0 || rc < 0 || layout == H5D_LAYOUT_ERROR) return h5_failed(c, "the layout", name);
  return LEAP_OK;
}

static leap_status print_dataset(info_ctx *c, hid_t loc, const char *name) {
  hid_t dset = H5Dopen2(loc, name, H5P_DEFAULT);
  if (dset < 0) return h5_failed(c, "the dataset", name);
  hid_t type = H5Dget_type(dset), space = H5Dget_space(dset);
  hsize_t dims[H5S_MAX_RANK];
  int ndim = space < 0 ? -1 : H5Sget_simple_extent_dims(space, dims, NULL);
  char shape[160] = "", dtype[64] = "", layout[256] = "";
  leap_status st = type < 0 || ndim < 0 ? h5_failed(c, "the shape and type", name) : LEAP_OK;
  if (!st) {
    dims_text(shape, sizeof shape, ndim, dims);
    if (ndim == 0) snprintf(shape, sizeof shape, "scalar");
    type_text(dtype, sizeof dtype, type);
    st = layout_text(c, layout, sizeof layout, dset, name);
  }
  if (!st) fprintf(c->out, "/%-*s %s %s  %s\n", NAME_WIDTH - 1, name, shape, dtype, layout);
  if ((type >= 0 && H5Tclose(type) < 0) || (space >= 0 && H5Sclose(space) < 0) || H5Dclose(dset) < 0)
    st = h5_failed(c, "the dataset", name);
  return st;
}

/* Prints a string attribute's text (scalar only; arrays of strings are counted). */
static leap_status print_string_attr(info_ctx *c, hid_t attr, hid_t type, hssize_t n, const char *name) {
  if (n != 1) {
    fprintf(c->out, "(%lld strings)\n", (long long)n);
    return LEAP_OK;
  }
  htri_t variable = H5Tis_variable_str(type);
  hid_t mem = H5Tcopy(H5T_C_S1);
  size_t bytes = H5Tget_size(type);
  char *fixed = variable > 0 ? NULL : calloc(1, bytes + 1), *text = NULL;
  herr_t rc = variable < 0 || mem < 0 || (variable == 0 && !fixed) ? -1 : 0;
  if (rc >= 0) rc = H5Tset_size(mem, variable > 0 ? H5T_VARIABLE : bytes);
  if (rc >= 0 && H5Tget_cset(type) == H5T_CSET_UTF8) rc = H5Tset_cset(mem, H5T_CSET_UTF8);
  if (rc >= 0) rc = H5Aread(attr, mem, variable > 0 ? (void *)&text : (void *)fixed);
  if (rc >= 0) {
    const char *s = variable > 0 ? (text ? text : "") : fixed;
    size_t len = strcspn(s, "\n");
    fprintf(c->out, "\"%.*s\"%s\n", (int)(len < MAX_ATTR_TEXT ? len : MAX_ATTR_TEXT), s,
            len > MAX_ATTR_TEXT || s[len] ? "..." : "");
  }
  if (text && H5free_memory(text) < 0) rc = -1;
  free(fixed);
  if (mem >= 0 && H5Tclose(mem) < 0) rc = -1;
  return rc < 0 ? h5_failed(c, "the attribute", name) : LEAP_OK;
}

/* Prints up to MAX_ATTR_VALUES numbers of an integer or float attribute. */
static leap_status print_number_attr(info_ctx *c, hid_t attr, H5T_class_t cls, bool is_unsigned, hssize_t n,
                                     const char *name) {
  hid_t mem = cls == H5T_FLOAT ? H5T_NATIVE_DOUBLE : is_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64;
  union {
    double d;
    int64_t i;
    uint64_t u;
  } *values = malloc(sizeof *values * (size_t)(n > 0 ? n : 1));
  if (!values || H5Aread(attr, mem, values) < 0) {
    free(values);
    return h5_failed(c, "the attribute", name);
  }
  if (n != 1) fputc('[', c->out);
  for (hssize_t k = 0; k < n && k < MAX_ATTR_VALUES; k++) {
    if (k) fputs(", ", c->out);
    if (cls == H5T_FLOAT)
      fprintf(c->out, "%.9g", values[k].d);
    else if (is_unsigned)
      fprintf(c->out, "%" PRIu64, values[k].u);
    else
      fprintf(c->out, "%" PRId64, values[k].i);
  }
  if (n > MAX_ATTR_VALUES) fprintf(c->out, ", ... (%lld values)", (long long)n);
  fputs(n != 1 ? "]\n" : "\n", c->out);
  free(values);
  return LEAP_OK;
}

static herr_t attr_cb(hid_t loc, const char *attr_name, const H5A_info_t *ainfo, void *p) {
  (void)ainfo;
  info_ctx *c = p;
  hid_t attr = H5Aopen(loc, attr_name, H5P_DEFAULT);
  hid_t type = attr < 0 ? H5I_INVALID_HID : H5Aget_type(attr), space = attr < 0 ? H5I_INVALID_HID : H5Aget_space(attr);
  hssize_t n = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
  leap_status st = type < 0 || n < 0 ? h5_failed(c, "the attribute", attr_name) : LEAP_OK;
  if (!st) {
    fprintf(c->out, "%*s@%s = ", NAME_WIDTH + 2, "", attr_name);
    H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_STRING)
      st = print_string_attr(c, attr, type, n, attr_name);
    else if (cls == H5T_INTEGER || cls == H5T_FLOAT)
      st = print_number_attr(c, attr, cls, cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_NONE, n, attr_name);
    else {
      char text[64];
      type_text(text, sizeof text, type);
      fprintf(c->out, "(%s)\n", text);
    }
  }
  if ((space >= 0 && H5Sclose(space) < 0) || (type >= 0 && H5Tclose(type) < 0) || (attr >= 0 && H5Aclose(attr) < 0))
    st = h5_failed(c, "the attribute", attr_name);
  return st ? -1 : 0;
}

static leap_status print_attributes(info_ctx *c, hid_t file, const char *name) {
  hid_t obj = H5Oopen(file, name[0] ? name : "/", H5P_DEFAULT);
  if (obj < 0) return h5_failed(c, "the object", name);
  herr_t rc = H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_cb, c);
  if (H5Oclose(obj) < 0) rc = -1;
  if (rc < 0) return c->err && c->err->status ? c->err->status : h5_failed(c, "the attributes", name);
  return LEAP_OK;
}

static herr_t link_cb(hid_t group, const char *name, const H5L_info_t *info, void *p) {
  info_ctx *c = p;
  if (info->type != H5L_TYPE_HARD) {
    fprintf(c->out, "/%-*s %s link\n", NAME_WIDTH - 1, name, info->type == H5L_TYPE_SOFT ? "soft" : "external");
    return 0;
  }
  H5O_info_t oinfo;
  if (H5Oget_info_by_name2(group, name, &oinfo, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS, H5P_DEFAULT) < 0)
    return h5_failed(c, "the object", name) ? -1 : 0;
  leap_status st = LEAP_OK;
  if (oinfo.type == H5O_TYPE_DATASET)
    st = print_dataset(c, group, name);
  else
    fprintf(c->out, "/%-*s %s\n", NAME_WIDTH - 1, name, oinfo.type == H5O_TYPE_GROUP ? "group" : "named type");
  if (!st && oinfo.num_attrs > 0) st = print_attributes(c, group, name);
  return st ? -1 : 0;
}

leap_status leap_h5_info_print(const char *path, FILE *out, leap_error *err) {
  FILE *probe = fopen(path, "rb");
  if (!probe) return leap_error_set(err, LEAP_ERR_IO, "%s: cannot open it: %s", path, strerror(errno));
  fclose(probe);
  H5E_auto2_t saved_fn = NULL;
  void *saved_data = NULL;
  bool quiet = H5Eget_auto2(H5E_DEFAULT, &saved_fn, &saved_data) >= 0 && H5Eset_auto2(H5E_DEFAULT, NULL, NULL) >= 0;
  info_ctx c = {path, out, err};
  leap_status st = LEAP_OK;
  hid_t file = H5I_INVALID_HID;
  if (H5Fis_hdf5(path) <= 0)
    st = leap_error_set(err, LEAP_ERR_FORMAT, "%s: not an HDF5 file", path);
  else if ((file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
    st = leap_error_set(err, LEAP_ERR_IO, "%s: HDF5 cannot open it", path);
  if (!st) {
    fprintf(out, "%s\n/%-*s group\n", path, NAME_WIDTH - 1, "");
    st = print_attributes(&c, file, "");
  }
  if (!st && H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, link_cb, &c) < 0)
    st = err && err->status ? err->status : leap_error_set(err, LEAP_ERR_FORMAT, "%s: cannot list its objects", path);
  if (file >= 0 && H5Fclose(file) < 0 && !st) st = leap_error_set(err, LEAP_ERR_IO, "%s: cannot close it", path);
  if (quiet) (void)H5Eset_auto2(H5E_DEFAULT, saved_fn, saved_data);
  return st;
}
