#include "model/model_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* raw_data payloads at least this big are read from the mapping, not copied. */
#define OI_STRIP_THRESHOLD (64u * 1024)

/* Subgraphs nest through node attributes; deeper than this is hostile. */
#define OI_MAX_GRAPH_DEPTH 1000

static char *own_string(oi_model *m, char *s)
{
    if (!s)
        return NULL;
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? 2 * m->cap_owned : 16;
        char **p = realloc(m->owned, cap * sizeof *p);
        if (!p) {
            free(s);
            return NULL;
        }
        m->owned = p;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = s;
    return s;
}

/* Where the wire scan found this tensor's payload; a stripped raw_data is
 * borrowed from the mapping instead of having been copied. */
static void place_payload(oi_model *m, oi_tensor *t, uint64_t path)
{
    const oi_wire_payload *p = m->wire ? oi_wire_find(m->wire, path) : NULL;
    if (!p)
        return;
    t->file_offset = p->offset;
    t->file_len = p->len;
    t->file_field = p->field;
    if (p->stripped && m->borrow) {
        t->proto->has_raw_data = 1;
        t->proto->raw_data.data = (uint8_t *)(uintptr_t)(m->map + p->offset);
        t->proto->raw_data.len = (size_t)p->len;
        t->borrowed = 1;
        m->n_borrowed++;
    }
}

static oi_status add_tensor(oi_model *m, Onnx__TensorProto *tp, const char *name,
                            const char *scope, const char *kind, Onnx__NodeProto *node,
                            uint64_t path, oi_error *err)
{
    if (m->n_tensors == m->cap_tensors) {
        size_t cap = m->cap_tensors ? 2 * m->cap_tensors : 64;
        oi_tensor *p = realloc(m->tensors, cap * sizeof *p);
        if (!p)
            return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
        m->tensors = p;
        m->cap_tensors = cap;
    }
    oi_tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    t->proto = tp;
    t->name = name ? name : "";
    t->scope = scope;
    t->kind = kind;
    t->node = node;
    m->n_tensors++;
    place_payload(m, t, path);
    return oi_tensor_check(m, t, err);
}

/* Scope strings are bounded (a hostile model nests 1,000 deep with long
 * names), but never by cutting alone: a string longer than `max` keeps its
 * head and ends in "...#" and the hash of the whole, so two places never share
 * a scope (and a stream key) because their differences were cut off.
 * Strings within the bounds are as they always were. */
#define LABEL_MAX 299
#define SCOPE_MAX 1023
#define FUNCTION_MAX 599

static char *bounded(char *full, size_t max)
{
    size_t n = full ? strlen(full) : 0;
    if (!full || n <= max)
        return full;
    size_t head = max - 20;   /* "...#" and 16 hex digits */
    snprintf(full + head, 21, "...#%016llx", (unsigned long long)oi_fnv1a_str(OI_FNV_OFFSET, full));
    return full;
}

