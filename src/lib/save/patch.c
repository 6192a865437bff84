/* Patch save: the output is the input's bytes with the rewritten payloads
 * written in place — lossless by construction, each byte written once, and
 * the weights never pass through this process's memory. */
#include "save/save.h"

#include "model/model_internal.h"
#include "save/atomic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

struct oi_patch {
    oi_model *m;
    oi_save_opts opts;
    char *path;
    int external;                /* model with external data: patch its data file */
    const char *ext_source;      /* that one data file (NULL: several, gathered) */
    uint64_t *placed;            /* gathered: each external tensor's offset in the new file */
    char *data_path, *data_name;
    oi_save_file model_file, data_file;
    int committed;
};

typedef struct {
    uint64_t lo, hi;
} range;

/* The payload of t lies in the model file exactly as its raw bytes. */
static int in_file_as_raw(const oi_model *m, const oi_tensor *t)
{
    if (!m->map || !oi_tensor_sized(t) || t->file_len != t->n_bytes || t->n_bytes == 0)
        return 0;
    return (t->storage == OI_STORE_RAW && t->file_field == OI_WIRE_RAW) ||
           (t->storage == OI_STORE_TYPED && t->file_field == OI_WIRE_FLOAT &&
            t->dtype == DT(FLOAT)) ||
           (t->storage == OI_STORE_TYPED && t->file_field == OI_WIRE_DOUBLE &&
            t->dtype == DT(DOUBLE));
}

/* The one data file every external tensor uses, or NULL (none, or several). */
static const char *single_data_file(const oi_model *m, int *several)
{
    const char *one = NULL;
    *several = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const char *p = m->tensors[i].ext_path;
        if (!p)
            continue;
        if (one && strcmp(one, p) != 0)
            *several = 1;
        one = one ? one : p;
    }
    return *several ? NULL : one;
}

const char *oi_model_data_file(const oi_model *m, int *several)
{
    return single_data_file(m, several);
}

oi_status oi_model_save_pointing(oi_model *m, const char *path, const char *data_name,
                                 int overwrite, oi_error *err)
{
    oi_save_opts o = {.overwrite = overwrite};
    oi_save_file f = {.fd = -1};
    oi_status s = oi_model_save_relocated(m, path, &o, data_name, NULL, &f, err);
    if (s == OI_OK)
        s = oi_save_commit(&f, overwrite, err);
    oi_save_abort(&f);
    return s;
}


/* Does a rewritten payload share a byte with any other tensor's payload (two
 * external tensors pointing at the same bytes, a float weight overlapping a
 * kept integer tensor)?  Then patching would change what another reads. */
typedef struct { uint64_t lo, hi; int rewritten; const char *file; } span;

static int by_file_lo(const void *a, const void *b)
{
    const span *x = a, *y = b;
    int f = strcmp(x->file, y->file);
    return f ? f : x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int rewrites_shared_bytes(const oi_model *m, const unsigned char *rewrite, int external)
{
    span *s = malloc((m->n_tensors ? m->n_tensors : 1) * sizeof *s);
    size_t n = 0;
    if (!s)
        return 1;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const oi_tensor *t = &m->tensors[i];
        uint64_t lo = external ? t->ext_offset : t->file_offset;
        uint64_t len = external ? t->n_bytes : t->file_len;
        if ((external ? t->ext_path != NULL : t->file_len > 0) && len > 0)
            s[n++] = (span){lo, lo + len, rewrite[i], external ? t->ext_path : ""};
    }
    qsort(s, n, sizeof *s, by_file_lo);   /* bytes can be shared only within one file */
    int shared = 0;
    uint64_t hi = 0;
    int hi_rewritten = 0;
    for (size_t i = 0; i < n && !shared; i++) {
        if (i > 0 && strcmp(s[i].file, s[i - 1].file) != 0)
            hi = 0, hi_rewritten = 0;
        if (i > 0 && s[i].lo < hi && (s[i].rewritten || hi_rewritten))
            shared = 1;
        if (s[i].hi > hi) {
            hi = s[i].hi;
            hi_rewritten = s[i].rewritten;
        } else {
            hi_rewritten |= s[i].rewritten;
        }
    }
    free(s);
    return shared;
}

