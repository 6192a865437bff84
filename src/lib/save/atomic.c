#include "save/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

oi_status oi_save_check_target(const char *path, const char *input, int overwrite,
                               int allow_same, oi_error *err)
{
    struct stat out;
    if (lstat(path, &out) < 0) {
        if (errno == ENOENT)
            return OI_OK;
        return oi_fail(err, OI_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (S_ISDIR(out.st_mode))
        return oi_fail(err, OI_ERR_UNSAFE, "%s: output is a directory", path);
    /* A device, FIFO or socket is never replaced by a file (-f -o /dev/null as
     * root would replace the real one), nor is a link to one. */
    struct stat target = out;
    if (S_ISLNK(out.st_mode) && stat(path, &target) < 0)
        target.st_mode = S_IFREG;   /* a dangling link: replacing it loses nothing special */
    if (!S_ISREG(target.st_mode) && !S_ISLNK(target.st_mode))
        return oi_fail(err, OI_ERR_UNSAFE, "%s: output is %s, not a regular file (refused, "
                       "with or without overwriting)", path,
                       S_ISDIR(target.st_mode)                             ? "a link to a directory"
                       : S_ISCHR(target.st_mode) || S_ISBLK(target.st_mode) ? "a device"
                       : S_ISFIFO(target.st_mode)                          ? "a FIFO"
                       : S_ISSOCK(target.st_mode)                          ? "a socket"
                                                                           : "a special file");
    struct stat in;
    if (input && stat(input, &in) == 0 && stat(path, &out) == 0 && in.st_dev == out.st_dev &&
        in.st_ino == out.st_ino && !allow_same)
        return oi_fail(err, OI_ERR_UNSAFE,
                       "%s: output is the input file (refused unless replacing it in place)",
                       path);
    if (!overwrite)
        return oi_fail(err, OI_ERR_UNSAFE, "%s: already exists", path);
    return OI_OK;
}

oi_status oi_save_begin(oi_save_file *f, const char *final_path, oi_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->durable = 1;
    char *dcopy = strdup(final_path), *bcopy = strdup(final_path);
    size_t n = strlen(final_path) + 32;
    f->final_path = strdup(final_path);
    f->tmp_path = malloc(n);
    if (!dcopy || !bcopy || !f->final_path || !f->tmp_path) {
        free(dcopy);
        free(bcopy);
        oi_save_abort(f);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", final_path);
    }
    const char *dir = dirname(dcopy), *base = basename(bcopy);
    for (int attempt = 0; attempt < 100 && f->fd < 0; attempt++) {
        uint32_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            r = (uint32_t)getpid() * 2654435761u + (uint32_t)attempt;
        /* the base cut so the temporary's name fits NAME_MAX as the final one does */
        snprintf(f->tmp_path, n, "%s/.%.*s.oi-tmp-%08x", dir, NAME_MAX - 20, base, r);
        /* O_EXCL: never reuse someone's file; 0666 lets the umask decide as for any new file. */
        f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd < 0 && errno != EEXIST)
            break;
    }
    int e = errno;
    free(dcopy);
    free(bcopy);
    if (f->fd < 0) {
        free(f->tmp_path);
        f->tmp_path = NULL;
        oi_save_abort(f);
        return oi_fail(err, OI_ERR_IO, "%s: cannot create a file in its folder: %s", final_path,
                       strerror(e));
    }
    return OI_OK;
}

/* Start writing back each finished window of WRITEBACK_WINDOW bytes while
 * later ones are still being made: the final fsync then waits for little. */
#define WRITEBACK_WINDOW (8u << 20)

void oi_save_no_sync(oi_save_file *f)
{
    struct stat st;
    if (f->final_path && lstat(f->final_path, &st) < 0 && errno == ENOENT)
        f->durable = 0;
}

static void kick_writeback(oi_save_file *f, uint64_t upto)
{
    if (f->durable && upto >= f->kicked + WRITEBACK_WINDOW) {
        sync_file_range(f->fd, (off_t)f->kicked, (off_t)(upto - f->kicked), SYNC_FILE_RANGE_WRITE);
        f->kicked = upto;
    }
}

oi_status oi_save_write(oi_save_file *f, const void *data, size_t len, oi_error *err)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(f->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return oi_fail(err, OI_ERR_IO, "%s: write failed: %s", f->final_path,
                           w < 0 ? strerror(errno) : "no progress");
        p += w;
        len -= (size_t)w;
        f->written += (uint64_t)w;
        kick_writeback(f, f->written);
    }
    return OI_OK;
}

