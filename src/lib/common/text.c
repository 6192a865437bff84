/* Chunked string storage: no per-string malloc, nothing freed one by one. */
#include "common/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OI_TEXT_CHUNK 65536

typedef struct chunk {
    struct chunk *next;
    size_t used, size;
    char bytes[];
} chunk;

struct oi_text {
    chunk *head;
    int failed;
};

oi_text *oi_text_new(void)
{
    return calloc(1, sizeof(oi_text));
}

void oi_text_free(oi_text *t)
{
    if (!t)
        return;
    for (chunk *c = t->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(t);
}

int oi_text_failed(const oi_text *t)
{
    return !t || t->failed;
}

/* Room for len+1 bytes: the head chunk, or a new one (its own if large). */
static char *room(oi_text *t, size_t len)
{
    chunk *c = t->head;
    if (!c || c->size - c->used < len + 1) {
        size_t size = len + 1 > OI_TEXT_CHUNK ? len + 1 : OI_TEXT_CHUNK;
        chunk *n = malloc(sizeof *n + size);
        if (!n)
            return NULL;
        n->used = 0;
        n->size = size;
        n->next = c;
        t->head = c = n;
    }
    char *p = c->bytes + c->used;
    c->used += len + 1;
    return p;
}

const char *oi_text_copy(oi_text *t, const char *s)
{
    if (!t || !s || !*s)
        return "";
    size_t len = strlen(s);
    char *p = room(t, len);
    if (!p) {
        t->failed = 1;
        return "";
    }
    memcpy(p, s, len + 1);
    return p;
}

const char *oi_text_printf(oi_text *t, const char *fmt, ...)
{
    char buf[512];   /* notes and reasons are one line; longer ones are cut */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return oi_text_copy(t, buf);
}