int oi_patch_possible(const oi_model *m, const unsigned char *rewrite, const oi_save_opts *o)
{
    int several;
    if (!m->map || o->externalize)
        return 0;
    const char *data = single_data_file(m, &several);
    if (rewrites_shared_bytes(m, rewrite, 0) ||
        ((data || several) && rewrites_shared_bytes(m, rewrite, 1)))
        return 0;   /* the full encode gives each tensor its own bytes */
    if (data || several)
        return 1;   /* data patched or gathered; embedded tensors are written into the model */
    for (size_t i = 0; i < m->n_tensors; i++)
        if (rewrite[i] && !in_file_as_raw(m, &m->tensors[i]))
            return 0;
    return 1;
}

static int by_lo(const void *a, const void *b)
{
    uint64_t x = ((const range *)a)->lo, y = ((const range *)b)->lo;
    return x < y ? -1 : x > y;
}

/* Size the output and copy every byte of `src` outside the holes. */
static oi_status copy_around(oi_save_file *f, const char *src, uint64_t size, range *holes,
                             size_t n, oi_error *err)
{
    if (ftruncate(f->fd, (off_t)size) < 0)
        return oi_fail(err, OI_ERR_IO, "%s: cannot size output: %s", f->final_path,
                       strerror(errno));
    if (n > 1)
        qsort(holes, n, sizeof *holes, by_lo);
    for (size_t i = 0; i < n; i++)
        if (holes[i].hi > holes[i].lo &&
            oi_save_reserve(f, holes[i].lo, holes[i].hi - holes[i].lo, err))
            return err->status;
    uint64_t at = 0;
    for (size_t i = 0; i <= n; i++) {
        uint64_t end = i < n ? holes[i].lo : size;
        if (end > at && oi_save_copy_at(f, src, at, end - at, err))
            return err->status;
        if (i < n && holes[i].hi > at)
            at = holes[i].hi;
    }
    return OI_OK;
}

static oi_status holes_for(const oi_patch *p, const unsigned char *rewrite, range **out,
                           size_t *n, oi_error *err)
{
    *n = 0;
    *out = malloc((p->m->n_tensors + 1) * sizeof **out);
    if (!*out)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", p->path);
    for (size_t i = 0; i < p->m->n_tensors; i++) {
        const oi_tensor *t = &p->m->tensors[i];
        if (!rewrite[i])
            continue;
        if (p->external && t->storage == OI_STORE_EXTERNAL)
            (*out)[(*n)++] = (range){t->ext_offset, t->ext_offset + t->n_bytes};
        else if (!p->external)
            (*out)[(*n)++] = (range){t->file_offset, t->file_offset + t->n_bytes};
    }
    return OI_OK;
}


/* Several data files: one new file, each external tensor placed in it in
 * order (big ones page-aligned); the kept ones copied from where they are,
 * the rewritten ones left for the fill.  Its name never one the replaced
 * model reads (the offsets change). */
static oi_status gather(oi_patch *p, const unsigned char *rewrite, oi_error *err)
{
    oi_model *m = p->m;
    char *retire = NULL;
    oi_status s = oi_data_file_choose(m, p->path, &p->opts, &p->data_path, &p->data_name,
                                      &retire, err);
    free(retire);   /* the old model's data files stay: it may be someone's */
    if (s == OI_OK && !(p->placed = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *p->placed)))
        s = oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", p->path);
    uint64_t at = 0;
    for (size_t i = 0; s == OI_OK && i < m->n_tensors; i++)
        if (m->tensors[i].storage == OI_STORE_EXTERNAL) {
            p->placed[i] = oi_data_file_place(at, m->tensors[i].n_bytes);
            at = p->placed[i] + m->tensors[i].n_bytes;
        }
    if (s == OI_OK)
        s = oi_save_begin(&p->data_file, p->data_path, err);
    if (s == OI_OK && p->opts.no_sync)
        oi_save_no_sync(&p->data_file);
    if (s == OI_OK && ftruncate(p->data_file.fd, (off_t)at) < 0)
        s = oi_fail(err, OI_ERR_IO, "%s: cannot size output: %s", p->data_path, strerror(errno));
    for (size_t i = 0; s == OI_OK && i < m->n_tensors; i++) {
        const oi_tensor *t = &m->tensors[i];
        if (t->storage == OI_STORE_EXTERNAL && !rewrite[i] && t->n_bytes)
            s = oi_save_copy_to(&p->data_file, t->ext_path, t->ext_offset, p->placed[i],
                                t->n_bytes, err);
        else if (t->storage == OI_STORE_EXTERNAL)
            s = oi_save_reserve(&p->data_file, p->placed[i], t->n_bytes, err);
    }
    return s;
}

