#include "common/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

oi_status oi_fail_prefix(oi_error *err, const char *fmt, ...)
{
    if (!err)
        return OI_ERR_USAGE;
    char prefix[OI_ERROR_MSG_MAX], old[OI_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Truncation is fine here: the message keeps its head, which names the file. */
    memcpy(old, err->msg, sizeof old);
    size_t n = strnlen(prefix, sizeof err->msg - 1);
    memcpy(err->msg, prefix, n);
    size_t rest = strnlen(old, sizeof old - 1);
    if (rest > sizeof err->msg - 1 - n)
        rest = sizeof err->msg - 1 - n;
    memcpy(err->msg + n, old, rest);
    err->msg[n + rest] = '\0';
    return err->status;
}

void oi_error_clear(oi_error *err)
{
    if (err) {
        err->status = OI_OK;
        err->msg[0] = '\0';
    }
}

const char *oi_status_name(oi_status status)
{
    switch (status) {
    case OI_OK: return "ok";
    case OI_ERR_IO: return "io";
    case OI_ERR_FORMAT: return "format";
    case OI_ERR_UNSAFE: return "unsafe";
    case OI_ERR_NOMEM: return "nomem";
    case OI_ERR_USAGE: return "usage";
    case OI_ERR_UNSUPPORTED: return "unsupported";
    case OI_ERR_CANCELLED: return "cancelled";
    case OI_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}

const char *oi_status_message(oi_status status)
{
    switch (status) {
    case OI_OK: return "success";
    case OI_ERR_IO: return "a file could not be read or written";
    case OI_ERR_FORMAT: return "the model is malformed";
    case OI_ERR_UNSAFE: return "refused, to protect a file";
    case OI_ERR_NOMEM: return "out of memory";
    case OI_ERR_USAGE: return "invalid call or option";
    case OI_ERR_UNSUPPORTED: return "not supported";
    case OI_ERR_CANCELLED: return "cancelled";
    case OI_ERR_INTERNAL: return "a library onnxinit calls failed";
    }
    return "unknown status";
}

void oi_free(void *p) { free(p); }
