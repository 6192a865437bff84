/* The program's small files (the batch report): written whole or not at all. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What may stand at path: nothing, or (with overwrite) a regular file or a link
 * to one, or a dangling link. */
static oi_status check_target(const char *path, int overwrite, oi_error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? OI_OK : oi_fail(err, OI_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISLNK(st.st_mode) && stat(path, &st) < 0)
        st.st_mode = S_IFREG;   /* a dangling link: replacing it loses nothing special */
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return oi_fail(err, OI_ERR_UNSAFE, "%s: not a regular file (refused, with or without "
                       "overwriting)", path);
    return overwrite ? OI_OK : oi_fail(err, OI_ERR_UNSAFE, "%s: already exists", path);
}

static oi_status write_all(int fd, const char *tmp, const unsigned char *p, size_t len,
                           oi_error *err)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return oi_fail(err, OI_ERR_IO, "%s: cannot write: %s", tmp,
                           n < 0 ? strerror(errno) : "no progress");
        p += n;
        len -= (size_t)n;
    }
    return fsync(fd) < 0 ? oi_fail(err, OI_ERR_IO, "%s: cannot sync: %s", tmp, strerror(errno))
                         : OI_OK;
}

/* Into place: rename replaces, link never does (it fails on an existing name). */
static oi_status publish(const char *tmp, const char *path, int overwrite, oi_error *err)
{
    int r = overwrite ? rename(tmp, path) : link(tmp, path);
    if (r < 0)
        return oi_fail(err, errno == EEXIST ? OI_ERR_UNSAFE : OI_ERR_IO, "%s: %s", path,
                       errno == EEXIST ? "already exists" : strerror(errno));
    if (!overwrite)
        unlink(tmp);
    return OI_OK;
}

oi_status oi_cli_write_file_atomic(const char *path, const void *data, size_t len,
                                   int overwrite, oi_error *err)
{
    oi_status s = check_target(path, overwrite, err);
    if (s)
        return s;
    char *dcopy = strdup(path);
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    int fd = -1;
    if (!dcopy || !tmp)
        s = oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", path);
    /* O_EXCL: never someone else's file; 0666 lets the umask decide as for any new file */
    for (unsigned attempt = 0; s == OI_OK && fd < 0 && attempt < 100; attempt++) {
        snprintf(tmp, n, "%s/.oi-report-%ld-%u", dirname(dcopy), (long)getpid(), attempt);
        strcpy(dcopy, path);   /* dirname may have written into it */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            s = oi_fail(err, OI_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                        path, strerror(errno));
    }
    if (s == OI_OK && fd < 0)
        s = oi_fail(err, OI_ERR_IO, "%s: no free temporary name beside it", path);
    if (s == OI_OK)
        s = write_all(fd, tmp, data, len, err);
    if (fd >= 0 && close(fd) < 0 && s == OI_OK)
        s = oi_fail(err, OI_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    if (s == OI_OK)
        s = publish(tmp, path, overwrite, err);
    if (s != OI_OK && fd >= 0)
        unlink(tmp);
    free(dcopy);
    free(tmp);
    return s;
}
