/* text — short strings that live as long as their owner (an analysis, a
 * plan): appended to large chunks, freed together, so a record keeps a
 * pointer instead of a fixed buffer (a model of 10^6 tensors holds 10^6
 * records, most of whose notes are empty). */
#ifndef OI_TEXT_H
#define OI_TEXT_H

#include <stddef.h>

typedef struct oi_text oi_text;

oi_text *oi_text_new(void);   /* NULL when out of memory */
void oi_text_free(oi_text *t);
/* A copy of the formatted string, kept until oi_text_free; "" (not stored)
 * for an empty one.  Out of memory it returns "" and marks t failed, so a
 * writer stays one line and its owner checks once. */
const char *oi_text_printf(oi_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *oi_text_copy(oi_text *t, const char *s);
int oi_text_failed(const oi_text *t);

#endif