/* A new string, as printf would write it (NULL when out of memory). */
__attribute__((format(printf, 1, 2))) static char *format(const char *fmt, ...)
{
    char *s;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static char *node_label(const Onnx__NodeProto *n, size_t index)
{
    const char *op = n->op_type ? n->op_type : "?";
    return bounded(n->name && n->name[0] ? format("%s '%s'", op, n->name)
                                         : format("%s #%zu", op, index), LABEL_MAX);
}

static char *sub_scope(oi_model *m, const char *scope, const char *node, const char *attr,
                       long index)
{
    const char *sep = *scope ? "/" : "";
    char *s = index >= 0 ? format("%s%s%s/%s[%ld]", scope, sep, node, attr, index)
                         : format("%s%s%s/%s", scope, sep, node, attr);
    return own_string(m, bounded(s, SCOPE_MAX));
}

static oi_status walk_graph(oi_model *m, Onnx__GraphProto *g, const char *scope, int depth,
                            uint64_t path, oi_error *err);

/* Subgraph k of an attribute (k < 0: its one graph), walked in its scope. */
static oi_status walk_subgraph(oi_model *m, Onnx__GraphProto *g, const char *scope,
                               const char *label, const char *aname, long k, int depth,
                               uint64_t path, oi_error *err)
{
    const char *s = label ? sub_scope(m, scope, label, aname, k) : NULL;
    if (!s)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    return walk_graph(m, g, s, depth + 1, path, err);
}

/* Paths use the wire's field numbers (model_wire.h): the same place, found twice. */
static oi_status walk_node(oi_model *m, Onnx__NodeProto *n, size_t index, const char *scope,
                           int depth, uint64_t path, oi_error *err)
{
    int is_const = n->op_type && strcmp(n->op_type, "Constant") == 0;
    char *label = NULL;   /* made when the node has a subgraph */
    oi_status st = OI_OK;
    for (size_t a = 0; st == OI_OK && a < n->n_attribute; a++) {
        Onnx__AttributeProto *at = n->attribute[a];
        const char *aname = at->name ? at->name : "";
        uint64_t ap = oi_wire_path_step(path, 5, a);
        if (at->t) {
            int value = is_const && strcmp(aname, "value") == 0;
            const char *name = value && n->n_output > 0 ? n->output[0] : at->t->name;
            st = add_tensor(m, at->t, name, scope, value ? "Constant" : "attribute", n,
                            oi_wire_path_step(ap, 5, 0), err);
        }
        for (size_t i = 0; st == OI_OK && i < at->n_tensors; i++)
            st = add_tensor(m, at->tensors[i], at->tensors[i]->name, scope, "attribute", n,
                            oi_wire_path_step(ap, 10, i), err);
        if (st == OI_OK && (at->g || at->n_graphs) && !label)
            label = node_label(n, index);
        if (st == OI_OK && at->g)
            st = walk_subgraph(m, at->g, scope, label, aname, -1, depth,
                               oi_wire_path_step(ap, 6, 0), err);
        for (size_t i = 0; st == OI_OK && i < at->n_graphs; i++)
            st = walk_subgraph(m, at->graphs[i], scope, label, aname, (long)i, depth,
                               oi_wire_path_step(ap, 11, i), err);
    }
    free(label);
    return st;
}

static oi_status walk_graph(oi_model *m, Onnx__GraphProto *g, const char *scope, int depth,
                            uint64_t path, oi_error *err)
{
    if (depth > OI_MAX_GRAPH_DEPTH)
        return oi_fail(err, OI_ERR_UNSUPPORTED, "%s: subgraphs nested deeper than %d (at %s)",
                       m->label, OI_MAX_GRAPH_DEPTH, scope);
    for (size_t i = 0; i < g->n_initializer; i++)
        if (add_tensor(m, g->initializer[i], g->initializer[i]->name, scope, "initializer",
                       NULL, oi_wire_path_step(path, 5, i), err))
            return err->status;
    for (size_t i = 0; i < g->n_node; i++)
        if (walk_node(m, g->node[i], i, scope, depth, oi_wire_path_step(path, 1, i), err))
            return err->status;
    return OI_OK;
}

static oi_status walk_model(oi_model *m, oi_error *err)
{
    Onnx__ModelProto *mp = m->proto;
    uint64_t root = oi_wire_path_root();
    if (walk_graph(m, mp->graph, "", 0, oi_wire_path_step(root, 7, 0), err))
        return err->status;
    for (size_t f = 0; f < mp->n_functions; f++) {
        Onnx__FunctionProto *fn = mp->functions[f];
        const char *s = own_string(m, bounded(format("function '%s%s%s'",
                                                     fn->domain ? fn->domain : "",
                                                     fn->domain && *fn->domain ? ":" : "",
                                                     fn->name ? fn->name : "?"), FUNCTION_MAX));
        if (!s)
            return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
        uint64_t fp = oi_wire_path_step(root, 25, f);
        for (size_t i = 0; i < fn->n_node; i++)
            if (walk_node(m, fn->node[i], i, s, 1, oi_wire_path_step(fp, 7, i), err))
                return err->status;
    }
    /* the catalogue is complete: give back what doubling reserved */
    oi_tensor *fit = m->n_tensors ? realloc(m->tensors, m->n_tensors * sizeof *fit) : NULL;
    if (fit) {
        m->tensors = fit;
        m->cap_tensors = m->n_tensors;
    }
    return OI_OK;
}

static oi_status model_new(const char *dir, const char *label, oi_model **out, oi_error *err)
{
    oi_model *m = calloc(1, sizeof *m);
    if (!m)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", label);
    m->fd = -1;
    m->label = strdup(label);
    char *real = dir ? realpath(dir, NULL) : NULL;
    m->dir = real ? real : dir ? strdup(dir) : NULL;   /* NULL: no external data allowed */
    if (!m->label || (dir && !m->dir)) {
        oi_model_free(m);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", label);
    }
    *out = m;
    return OI_OK;
}

/* Give borrowed payloads back to the mapping before protobuf-c frees the message. */
static void unborrow(oi_model *m)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].borrowed) {
            m->tensors[i].proto->raw_data.data = NULL;
            m->tensors[i].proto->raw_data.len = 0;
            m->tensors[i].proto->has_raw_data = 0;
            m->tensors[i].borrowed = 0;
        }
    m->n_borrowed = 0;
}