oi_status oi_patch_begin(oi_model *m, const char *path, const oi_save_opts *opts,
                         const unsigned char *rewrite, oi_patch **out, oi_error *err)
{
    *out = NULL;
    oi_patch *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", path);
    }
    p->m = m;
    p->opts = *opts;
    p->model_file.fd = p->data_file.fd = -1;
    int several;
    p->ext_source = single_data_file(m, &several);
    p->external = p->ext_source != NULL || several;
    range *holes = NULL;
    size_t n = 0;
    oi_status s = oi_save_check_inputs(m, path, 1, opts, err);
    if (s == OI_OK)
        s = oi_save_check_target(path, m->label, opts->overwrite, opts->allow_same_file, err);
    if (s == OI_OK)
        s = holes_for(p, rewrite, &holes, &n, err);
    if (s == OI_OK && several) {
        s = gather(p, rewrite, err);
    } else if (s == OI_OK && p->external) {
        struct stat st;
        s = oi_data_file_path(path, opts, &p->data_path, &p->data_name, err);
        if (s == OI_OK)
            s = oi_save_check_data_target(m, p->data_path, opts, err);
        if (s == OI_OK && stat(p->ext_source, &st) < 0)
            s = oi_fail(err, OI_ERR_IO, "%s: %s", p->ext_source, strerror(errno));
        if (s == OI_OK)
            s = oi_save_begin(&p->data_file, p->data_path, err);
        if (s == OI_OK && p->opts.no_sync)
            oi_save_no_sync(&p->data_file);
        if (s == OI_OK)
            s = copy_around(&p->data_file, p->ext_source, (uint64_t)st.st_size, holes, n, err);
    } else if (s == OI_OK) {
        s = oi_save_begin(&p->model_file, path, err);
        if (s == OI_OK && p->opts.no_sync)
            oi_save_no_sync(&p->model_file);
        if (s == OI_OK)
            s = copy_around(&p->model_file, m->label, m->map_len, holes, n, err);
    }
    free(holes);
    if (s != OI_OK) {
        oi_patch_free(p);
        return s;
    }
    *out = p;
    return OI_OK;
}

/* Which file tensor t's payload goes to, and where; NULL: into the model. */
static oi_save_file *payload_place(oi_patch *p, const oi_tensor *t, uint64_t *offset)
{
    if (p->external && t->storage == OI_STORE_EXTERNAL) {
        *offset = p->placed ? p->placed[t - p->m->tensors] : t->ext_offset;
        return &p->data_file;
    }
    if (!p->external && in_file_as_raw(p->m, t)) {
        *offset = t->file_offset;
        return &p->model_file;
    }
    return NULL;
}

int oi_patch_takes(const oi_patch *p, const oi_tensor *t)
{
    uint64_t offset;
    return payload_place((oi_patch *)p, t, &offset) != NULL;
}

oi_status oi_patch_write(oi_patch *p, const oi_tensor *t, uint64_t at, const void *bytes,
                         size_t len, oi_error *err)
{
    uint64_t offset;
    oi_save_file *f = payload_place(p, t, &offset);
    if (!f)
        return oi_fail(err, OI_ERR_INTERNAL, "tensor '%s': no place in the output", t->name);
    oi_error e;
    if (oi_save_write_at(f, offset + at, bytes, len, &e))
        return oi_fail(err, e.status, "writing tensor '%s': %s", t->name, e.msg);
    return OI_OK;
}

oi_status oi_patch_commit(oi_patch *p, oi_error *err)
{
    oi_status s = OI_OK;
    if (p->external) {
        /* the model itself is small: encode it, pointing at the new data file */
        s = oi_model_save_relocated(p->m, p->path, &p->opts, p->data_name, p->placed,
                                    &p->model_file, err);
        if (s == OI_OK)
            s = oi_save_flush(&p->data_file, err);
    }
    if (s == OI_OK)
        s = oi_model_check_unchanged(p->m, err);
    if (s == OI_OK)
        s = oi_save_check_still_input(p->m, p->path, &p->opts, err);
    if (s == OI_OK && p->external)
        s = oi_save_commit(&p->data_file, p->opts.overwrite, err);
    if (s == OI_OK && (s = oi_save_commit(&p->model_file, p->opts.overwrite, err)) && p->external)
        remove(p->data_path);
    p->committed = s == OI_OK;
    return s;
}

void oi_patch_free(oi_patch *p)
{
    if (!p)
        return;
    oi_save_abort(&p->model_file);
    oi_save_abort(&p->data_file);
    free(p->path);
    free(p->data_path);
    free(p->data_name);
    free(p->placed);
    free(p);
}
