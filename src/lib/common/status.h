/* status — the one error style of onnxinit (types in onnxinit.h).
 *
 * Every fallible function returns an oi_status and, on failure, fills an
 * oi_error with one human line naming the file and, where it applies, the
 * tensor or node.  err may be NULL everywhere.  Nothing below main() prints
 * or exits. */
#ifndef OI_STATUS_H
#define OI_STATUS_H

#include <stddef.h>

#include "onnxinit.h"

#include "common/fail.h"   /* oi_fail */

/* Prefix an existing message with more context ("a.onnx: " + msg). */
oi_status oi_fail_prefix(oi_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A source that ends early or differs from what was loaded was changed by
 * another program mid-run; every reader says so in the same words. */
#define OI_CHANGED_WHILE_READ                                                                  \
    "the file changed while it was being read (another program wrote or truncated it); "       \
    "nothing written"

/* A caller's hooks into long work: the cancel check (oi_ctx_set_cancel),
 * polled, and the progress report (oi_ctx_set_progress). */
typedef struct oi_cancel {
    oi_cancel_fn fn;
    void *opaque;
    oi_progress_fn progress;
    void *progress_opaque;
} oi_cancel;

static inline int oi_cancelled(const oi_cancel *c) { return c && c->fn && c->fn(c->opaque); }

#endif
