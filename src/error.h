/* error — the one error style of onnxinit.
 *
 * Every fallible function returns an oi_status and, on failure, fills an
 * oi_error with one human line naming the file and, where it applies, the
 * tensor or node.  Nothing below main() prints or exits. */
#ifndef OI_ERROR_H
#define OI_ERROR_H

#include <stddef.h>

typedef enum {
    OI_OK = 0,
    OI_ERR_IO,          /* a read, write, rename or fsync failed */
    OI_ERR_FORMAT,      /* the model is malformed or lies about its sizes */
    OI_ERR_UNSAFE,      /* refused to protect a file: overwrite, escape, same file */
    OI_ERR_NOMEM,
    OI_ERR_USAGE,       /* a caller or option error */
    OI_ERR_UNSUPPORTED, /* well-formed, but not something we handle */
} oi_status;

#define OI_ERROR_MSG_MAX 768

typedef struct oi_error {
    oi_status status;
    char msg[OI_ERROR_MSG_MAX];
} oi_error;

/* Record a failure (printf-style) and return its status, so callers can
 * write `return oi_fail(err, OI_ERR_IO, "%s: ...", path);`.  err may be NULL. */
oi_status oi_fail(oi_error *err, oi_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an existing message with more context ("a.onnx: " + msg). */
oi_status oi_fail_prefix(oi_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void oi_error_clear(oi_error *err);
const char *oi_status_name(oi_status status);

#endif
