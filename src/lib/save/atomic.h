/* save — never lose a user's file.
 *
 * An output is written to a temporary file in its destination folder
 * (".NAME.oi-tmp-XXXXXX": hidden, recognisable, same filesystem), fsynced,
 * and only then renamed over the final name; any failure removes the
 * temporary file, so no partial file ever exists under the final name. */
#ifndef OI_SAVE_ATOMIC_H
#define OI_SAVE_ATOMIC_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct oi_save_file {
    char *final_path;
    char *tmp_path;
    int fd;
    uint64_t written;
    uint64_t kicked;         /* bytes handed to writeback so far (sequential writes) */
    char *src_path;          /* the file copies last read from, kept open as src_fd */
    int src_fd;
    int durable;             /* fsync file and folder (1 unless oi_save_no_sync on a new file) */
} oi_save_file;

/* Refuse what would lose data: an existing output without overwrite, a
 * directory, or (unless allow_same) the very file `input` names. */
oi_status oi_save_check_target(const char *path, const char *input, int overwrite,
                               int allow_same, oi_error *err);
oi_status oi_save_begin(oi_save_file *f, const char *final_path, oi_error *err);
oi_status oi_save_write(oi_save_file *f, const void *data, size_t len, oi_error *err);
/* Append len bytes of src_path at offset (copy_file_range when it can). */
oi_status oi_save_copy_range(oi_save_file *f, const char *src_path, uint64_t offset,
                             uint64_t len, oi_error *err);
/* Copy src[in, in+len) to the output at out. */
oi_status oi_save_copy_to(oi_save_file *f, const char *src_path, uint64_t in, uint64_t out,
                          uint64_t len, oi_error *err);
/* Copy src[offset, offset+len) to the same offset of the output. */
oi_status oi_save_copy_at(oi_save_file *f, const char *src_path, uint64_t offset, uint64_t len,
                          oi_error *err);
/* Write len bytes at offset of the temporary file (a payload patched into place); a
 * durable file has each 8 MiB window handed to writeback as a write completes it, so
 * the final fsync finds little left.  Safe from one thread at a time. */
oi_status oi_save_write_at(oi_save_file *f, uint64_t offset, const void *data, size_t len,
                           oi_error *err);
/* Reserve the blocks of [offset, offset+len), bytes the fill will write: a
 * full disk stops the run before any work, and ext4 then skips its delayed
 * allocation for them (a fifth of the writes' system time).  Ranges under
 * 1 MiB, file systems without fallocate and any failure but ENOSPC, EDQUOT
 * and EFBIG are left to the writes. */
oi_status oi_save_reserve(oi_save_file *f, uint64_t offset, uint64_t len, oi_error *err);
/* --no-sync: a new output is written and renamed as cp would, without fsync;
 * an output that replaces an existing file stays durable whatever is asked. */
void oi_save_no_sync(oi_save_file *f);
/* fsync (when durable) and close the temporary file (still under its temporary name). */
oi_status oi_save_flush(oi_save_file *f, oi_error *err);
/* Rename into place (refusing to replace an existing file unless overwrite),
 * then fsync the folder.  On failure the temporary file is removed. */
oi_status oi_save_commit(oi_save_file *f, int overwrite, oi_error *err);
/* Close and remove the temporary file; safe to call after commit or twice. */
void oi_save_abort(oi_save_file *f);

#endif