oi_status oi_save_write_at(oi_save_file *f, uint64_t offset, const void *data, size_t len,
                           oi_error *err)
{
    const uint8_t *p = data;
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(f->fd, p + done, len - done, (off_t)(offset + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return oi_fail(err, OI_ERR_IO, "%s: write failed: %s", f->final_path,
                           w < 0 ? strerror(errno) : "no progress");
        done += (size_t)w;
    }
    /* A large write (an orthogonal matrix, a whole tensor) starts its own
     * writeback; otherwise the write that reaches the end of a window starts
     * that window's (writes finish out of order: harmless).  Large writes
     * come between runs of small ones elsewhere in the file, so waiting for
     * their windows left two runs' last windows to the final fsync. */
    uint64_t window = WRITEBACK_WINDOW, end = offset + len;
    if (f->durable && len >= WRITEBACK_WINDOW / 8)
        sync_file_range(f->fd, (off_t)offset, (off_t)len, SYNC_FILE_RANGE_WRITE);
    else if (f->durable && end / window != offset / window)
        sync_file_range(f->fd, (off_t)(end / window * window - window), (off_t)window,
                        SYNC_FILE_RANGE_WRITE);
    return OI_OK;
}

/* The source of copies, opened once however many pieces are copied from it. */
static int source_fd(oi_save_file *f, const char *path)
{
    if (f->src_path && strcmp(f->src_path, path) == 0)
        return f->src_fd;
    if (f->src_path)
        close(f->src_fd);
    free(f->src_path);
    f->src_path = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0 && !(f->src_path = strdup(path))) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    f->src_fd = fd;
    return fd;
}

static void drop_source(oi_save_file *f)
{
    if (f->src_path)
        close(f->src_fd);
    free(f->src_path);
    f->src_path = NULL;
}

/* Copy src[in_off, in_off+len) to the output at out_off: copy_file_range lets
 * the kernel move (or share) the bytes; pread/pwrite where it cannot. */
static oi_status copy_part(oi_save_file *f, const char *src_path, uint64_t in_off,
                           uint64_t out_off, uint64_t len, oi_error *err)
{
    int src = source_fd(f, src_path);
    if (src < 0)
        return oi_fail(err, OI_ERR_IO, "%s: cannot open: %s", src_path, strerror(errno));
    loff_t in = (loff_t)in_off, out = (loff_t)out_off;
    oi_status s = OI_OK;
    int kernel_copies = 1;   /* until the kernel refuses (EXDEV, EINVAL): then read and write */
    while (len > 0 && s == OI_OK) {
        ssize_t c = kernel_copies ? copy_file_range(src, &in, f->fd, &out,
                                                    len > WRITEBACK_WINDOW ? WRITEBACK_WINDOW : len, 0)
                                  : -1;
        kernel_copies = c >= 0;
        if (c > 0) {
            len -= (uint64_t)c;
            kick_writeback(f, (uint64_t)out);
            continue;
        }
        uint8_t buf[1 << 16];
        size_t chunk = len < sizeof buf ? (size_t)len : sizeof buf;
        ssize_t r = pread(src, buf, chunk, in);
        if (r <= 0) {
            s = r < 0 ? oi_fail(err, OI_ERR_IO, "%s: read failed: %s", src_path, strerror(errno))
                      : oi_fail(err, OI_ERR_IO, "%s: " OI_CHANGED_WHILE_READ, src_path);
            break;
        }
        for (ssize_t done = 0; done < r && s == OI_OK;) {
            ssize_t w = pwrite(f->fd, buf + done, (size_t)(r - done), out + done);
            if (w <= 0)
                s = oi_fail(err, OI_ERR_IO, "%s: write failed: %s", f->final_path,
                            w < 0 ? strerror(errno) : "no progress");
            else
                done += w;
        }
        in += r;
        out += r;
        len -= (uint64_t)r;
    }
    return s;
}