static void drop_proto(oi_model *m)
{
    unborrow(m);
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, NULL);
    m->proto = NULL;
    for (size_t i = 0; i < m->n_tensors; i++)
        free(m->tensors[i].ext_path);
    m->n_tensors = 0;
}

/* Message nesting decoders may recurse through: If/Loop bodies take three
 * levels each (graph, node, attribute), types two (TypeProto, its element). */
#define OI_MAX_NESTING (3 * OI_MAX_GRAPH_DEPTH + 64)

static oi_status decode(oi_model *m, const uint8_t *data, size_t len, oi_error *err)
{
    int check = oi_wire_check(data, len, &onnx__model_proto__descriptor, OI_MAX_NESTING, NULL);
    if (check == -1)
        return oi_fail(err, OI_ERR_FORMAT, "%s: messages nest deeper than %d levels (refused "
                       "before decoding)", m->label, OI_MAX_NESTING);
    if (check == -2)
        return oi_fail(err, OI_ERR_FORMAT, "%s: a name, key or other text field holds a NUL "
                       "byte (refused: readers would disagree on it)", m->label);
    m->proto = onnx__model_proto__unpack(NULL, len, data);
    if (!m->proto)
        return oi_fail(err, OI_ERR_FORMAT,
                       "%s: not an ONNX model (protobuf decoding failed: truncated or corrupt)",
                       m->label);
    if (!m->proto->graph)
        return oi_fail(err, OI_ERR_FORMAT, "%s: not an ONNX model (it has no graph)", m->label);
    return walk_model(m, err);
}

static size_t count_stripped(const oi_wire_scan *scan)
{
    size_t n = 0;
    for (size_t i = 0; i < scan->n; i++)
        n += (size_t)scan->items[i].stripped;
    return n;
}

/* Decode the mapped file: the skeleton when the scan made one (weights stay in
 * the mapping), the whole file otherwise or if any stripped payload found no
 * tensor to claim it. */
static oi_status decode_mapped(oi_model *m, oi_error *err)
{
    oi_wire_scan scan;
    if (oi_wire_scan_model(m->map, m->map_len, OI_STRIP_THRESHOLD, &scan) != 0)
        return decode(m, m->map, m->map_len, err);
    m->wire = &scan;
    oi_status s;
    if (scan.skeleton) {
        m->borrow = 1;
        s = decode(m, scan.skeleton, scan.skeleton_len, err);
        m->borrow = 0;
        if (s == OI_OK && m->n_borrowed != count_stripped(&scan))
            s = OI_ERR_UNSUPPORTED;
        if (s != OI_OK) {
            drop_proto(m);
            s = decode(m, m->map, m->map_len, err);
        }
    } else {
        s = decode(m, m->map, m->map_len, err);
    }
    m->wire = NULL;
    oi_wire_scan_free(&scan);
    return s;
}

static oi_status finish_load(oi_model *m, oi_model **out, oi_error *err)
{
    m->pending = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *m->pending);
    if (!m->pending) {
        oi_model_free(m);
        return oi_fail(err, OI_ERR_NOMEM, "out of memory");
    }
    *out = m;
    return OI_OK;
}

oi_status oi_model_load_buffer(const void *data, size_t len, const char *dir, const char *label,
                               oi_model **out, oi_error *err)
{
    *out = NULL;
    if (len == 0)
        return oi_fail(err, OI_ERR_FORMAT, "%s: empty file, not an ONNX model", label);
    oi_model *m = NULL;
    if (model_new(dir, label, &m, err))
        return err->status;
    if (decode(m, data, len, err)) {
        oi_model_free(m);
        return err->status;
    }
    return finish_load(m, out, err);
}

