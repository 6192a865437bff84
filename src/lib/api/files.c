/* Files around a job: the backup an in-place run keeps, the memory a model
 * will need. */
#include "api/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "save/save.h"

static char *with_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", path, suffix);
    return s;
}

/* A hard link keeps the original bytes under the backup name (the new model is
 * renamed over the input later).  An external-data model's backup also keeps
 * its data file and is re-encoded to point at that copy. */
oi_status oi_job_backup(oi_model *m, const char *input, const char *suffix, char **made_model,
                        char **made_data, oi_error *err)
{
    int several;
    *made_model = *made_data = NULL;
    const char *data = oi_model_data_file(m, &several);
    char *bm = with_suffix(input, suffix), *bd = data ? with_suffix(data, suffix) : NULL;
    oi_status s = OI_OK;
    if (!bm || (data && !bd))
        s = oi_fail(err, OI_ERR_NOMEM, "out of memory");
    else if (several)
        s = oi_fail(err, OI_ERR_UNSUPPORTED, "%s: a backup of a model with several data files",
                    input);
    else if (bd && link(data, bd) < 0)
        s = oi_fail(err, OI_ERR_IO, "%s: cannot keep a backup: %s", bd, strerror(errno));
    else if (bd) {
        *made_data = bd;
        bd = NULL;
        /* the backup points at the copy by the same relative way ("sub/w.bin" + suffix) */
        const char *loc = oi_model_data_location(m);
        char *name = loc ? with_suffix(loc, suffix) : NULL;
        s = name ? oi_model_save_pointing(m, bm, name, 0, err)
                 : oi_fail(err, OI_ERR_NOMEM, "out of memory");
        free(name);
    } else if (link(input, bm) < 0) {
        s = oi_fail(err, OI_ERR_IO, "%s: cannot keep a backup: %s", bm, strerror(errno));
    }
    if (s == OI_OK) {
        *made_model = bm;
        bm = NULL;
    } else if (*made_data) {   /* half a backup is none */
        unlink(*made_data);
        free(*made_data);
        *made_data = NULL;
    }
    free(bm);
    free(bd);
    return s;
}

oi_status oi_memory_estimate(const char *input, uint64_t *bytes, oi_error *err)
{
    if (!input || !bytes)
        return oi_fail(err, OI_ERR_USAGE, "oi_memory_estimate: input and bytes are required");
    return oi_model_memory_estimate(input, bytes, err);
}
