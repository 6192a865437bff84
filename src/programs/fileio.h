/* fileio — the program's own file handling and error helper, beside the
 * library's public contract (onnxinit.h). */
#ifndef OI_FILEIO_H
#define OI_FILEIO_H

#include <stddef.h>

#include "onnxinit.h"

/* Record a failure in err (printf-style) and return status: the library's
 * error style for the program's own failures. */
oi_status cli_fail(oi_error *err, oi_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write bytes to path through a temporary file in its folder, fsync and
 * rename.  An existing path is replaced only with overwrite, and never when it
 * is a directory, device, FIFO or socket (or a link to one). */
oi_status cli_write_file_atomic(const char *path, const void *data, size_t len, int overwrite,
                                oi_error *err);

#endif