static oi_status load_mapped(int fd, size_t size, const char *path, oi_model **out,
                             oi_error *err)
{
    char *dcopy = strdup(path);
    oi_model *m = NULL;
    if (!dcopy)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", path);
    oi_status s = model_new(dirname(dcopy), path, &m, err);
    free(dcopy);
    if (s)
        return s;
    /* The mapping lives as long as the model: large weights are read from it. */
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        oi_model_free(m);
        return oi_fail(err, OI_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    }
    madvise(map, size, MADV_SEQUENTIAL);
    m->map = map;
    m->map_len = size;
    m->fd = dup(fd);
    struct stat st;
    if (fstat(fd, &st) == 0) {
        m->src_size = (int64_t)st.st_size;
        m->src_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    if (decode_mapped(m, err)) {
        oi_model_free(m);
        return err->status;
    }
    return finish_load(m, out, err);
}

oi_status oi_model_load(const char *path, oi_model **out, oi_error *err)
{
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return oi_fail(err, OI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return oi_fail(err, OI_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return oi_fail(err, OI_ERR_IO, "%s: %s", path,
                       S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    }
    oi_status s = st.st_size == 0
                      ? oi_fail(err, OI_ERR_FORMAT, "%s: empty file, not an ONNX model", path)
                      : load_mapped(fd, (size_t)st.st_size, path, out, err);
    close(fd);
    return s;
}

oi_status oi_model_memory_estimate(const char *path, uint64_t *bytes, oi_error *err)
{
    *bytes = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return oi_fail(err, OI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return oi_fail(err, OI_ERR_IO, "%s: not a regular, non-empty file", path);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return oi_fail(err, OI_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    uint64_t messages = 0;
    oi_wire_check(map, (size_t)st.st_size, &onnx__model_proto__descriptor, OI_MAX_NESTING,
                  &messages);
    munmap(map, (size_t)st.st_size);
    *bytes = (uint64_t)st.st_size + messages * OI_BYTES_PER_MESSAGE;
    return OI_OK;
}

oi_status oi_model_check_unchanged(const oi_model *m, oi_error *err)
{
    struct stat st;
    if (!m->map || m->fd < 0)
        return OI_OK;
    if (fstat(m->fd, &st) < 0)
        return oi_fail(err, OI_ERR_IO, "%s: cannot stat: %s", m->label, strerror(errno));
    int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if ((int64_t)st.st_size != m->src_size || mt != m->src_mtime_ns)
        return oi_fail(err, OI_ERR_IO, "%s: " OI_CHANGED_WHILE_READ, m->label);
    return OI_OK;
}

int oi_model_is_file(const oi_model *m, const char *path)
{
    struct stat mine, there;
    if (!m->map || m->fd < 0 || fstat(m->fd, &mine) < 0)
        return -1;
    return lstat(path, &there) == 0 && there.st_dev == mine.st_dev && there.st_ino == mine.st_ino;
}

void oi_model_free(oi_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->pending && i < m->n_tensors; i++)
        free(m->pending[i]);
    drop_proto(m);
    if (m->map)
        munmap((void *)(uintptr_t)m->map, m->map_len);
    if (m->fd >= 0)
        close(m->fd);
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->declared);
    free(m->pending);
    free(m->tensors);
    free(m->label);
    free(m->dir);
    free(m);
}

typedef struct {
    const Onnx__TensorProto *proto;
    uint64_t file_offset, file_len;
    int file_field, borrowed;
} placement;

static int by_proto(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const placement *)a)->proto, y = (uintptr_t)((const placement *)b)->proto;
    return x < y ? -1 : x > y;
}

/* Re-walk after a structural change, keeping what the wire scan told us about
 * each surviving tensor (found again by its TensorProto). */
oi_status oi_model_recatalogue(oi_model *m, oi_error *err)
{
    size_t n = m->n_tensors;
    placement *keep = malloc((n ? n : 1) * sizeof *keep);
    if (!keep)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    for (size_t i = 0; i < n; i++) {
        const oi_tensor *t = &m->tensors[i];
        keep[i] = (placement){t->proto, t->file_offset, t->file_len, t->file_field, t->borrowed};
        free(m->tensors[i].ext_path);
    }
    if (n > 1)
        qsort(keep, n, sizeof *keep, by_proto);
    m->n_tensors = 0;
    free(m->pending);
    m->pending = NULL;
    oi_status s = walk_model(m, err);
    for (size_t i = 0; s == OI_OK && i < m->n_tensors; i++) {
        placement key = {.proto = m->tensors[i].proto};
        const placement *p = n ? bsearch(&key, keep, n, sizeof *keep, by_proto) : NULL;
        if (p) {
            m->tensors[i].file_offset = p->file_offset;
            m->tensors[i].file_len = p->file_len;
            m->tensors[i].file_field = p->file_field;
            m->tensors[i].borrowed = p->borrowed;
        }
    }
    free(keep);
    if (s != OI_OK)
        return s;
    m->pending = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *m->pending);
    if (!m->pending)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    return OI_OK;
}

Onnx__ModelProto *oi_model_proto(oi_model *m) { return m->proto; }
const char *oi_model_label(const oi_model *m) { return m->label; }
size_t oi_model_tensor_count(const oi_model *m) { return m->n_tensors; }
oi_tensor *oi_model_tensor(oi_model *m, size_t i) { return i < m->n_tensors ? &m->tensors[i] : NULL; }
