/* fail — recording a failure in the one error style.  Self-contained: the
 * program builds it too, for its own failures. */
#ifndef OI_FAIL_H
#define OI_FAIL_H

#include "onnxinit.h"

/* Record a failure in err (printf-style; err may be NULL) and return status,
 * so callers can write `return oi_fail(err, OI_ERR_IO, "%s: ...", path);`. */
oi_status oi_fail(oi_error *err, oi_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
