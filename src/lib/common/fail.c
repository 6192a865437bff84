#include "common/fail.h"

#include <stdarg.h>
#include <stdio.h>

oi_status oi_fail(oi_error *err, oi_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}
