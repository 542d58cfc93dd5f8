/* `leap data info FILE.h5`: a listing of every group and dataset of an HDF5 file, one line each, in name order:
 *
 *   /train                      group  (2 attributes)
 *   /train/image                (20000,64,64,3) u8  chunked (64,64,64,3)  shuffle gzip(4)
 *   /train/pose                 (20000,3) f64  contiguous
 *
 * then each object's attributes indented below it, with short values (long strings and arrays are cut). Types
 * leap cannot read are named by their class (compound, string, ...). */
#ifndef LEAP_DATA_HDF5_H5_INFO_H
#define LEAP_DATA_HDF5_H5_INFO_H

#include <stdio.h>

#include "train/core/error.h"

leap_status leap_h5_info_print(const char *path, FILE *out, leap_error *err);

#endif
