/* Chunked storage: no per-record malloc, nothing freed one by one. */
#include "common/arena.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OI_ARENA_CHUNK 65536

typedef struct chunk {
    struct chunk *next;
    size_t used, size;
    alignas(max_align_t) unsigned char bytes[];
} chunk;

struct oi_arena {
    chunk *head;
    int failed;
};

oi_arena *oi_arena_new(void)
{
    return calloc(1, sizeof(oi_arena));
}

void oi_arena_free(oi_arena *a)
{
    if (!a)
        return;
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

int oi_arena_failed(const oi_arena *a)
{
    return !a || a->failed;
}

/* len bytes at an offset aligned to align: the head chunk, or a new one (its
 * own if large). */
static void *room(oi_arena *a, size_t len, size_t align)
{
    chunk *c = a->head;
    size_t at = c ? (c->used + align - 1) / align * align : 0;
    if (!c || at > c->size || c->size - at < len) {
        size_t size = len > OI_ARENA_CHUNK ? len : OI_ARENA_CHUNK;
        chunk *n = malloc(sizeof *n + size);
        if (!n) {
            a->failed = 1;
            return NULL;
        }
        n->size = size;
        n->next = c;
        a->head = c = n;
        at = 0;
    }
    c->used = at + len;
    return c->bytes + at;
}

void *oi_arena_alloc(oi_arena *a, size_t size)
{
    void *p = a ? room(a, size ? size : 1, alignof(max_align_t)) : NULL;
    if (p)
        memset(p, 0, size);
    return p;
}

const char *oi_arena_copy(oi_arena *a, const char *s)
{
    if (!a || !s || !*s)
        return "";
    size_t len = strlen(s);
    char *p = room(a, len + 1, 1);
    if (!p)
        return "";
    memcpy(p, s, len + 1);
    return p;
}

const char *oi_arena_printf(oi_arena *a, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return oi_arena_copy(a, buf);
}
