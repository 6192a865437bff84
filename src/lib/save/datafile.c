/* The side data file of a full encode: its name, whether it may be written,
 * and a fresh name when the model being replaced reads the old one, so the
 * pair (model, data) commits safely: the new data lands under its own name,
 * the model is renamed last (the switch), the old data is removed after.  A
 * crash in between leaves the old model reading its old data, intact. */
#include "save/save.h"

#include "model/model_internal.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

oi_status oi_data_file_path(const char *out, const oi_save_opts *o, char **path, char **name,
                            oi_error *err)
{
    char *dcopy = strdup(out), *bcopy = strdup(out);
    if (!dcopy || !bcopy) {
        free(dcopy);
        free(bcopy);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", out);
    }
    const char *base = basename(bcopy);
    size_t n = strlen(out) + (o->external_name ? strlen(o->external_name) : 0) + 16;
    *name = malloc(n);
    *path = malloc(n + strlen(dcopy));
    if (*name && *path) {
        if (o->external_name)
            snprintf(*name, n, "%s", o->external_name);
        else
            snprintf(*name, n, "%s.data", base);
        snprintf(*path, n + strlen(dcopy), "%s/%s", dirname(dcopy), *name);
    }
    free(dcopy);
    free(bcopy);
    if (!*name || !*path)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", out);
    if (strchr(*name, '/') || !**name || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
        return oi_fail(err, OI_ERR_USAGE, "%s: external data name '%s' must be a plain file "
                       "name (it is stored next to the model)", out, *name);
    return OI_OK;
}

oi_status oi_save_check_inputs(const oi_model *m, const char *path, int model_output,
                               const oi_save_opts *o, oi_error *err)
{
    /* the input model: only the model output, and only --in-place */
    if (oi_save_check_target(path, oi_model_label(m), 1, model_output && o->allow_same_file, err))
        return model_output ? err->status
                            : oi_fail(err, OI_ERR_UNSAFE, "%s: the new data file would be the "
                                      "input model itself (refused)", path);
    /* a data file the model reads: only the data output, and only --in-place */
    for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
        const char *ext = ((oi_model *)m)->tensors[i].ext_path;
        if (ext && oi_save_check_target(path, ext, 1, !model_output && o->allow_same_file, err))
            return oi_fail(err, OI_ERR_UNSAFE, "%s: is the input's external data file '%s' "
                           "(refused, even with -f: the input would lose its weights)", path, ext);
    }
    return OI_OK;
}

oi_status oi_save_check_still_input(const oi_model *m, const char *path,
                                    const oi_save_opts *o, oi_error *err)
{
    if (!o->allow_same_file || strcmp(path, oi_model_label(m)) != 0 ||
        oi_model_is_file(m, path) != 0)
        return OI_OK;
    return oi_fail(err, OI_ERR_UNSAFE, "%s: replaced or removed by someone else during the run; "
                   "left as it is, nothing written", path);
}

oi_status oi_save_check_data_target(const oi_model *m, const char *path, const oi_save_opts *o,
                                    oi_error *err)
{
    if (oi_save_check_inputs(m, path, 0, o, err))
        return err->status;
    struct stat st;
    if (o->allow_same_file && lstat(path, &st) == 0) {
        /* in place, the data output may replace only a data file this model reads */
        int own = 0;
        for (size_t i = 0; i < oi_model_tensor_count(m) && !own; i++) {
            const char *ext = ((oi_model *)m)->tensors[i].ext_path;
            own = ext && oi_save_check_target(path, ext, 1, 0, NULL) == OI_ERR_UNSAFE;
        }
        if (!own)
            return oi_fail(err, OI_ERR_UNSAFE, "%s: exists and this model does not read it "
                           "(another model's data, or left by an interrupted run: remove it "
                           "if so); refused in place", path);
    }
    return oi_save_check_target(path, NULL, o->overwrite, 0, err);
}

static int same_file(const struct stat *a, const char *path)
{
    struct stat b;
    return path && stat(path, &b) == 0 && a->st_dev == b.st_dev && a->st_ino == b.st_ino;
}

static int model_reads(const oi_model *m, const struct stat *data)
{
    for (size_t i = 0; i < oi_model_tensor_count(m); i++)
        if (same_file(data, ((oi_model *)m)->tensors[i].ext_path))
            return 1;
    return 0;
}

/* Does the model now at `model_path` (the input, in place; or the file -f
 * replaces) read the data file at data_path? */
static int replaced_model_reads(const oi_model *m, const char *model_path, const char *data_path)
{
    struct stat d, mp;
    if (stat(data_path, &d) < 0 || stat(model_path, &mp) < 0)
        return 0;
    if (same_file(&mp, oi_model_label(m)))   /* in place: the input itself */
        return model_reads(m, &d);
    oi_model *old = NULL;
    if (oi_model_load(model_path, &old, NULL) != OI_OK)
        return 0;
    int yes = model_reads(old, &d);
    oi_model_free(old);
    return yes;
}

/* NAME <-> NAME.1: successive writes alternate between two names. */
static char *alternate(const char *s)
{
    size_t n = strlen(s);
    char *a = malloc(n + 3);
    if (a && n > 2 && strcmp(s + n - 2, ".1") == 0)
        snprintf(a, n + 3, "%.*s", (int)(n - 2), s);
    else if (a)
        snprintf(a, n + 3, "%s.1", s);
    return a;
}

oi_status oi_data_file_choose(const oi_model *m, const char *model_path, const oi_save_opts *o,
                              char **path, char **name, char **retire, oi_error *err)
{
    *retire = NULL;
    if (oi_data_file_path(model_path, o, path, name, err))
        return err->status;
    char *ap = alternate(*path), *an = alternate(*name);
    if (!ap || !an) {
        free(ap);
        free(an);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", model_path);
    }
    int reads_name = replaced_model_reads(m, model_path, *path);
    int reads_alt = replaced_model_reads(m, model_path, ap);
    if (reads_name && reads_alt) {
        oi_fail(err, OI_ERR_UNSAFE, "%s: the model it replaces reads both '%s' and '%s'; no "
                "fresh name for the new data (refused)", model_path, *name, an);
        free(ap);
        free(an);
        return err ? err->status : OI_ERR_UNSAFE;
    }
    if (reads_name) {   /* write the alternate; the old data goes once the model is in */
        *retire = *path;
        free(*name);
        *path = ap;
        *name = an;
    } else {            /* the name is free of readers; an older alternate goes after */
        *retire = reads_alt ? ap : NULL;
        if (!reads_alt)
            free(ap);
        free(an);
    }
    return oi_save_check_data_target(m, *path, o, err);
}

uint64_t oi_data_file_place(uint64_t at, uint64_t n_bytes)
{
    if (n_bytes < 64 * OI_BIG_TENSOR_ALIGN || at % OI_BIG_TENSOR_ALIGN == 0)
        return at;
    return at + OI_BIG_TENSOR_ALIGN - at % OI_BIG_TENSOR_ALIGN;
}
