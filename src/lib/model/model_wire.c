#include "model/model_wire.h"

#include <protobuf-c/protobuf-c.h>

#include <stdlib.h>
#include <string.h>

enum { MSG_MODEL, MSG_GRAPH, MSG_NODE, MSG_ATTR, MSG_FUNC, MSG_TENSOR, MSG_OTHER };
#define MAX_DEPTH 4096
#define MAX_FIELD 64   /* occurrence counters for field numbers below this */

typedef struct {
    const uint8_t *base;
    oi_wire_scan *out;
    uint64_t threshold;
    int strip;
} scanner;

/* The message type held by `field` of a message of type `type`. */
static int child_type(int type, uint32_t field)
{
    switch (type) {
    case MSG_MODEL: return field == 7 ? MSG_GRAPH : field == 25 ? MSG_FUNC : MSG_OTHER;
    case MSG_GRAPH: return field == 1 ? MSG_NODE : field == 5 ? MSG_TENSOR : MSG_OTHER;
    case MSG_NODE: return field == 5 ? MSG_ATTR : MSG_OTHER;
    case MSG_ATTR:
        return field == 5 || field == 10 ? MSG_TENSOR : field == 6 || field == 11 ? MSG_GRAPH
                                                                                 : MSG_OTHER;
    case MSG_FUNC: return field == 7 ? MSG_NODE : MSG_OTHER;
    default: return MSG_OTHER;
    }
}

/* Singular message fields: a second occurrence is merged into the first by
 * every protobuf reader, so no one place holds what a reader sees. */
static int singular(int type, uint32_t field)
{
    return (type == MSG_MODEL && field == 7) || (type == MSG_ATTR && (field == 5 || field == 6));
}

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

static int emit(oi_wire_scan *s, const void *data, size_t len)
{
    if (s->skeleton_len + len > s->skeleton_cap) {
        size_t cap = s->skeleton_cap ? s->skeleton_cap : 4096;
        while (cap < s->skeleton_len + len)
            cap *= 2;
        uint8_t *p = realloc(s->skeleton, cap);
        if (!p)
            return -1;
        s->skeleton = p;
        s->skeleton_cap = cap;
    }
    memcpy(s->skeleton + s->skeleton_len, data, len);
    s->skeleton_len += len;
    return 0;
}

