/* format — text forms of tensors and decisions for the read-outs. */
#ifndef OI_READOUT_FORMAT_H
#define OI_READOUT_FORMAT_H

#include <stddef.h>

#include "plan/plan.h"

void oi_format_shape(const oi_tensor *t, char *buf, size_t size);
void oi_format_where(const oi_tensor *t, char *buf, size_t size);
/* "N(0, 0.0589)", "U(-0.1, 0.1)", "1", "orthogonal 8x[32x32]" */
void oi_format_numbers(const oi_decision *d, char *buf, size_t size);
void oi_format_reason_kind(const char *reason, char *buf, size_t size);
void oi_format_elide(const char *s, size_t width, char *buf, size_t size);

#endif
