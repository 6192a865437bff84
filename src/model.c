#include "model_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

static oi_status add_tensor(oi_model *m, Onnx__TensorProto *tp, const char *name,
                            const char *scope, const char *kind, Onnx__NodeProto *node,
                            oi_error *err)
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
    return oi_tensor_check(m, t, err);
}

static const char *node_label(const Onnx__NodeProto *n, size_t index, char *buf, size_t size)
{
    if (n->name && n->name[0])
        snprintf(buf, size, "%s '%s'", n->op_type ? n->op_type : "?", n->name);
    else
        snprintf(buf, size, "%s #%zu", n->op_type ? n->op_type : "?", index);
    return buf;
}

static char *sub_scope(oi_model *m, const char *scope, const char *node, const char *attr,
                       long index)
{
    char buf[1024];
    if (index >= 0)
        snprintf(buf, sizeof buf, "%s%s%s/%s[%ld]", scope, *scope ? "/" : "", node, attr, index);
    else
        snprintf(buf, sizeof buf, "%s%s%s/%s", scope, *scope ? "/" : "", node, attr);
    return own_string(m, strdup(buf));
}

static oi_status walk_graph(oi_model *m, Onnx__GraphProto *g, const char *scope, int depth,
                            oi_error *err);

static oi_status walk_node(oi_model *m, Onnx__NodeProto *n, size_t index, const char *scope,
                           int depth, oi_error *err)
{
    int is_const = n->op_type && strcmp(n->op_type, "Constant") == 0;
    char label[300];
    node_label(n, index, label, sizeof label);
    for (size_t a = 0; a < n->n_attribute; a++) {
        Onnx__AttributeProto *at = n->attribute[a];
        const char *aname = at->name ? at->name : "";
        if (at->t) {
            int value = is_const && strcmp(aname, "value") == 0;
            const char *name = value && n->n_output > 0 ? n->output[0] : at->t->name;
            if (add_tensor(m, at->t, name, scope, value ? "Constant" : "attribute", n, err))
                return err->status;
        }
        for (size_t i = 0; i < at->n_tensors; i++)
            if (add_tensor(m, at->tensors[i], at->tensors[i]->name, scope, "attribute", n, err))
                return err->status;
        if (at->g) {
            const char *s = sub_scope(m, scope, label, aname, -1);
            if (!s)
                return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
            if (walk_graph(m, at->g, s, depth + 1, err))
                return err->status;
        }
        for (size_t i = 0; i < at->n_graphs; i++) {
            const char *s = sub_scope(m, scope, label, aname, (long)i);
            if (!s)
                return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
            if (walk_graph(m, at->graphs[i], s, depth + 1, err))
                return err->status;
        }
    }
    return OI_OK;
}

static oi_status walk_graph(oi_model *m, Onnx__GraphProto *g, const char *scope, int depth,
                            oi_error *err)
{
    if (depth > OI_MAX_GRAPH_DEPTH)
        return oi_fail(err, OI_ERR_UNSUPPORTED, "%s: subgraphs nested deeper than %d (at %s)",
                       m->label, OI_MAX_GRAPH_DEPTH, scope);
    for (size_t i = 0; i < g->n_initializer; i++)
        if (add_tensor(m, g->initializer[i], g->initializer[i]->name, scope, "initializer",
                       NULL, err))
            return err->status;
    for (size_t i = 0; i < g->n_node; i++)
        if (walk_node(m, g->node[i], i, scope, depth, err))
            return err->status;
    return OI_OK;
}

static oi_status walk_model(oi_model *m, oi_error *err)
{
    Onnx__ModelProto *mp = m->proto;
    if (walk_graph(m, mp->graph, "", 0, err))
        return err->status;
    for (size_t f = 0; f < mp->n_functions; f++) {
        Onnx__FunctionProto *fn = mp->functions[f];
        char buf[600];
        snprintf(buf, sizeof buf, "function '%s%s%s'", fn->domain ? fn->domain : "",
                 fn->domain && *fn->domain ? ":" : "", fn->name ? fn->name : "?");
        const char *s = own_string(m, strdup(buf));
        if (!s)
            return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
        for (size_t i = 0; i < fn->n_node; i++)
            if (walk_node(m, fn->node[i], i, s, 1, err))
                return err->status;
    }
    return OI_OK;
}

static oi_status model_new(const char *dir, const char *label, oi_model **out, oi_error *err)
{
    oi_model *m = calloc(1, sizeof *m);
    if (!m)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", label);
    m->label = strdup(label);
    char *real = realpath(dir, NULL);
    m->dir = real ? real : strdup(dir);
    if (!m->label || !m->dir) {
        oi_model_free(m);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", label);
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
    m->proto = onnx__model_proto__unpack(NULL, len, data);
    if (!m->proto) {
        oi_model_free(m);
        return oi_fail(err, OI_ERR_FORMAT,
                       "%s: not an ONNX model (protobuf decoding failed: truncated or corrupt)",
                       label);
    }
    if (!m->proto->graph) {
        oi_model_free(m);
        return oi_fail(err, OI_ERR_FORMAT, "%s: not an ONNX model (it has no graph)", label);
    }
    if (walk_model(m, err)) {
        oi_model_free(m);
        return err->status;
    }
    m->pending = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *m->pending);
    if (!m->pending) {
        oi_model_free(m);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", label);
    }
    *out = m;
    return OI_OK;
}

oi_status oi_model_recatalogue(oi_model *m, oi_error *err)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        free(m->tensors[i].ext_path);
    m->n_tensors = 0;
    free(m->pending);
    m->pending = NULL;
    if (walk_model(m, err))
        return err->status;
    m->pending = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *m->pending);
    if (!m->pending)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    return OI_OK;
}

oi_status oi_model_load(const char *path, oi_model **out, oi_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
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
    char *dcopy = strdup(path);
    if (!dcopy) {
        close(fd);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", path);
    }
    const char *dir = dirname(dcopy);
    oi_status s;
    if (st.st_size == 0) {
        s = oi_model_load_buffer("", 0, dir, path, out, err);
    } else {
        /* One mapping, decoded once; the pages are dropped right after. */
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            s = oi_fail(err, OI_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        } else {
            madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
            s = oi_model_load_buffer(map, (size_t)st.st_size, dir, path, out, err);
            munmap(map, (size_t)st.st_size);
        }
    }
    free(dcopy);
    close(fd);
    return s;
}

void oi_model_free(oi_model *m)
{
    if (!m)
        return;
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, NULL);
    for (size_t i = 0; i < m->n_tensors; i++) {
        free(m->tensors[i].ext_path);
        if (m->pending)
            free(m->pending[i]);
    }
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

Onnx__ModelProto *oi_model_proto(oi_model *m) { return m->proto; }
const char *oi_model_label(const oi_model *m) { return m->label; }
size_t oi_model_tensor_count(const oi_model *m) { return m->n_tensors; }
oi_tensor *oi_model_tensor(oi_model *m, size_t i) { return i < m->n_tensors ? &m->tensors[i] : NULL; }
