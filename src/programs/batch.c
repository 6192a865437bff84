#include "batch.h"

#include <errno.h>
#include <fnmatch.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* ---- the list ---- */

/* Memory the model will hold: its decoded size (oi_memory_estimate: bytes plus
 * a cost per message) and the usual side data file. */
static uint64_t input_bytes(const char *path)
{
    struct stat st;
    uint64_t n = 0;
    if (oi_memory_estimate(path, &n, NULL) != OI_OK)
        n = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    size_t len = strlen(path);
    char *data = malloc(len + 6);
    if (data) {
        snprintf(data, len + 6, "%s.data", path);   /* the usual side file travels too */
        if (stat(data, &st) == 0)
            n += (uint64_t)st.st_size;
        free(data);
    }
    return n;
}

static int has_dotdot(const char *p)
{
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return 1;
        s += n;
        while (*s == '/')
            s++;
    }
    return 0;
}

oi_status oi_batch_add_file(oi_batch_list *l, const char *input, const char *out_dir,
                            int in_place, oi_error *err)
{
    size_t len = strlen(input);
    if (len == 0 || input[len - 1] == '/')
        return oi_fail(err, OI_ERR_USAGE, "'%s': not a model file path%s", input,
                       len ? " (a folder: -r walks it)" : " (empty)");
    if (!in_place && has_dotdot(input))
        return oi_fail(err, OI_ERR_USAGE, "%s: a path with '..' cannot be mirrored under "
                       "--output-dir (give it from a folder above)", input);
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        oi_batch_item *p = realloc(l->items, cap * sizeof *p);
        if (!p)
            return oi_fail(err, OI_ERR_NOMEM, "out of memory");
        l->items = p;
        l->cap = cap;
    }
    const char *rel = input;
    while (*rel == '/' || (rel[0] == '.' && rel[1] == '/'))
        rel += *rel == '/' ? 1 : 2;
    oi_batch_item *it = &l->items[l->n];
    it->input = strdup(input);
    size_t n = strlen(rel) + (out_dir ? strlen(out_dir) : 0) + 2;
    it->output = in_place ? strdup(input) : malloc(n);
    if (!it->input || !it->output) {
        free(it->input);
        free(it->output);
        return oi_fail(err, OI_ERR_NOMEM, "out of memory");
    }
    if (!in_place)
        snprintf(it->output, n, "%s/%s", out_dir, rel);
    it->bytes = input_bytes(input);
    l->n++;
    return OI_OK;
}

oi_status oi_batch_add_pair(oi_batch_list *l, const char *input, const char *output,
                            oi_error *err)
{
    if (oi_batch_add_file(l, input, "", 1, err))
        return err->status;
    char *o = strdup(output);
    if (!o)
        return oi_fail(err, OI_ERR_NOMEM, "out of memory");
    free(l->items[l->n - 1].output);
    l->items[l->n - 1].output = o;
    return OI_OK;
}

/* nftw has no context argument: the collector of the walk in progress on
 * this thread (set and cleared around the synchronous nftw call). */
typedef struct {
    oi_batch_list *list;
    const char *out_dir;
    int in_place;
    oi_error *err;
    oi_status status;
    char *out_real;             /* the output folder, never walked as input (or NULL) */
} tree_walk;
static _Thread_local tree_walk *current_walk;

/* Models are *.onnx by their own name (hidden files aside, whatever the path
 * looks like: "-r ." and "-r ../x" work); a symlink to a model counts, except
 * in place, where replacing it would break the link; the output folder, if
 * inside the tree, is skipped so a second run does not take its own outputs. */
static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    tree_walk *w = current_walk;
    if (flag == FTW_D && w->out_real) {
        char *real = realpath(path, NULL);
        int skip = real && strcmp(real, w->out_real) == 0;
        free(real);
        if (skip)
            return FTW_SKIP_SUBTREE;
    }
    if ((flag != FTW_F && flag != FTW_SL) || fnmatch("*.onnx", path + ftw->base, FNM_PERIOD) != 0)
        return FTW_CONTINUE;
    if (flag == FTW_SL) {
        struct stat target;
        if (stat(path, &target) < 0 || !S_ISREG(target.st_mode))
            return FTW_CONTINUE;
        if (w->in_place) {
            fprintf(stderr, "onnxinit: %s: a symbolic link, skipped with --in-place (it would "
                            "be replaced by a file)\n", path);
            return FTW_CONTINUE;
        }
    }
    if ((w->status = oi_batch_add_file(w->list, path, w->out_dir, w->in_place, w->err)))
        return FTW_STOP;
    return FTW_CONTINUE;
}

oi_status oi_batch_add_tree(oi_batch_list *l, const char *dir, const char *out_dir, int in_place,
                            oi_error *err)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return oi_fail(err, OI_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return oi_batch_add_file(l, dir, out_dir, in_place, err);
    tree_walk w = {l, out_dir, in_place, err, OI_OK, out_dir ? realpath(out_dir, NULL) : NULL};
    current_walk = &w;
    int rc = nftw(dir, visit, 32, FTW_PHYS | FTW_ACTIONRETVAL);
    current_walk = NULL;
    free(w.out_real);
    if (w.status)
        return w.status;
    if (rc < 0)
        return oi_fail(err, OI_ERR_IO, "%s: cannot walk: %s", dir, strerror(errno));
    return OI_OK;
}

oi_status oi_batch_add_list_file(oi_batch_list *l, const char *list, const char *out_dir,
                                 int in_place, oi_error *err)
{
    FILE *f = strcmp(list, "-") == 0 ? stdin : fopen(list, "r");
    if (!f)
        return oi_fail(err, OI_ERR_USAGE, "%s: cannot open list: %s", list, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    oi_status s = OI_OK;
    for (size_t at = 1; s == OI_OK && (n = getline(&line, &cap, f)) >= 0; at++) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (strlen(line) != (size_t)n)   /* "m.onnx\0../x" must not quietly run m.onnx */
            s = oi_fail(err, OI_ERR_USAGE, "%s: line %zu holds a NUL byte (not a path)", list, at);
        else if (n > 0)
            s = oi_batch_add_file(l, line, out_dir, in_place, err);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return s;
}

static int by_input(const void *a, const void *b)
{
    return strcmp(((const oi_batch_item *)a)->input, ((const oi_batch_item *)b)->input);
}

/* Shards by a hash of the path: stable whatever else is in the list. */
static unsigned shard_of(const char *path, unsigned n)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = path; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (unsigned)(h % n);
}

void oi_batch_finish_list(oi_batch_list *l, unsigned shard_k, unsigned shard_n)
{
    if (l->n > 1)
        qsort(l->items, l->n, sizeof *l->items, by_input);
    size_t keep = 0;
    for (size_t i = 0; i < l->n; i++) {
        oi_batch_item *it = &l->items[i];
        int dup = keep > 0 && strcmp(l->items[keep - 1].input, it->input) == 0;
        int other = shard_n > 0 && shard_of(it->input, shard_n) != shard_k - 1;
        if (dup || other) {
            free(it->input);
            free(it->output);
        } else {
            l->items[keep++] = *it;
        }
    }
    l->n = keep;
}

void oi_batch_list_free(oi_batch_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].input);
        free(l->items[i].output);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}
