/* fileio — the program's own small files, beside the library's public
 * contract (onnxinit.h); failures in the library's style (common/fail.h). */
#ifndef OI_FILEIO_H
#define OI_FILEIO_H

#include <stddef.h>

#include "common/fail.h"   /* the library's own source, built into the program too */
#include "onnxinit.h"

/* Write bytes to path through a temporary file in its folder, fsync and
 * rename.  An existing path is replaced only with overwrite, and never when it
 * is a directory, device, FIFO or socket (or a link to one): the library's
 * oi_save_* (save/atomic.h). */
oi_status oi_cli_write_file_atomic(const char *path, const void *data, size_t len,
                                   int overwrite, oi_error *err);

#endif