oi_status oi_save_copy_range(oi_save_file *f, const char *src_path, uint64_t offset,
                             uint64_t len, oi_error *err)
{
    if (copy_part(f, src_path, offset, f->written, len, err))
        return err->status;
    f->written += len;
    /* appends go on after the copied bytes */
    if (lseek(f->fd, (off_t)f->written, SEEK_SET) < 0)
        return oi_fail(err, OI_ERR_IO, "%s: %s", f->final_path, strerror(errno));
    return OI_OK;
}

oi_status oi_save_copy_to(oi_save_file *f, const char *src_path, uint64_t in, uint64_t out,
                          uint64_t len, oi_error *err)
{
    return copy_part(f, src_path, in, out, len, err);
}

/* Holes smaller than this are left to the writes: reserving costs a call each. */
#define RESERVE_MIN ((uint64_t)1 << 20)

oi_status oi_save_reserve(oi_save_file *f, uint64_t offset, uint64_t len, oi_error *err)
{
    /* only "it will not fit" stops the run; anything else is left to the writes */
    if (len < RESERVE_MIN || fallocate(f->fd, 0, (off_t)offset, (off_t)len) == 0 ||
        (errno != ENOSPC && errno != EDQUOT && errno != EFBIG))
        return OI_OK;
    return oi_fail(err, OI_ERR_IO, "%s: cannot reserve %llu bytes: %s", f->final_path,
                   (unsigned long long)len, strerror(errno));
}

oi_status oi_save_copy_at(oi_save_file *f, const char *src_path, uint64_t offset, uint64_t len,
                          oi_error *err)
{
    return copy_part(f, src_path, offset, offset, len, err);
}

oi_status oi_save_flush(oi_save_file *f, oi_error *err)
{
    if (f->fd < 0)
        return OI_OK;
    int rc = f->durable ? fsync(f->fd) : 0;
    int e = errno;
    if (close(f->fd) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    f->fd = -1;
    if (rc < 0)
        return oi_fail(err, OI_ERR_IO, "%s: cannot flush to disk: %s", f->final_path,
                       strerror(e));
    return OI_OK;
}

static void fsync_parent(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return;
    int fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(d);
}

/* A file replaced in place (--in-place, -f) keeps its mode, owner and group:
 * a 0600 model must not turn 0644.  Best effort: chown needs the rights. */
static void keep_owner_and_mode(const char *tmp, const char *final)
{
    struct stat st;
    if (stat(final, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    if (chown(tmp, st.st_uid, st.st_gid) < 0 && chown(tmp, (uid_t)-1, st.st_gid) < 0) {
        /* not ours to give away: the new file stays the caller's */
    }
    chmod(tmp, st.st_mode & 07777);
}

oi_status oi_save_commit(oi_save_file *f, int overwrite, oi_error *err)
{
    if (oi_save_flush(f, err)) {
        oi_save_abort(f);
        return err->status;
    }
    int rc;
    if (overwrite) {
        keep_owner_and_mode(f->tmp_path, f->final_path);
        rc = rename(f->tmp_path, f->final_path);
    } else {
        /* Atomic no-clobber: an output that appeared since the check stays. */
        rc = renameat2(AT_FDCWD, f->tmp_path, AT_FDCWD, f->final_path, RENAME_NOREPLACE);
        if (rc < 0 && (errno == EINVAL || errno == ENOSYS)) {
            rc = link(f->tmp_path, f->final_path);
            if (rc == 0)
                unlink(f->tmp_path);
        }
    }
    if (rc < 0) {   /* the message first: abort frees the path it names */
        int e = errno;
        oi_fail(err, e == EEXIST ? OI_ERR_UNSAFE : OI_ERR_IO, "%s: %s", f->final_path,
                e == EEXIST ? "already exists" : strerror(e));
        oi_save_abort(f);
        return e == EEXIST ? OI_ERR_UNSAFE : OI_ERR_IO;
    }
    free(f->tmp_path);
    f->tmp_path = NULL;
    drop_source(f);
    if (f->durable)
        fsync_parent(f->final_path);
    return OI_OK;
}

void oi_save_abort(oi_save_file *f)
{
    drop_source(f);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp_path)
        unlink(f->tmp_path);
    free(f->tmp_path);
    free(f->final_path);
    f->tmp_path = NULL;
    f->final_path = NULL;
}
