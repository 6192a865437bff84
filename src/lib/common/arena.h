/* arena — small records and strings that live as long as their owner (an
 * analysis, a plan): carved from large chunks and freed together, so a
 * per-tensor record keeps a pointer instead of a fixed buffer (a model of
 * 10^6 tensors holds 10^6 records, most of whose notes are empty and most of
 * which are not quantized). */
#ifndef OI_ARENA_H
#define OI_ARENA_H

#include <stddef.h>

typedef struct oi_arena oi_arena;

oi_arena *oi_arena_new(void);   /* NULL when out of memory */
void oi_arena_free(oi_arena *a);
/* size bytes, zeroed and aligned for any type; NULL when out of memory (and
 * the arena is marked failed). */
void *oi_arena_alloc(oi_arena *a, size_t size);
/* A copy of the formatted string (one line: cut at 511 bytes); "" (not
 * stored) for an empty one.  Out of memory it returns "" and marks the arena
 * failed, so a writer stays one line and the owner checks once. */
const char *oi_arena_printf(oi_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *oi_arena_copy(oi_arena *a, const char *s);
int oi_arena_failed(const oi_arena *a);

#endif