static size_t put_varint(uint8_t *buf, uint64_t v)
{
    size_t n = 0;
    do {
        buf[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

static int record(scanner *sc, uint64_t path, uint64_t off, uint64_t len, int field, int stripped)
{
    oi_wire_scan *s = sc->out;
    if (s->n > 0 && s->items[s->n - 1].path == path)
        return -1;   /* two payloads for one tensor: leave such files to protobuf-c */
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        oi_wire_payload *p = realloc(s->items, cap * sizeof *p);
        if (!p)
            return -1;
        s->items = p;
        s->cap = cap;
    }
    s->items[s->n++] = (oi_wire_payload){path, off, len, field, stripped};
    return 0;
}

/* Walk one message [p, end) of `type`; when stripping, emit its new encoding
 * into the skeleton (the caller emits its tag and length). */
static int walk(scanner *sc, const uint8_t *p, const uint8_t *end, int type, uint64_t path,
                int depth)
{
    uint64_t counts[MAX_FIELD] = {0};
    if (depth > MAX_DEPTH)
        return -1;
    while (p < end) {
        const uint8_t *field_start = p;
        uint64_t tag, v;
        if (varint(&p, end, &tag))
            return -1;
        uint32_t field = (uint32_t)(tag >> 3), wt = (uint32_t)(tag & 7);
        uint64_t index = field < MAX_FIELD ? counts[field]++ : 0;
        if (wt == 0) {
            if (varint(&p, end, &v))
                return -1;
        } else if (wt == 1 || wt == 5) {
            if ((size_t)(end - p) < (wt == 1 ? 8u : 4u))
                return -1;
            p += wt == 1 ? 8 : 4;
        } else if (wt == 2) {
            if (varint(&p, end, &v) || v > (uint64_t)(end - p))
                return -1;
            const uint8_t *body = p;
            p += v;
            int child = child_type(type, field);
            if (type == MSG_TENSOR && (field == 9 || field == 4 || field == 10)) {
                int strip = sc->strip && field == 9 && v >= sc->threshold;
                if (record(sc, path, (uint64_t)(body - sc->base), v, (int)field, strip))
                    return -1;
                if (strip)
                    continue;
            } else if (child != MSG_OTHER) {
                if (index > 0 && singular(type, field))
                    return -1;   /* merged by readers: give up, decode the usual way */
                uint64_t child_path = oi_wire_path_step(path, field, index);
                if (!sc->strip) {
                    if (walk(sc, body, p, child, child_path, depth + 1))
                        return -1;
                    continue;
                }
                /* emit the child into the skeleton, then fix its length prefix */
                size_t mark = sc->out->skeleton_len;
                if (walk(sc, body, p, child, child_path, depth + 1))
                    return -1;
                size_t child_len = sc->out->skeleton_len - mark;
                uint8_t hdr[20];
                size_t h = put_varint(hdr, tag);
                h += put_varint(hdr + h, child_len);
                if (emit(sc->out, hdr, h))   /* grow, then rotate the header in front */
                    return -1;
                uint8_t *s = sc->out->skeleton + mark;
                memmove(s + h, s, child_len);
                memcpy(s, hdr, h);
                continue;
            }
        } else {
            return -1;   /* groups: not in ONNX */
        }
        if (sc->strip && emit(sc->out, field_start, (size_t)(p - field_start)))
            return -1;
    }
    return p == end ? 0 : -1;
}

static int by_path(const void *a, const void *b)
{
    uint64_t x = ((const oi_wire_payload *)a)->path, y = ((const oi_wire_payload *)b)->path;
    return x < y ? -1 : x > y;
}

int oi_wire_scan_model(const uint8_t *data, size_t len, uint64_t strip_threshold,
                       oi_wire_scan *out)
{
    memset(out, 0, sizeof *out);
    scanner sc = {.base = data, .out = out, .threshold = strip_threshold, .strip = 0};
    if (walk(&sc, data, data + len, MSG_MODEL, oi_wire_path_root(), 0))
        goto fail;
    int any = 0;
    for (size_t i = 0; i < out->n; i++)
        any |= out->items[i].field == OI_WIRE_RAW && out->items[i].len >= strip_threshold;
    if (any && strip_threshold) {
        out->n = 0;   /* second pass: the same walk, emitting the skeleton */
        sc.strip = 1;
        if (walk(&sc, data, data + len, MSG_MODEL, oi_wire_path_root(), 0))
            goto fail;
    }
    if (out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, by_path);
    for (size_t i = 1; i < out->n; i++)
        if (out->items[i].path == out->items[i - 1].path)
            goto fail;   /* two tensors, one path: cannot happen in a sane encoding */
    return 0;
fail:
    oi_wire_scan_free(out);
    return -1;
}

void oi_wire_scan_free(oi_wire_scan *s)
{
    free(s->items);
    free(s->skeleton);
    memset(s, 0, sizeof *s);
}

const oi_wire_payload *oi_wire_find(const oi_wire_scan *s, uint64_t path)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->items[mid].path < path)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->items[lo].path == path ? &s->items[lo] : NULL;
}

/* ---- nesting depth, by the schema ---- */

static int nesting(const uint8_t *p, const uint8_t *end, const ProtobufCMessageDescriptor *d,
                   int depth, int max, uint64_t *messages)
{
    if (depth > max)
        return -1;
    ++*messages;
    while (p < end) {   /* -1: too deep, -2: a NUL inside a string; 0 otherwise */
        uint64_t tag, v;
        if (varint(&p, end, &tag))
            return 0;   /* malformed: the decoder will say so */
        uint32_t wt = (uint32_t)(tag & 7);
        if (wt == 0) {
            if (varint(&p, end, &v))
                return 0;
        } else if (wt == 1 || wt == 5) {
            if ((size_t)(end - p) < (wt == 1 ? 8u : 4u))
                return 0;
            p += wt == 1 ? 8 : 4;
        } else if (wt == 2) {
            if (varint(&p, end, &v) || v > (uint64_t)(end - p))
                return 0;
            const ProtobufCFieldDescriptor *f =
                d ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3)) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int r = nesting(p, p + v, f->descriptor, depth + 1, max, messages);
                if (r < 0)
                    return r;
            }
            /* a C string ends at its first NUL: a name or external-data key with
             * one would mean one thing here and another to other readers */
            if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)v))
                return -2;
            p += v;
        } else {
            return 0;
        }
    }
    return 0;
}

int oi_wire_check(const uint8_t *data, size_t len, const ProtobufCMessageDescriptor *d,
                  int max_depth, uint64_t *messages)
{
    uint64_t count = 0;
    int r = nesting(data, data + len, d, 0, max_depth, &count);
    if (messages)
        *messages = count;
    return r;
}
