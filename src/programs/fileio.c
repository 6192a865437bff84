/* The program's small files (the batch report): written whole or not at all,
 * by the library's own atomic-file code (save/atomic.c, built into the program
 * too): the same refusals and the same temporary-file-and-rename. */
#include "fileio.h"

#include "save/atomic.h"   /* the library's own source, built into the program too */

oi_status oi_cli_write_file_atomic(const char *path, const void *data, size_t len,
                                   int overwrite, oi_error *err)
{
    oi_save_file f;
    oi_status s = oi_save_check_target(path, NULL, overwrite, 0, err);
    if (s != OI_OK)
        return s;
    s = oi_save_begin(&f, path, err);
    if (s == OI_OK)
        s = oi_save_write(&f, data, len, err);
    if (s == OI_OK)
        s = oi_save_flush(&f, err);
    if (s == OI_OK)
        s = oi_save_commit(&f, overwrite, err);
    oi_save_abort(&f);   /* (after a commit: nothing left to remove) */
    return s;
}
