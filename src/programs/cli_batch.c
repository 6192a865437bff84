/* The program's batch mode: inputs from arguments, folders and lists; a
 * progress line on a terminal; per-model lines with -v; --report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "cli.h"
#include "cli_internal.h"

int oi_cli_is_batch(const cli_args *a)
{
    return a->recursive || a->output_dir || oi_cli_param(a, OI_P_IN_PLACE) || a->files_from ||
           a->inputs.n > 1 ||
           (a->report && !a->plan_mode);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    double start, last;
} progress_state;

/* "[ 37/200] 412 MB/1.6 GB  88 MB/s  ETA 0:14  models/x.onnx" on stderr. */
static void show_progress(void *ctx, const oi_batch_progress *p)
{
    progress_state *s = ctx;
    double t = now();
    size_t finished = p->done + p->failed + p->skipped;
    if (p->current && t - s->last < 0.1 && finished < p->total)
        return;
    s->last = t;
    double rate = (double)p->bytes_done / (t - s->start + 1e-9);
    double eta = rate > 0 ? (double)(p->bytes_total - p->bytes_done) / rate : 0;
    fprintf(stderr, "\r\033[K[%*zu/%zu] %.0f/%.0f MB  %.0f MB/s  ETA %d:%02d",
            (int)snprintf(NULL, 0, "%zu", p->total), finished, p->total,
            (double)p->bytes_done / 1e6, (double)p->bytes_total / 1e6, rate / 1e6,
            (int)eta / 60, (int)eta % 60);
    if (p->failed)
        fprintf(stderr, "  %zu failed", p->failed);
    if (p->current)
        fprintf(stderr, "  %s", p->current);
    fflush(stderr);
}

static int collect(cli_args *a, oi_batch_list *l, oi_error *err)
{
    const char *out = a->output_dir;
    if (!oi_cli_is_batch(a) || (a->report && !a->output_dir && !oi_cli_param(a, OI_P_IN_PLACE) && a->output)) {
        if (oi_batch_add_pair(l, a->inputs.items[0], a->output, err))
            return -1;
        return 0;
    }
    for (size_t i = 0; i < a->inputs.n; i++) {
        const char *p = a->inputs.items[i];
        oi_status s = a->recursive ? oi_batch_add_tree(l, p, out, oi_cli_param(a, OI_P_IN_PLACE), err)
                                   : oi_batch_add_file(l, p, out, oi_cli_param(a, OI_P_IN_PLACE), err);
        if (s)
            return -1;
    }
    if (a->files_from && oi_batch_add_list_file(l, a->files_from, out, oi_cli_param(a, OI_P_IN_PLACE), err))
        return -1;
    size_t found = l->n;
    oi_batch_finish_list(l, a->shard_k, a->shard_n);
    if (found == 0) {
        oi_fail(err, OI_ERR_USAGE, "no *.onnx model found in what was given");
        return -1;
    }
    return 0;
}

static int write_report(const cli_args *a, const oi_batch_list *l, const oi_batch_result *r,
                        double seconds)
{
    const char *path = a->report;
    int overwrite = (int)oi_cli_param(a, OI_P_OVERWRITE);
    int64_t stream = 0;
    oi_ctx_get_param(a->ctx, OI_P_STREAM, &stream);
    json_object *doc = oi_batch_report(l, r, seconds);
    /* what the bytes depend on, so a run can be reproduced */
    json_object_object_add(doc, "seed", json_object_new_uint64(a->seed));
    json_object_object_add(doc, "stream", json_object_new_int64(stream));
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
    oi_error err;
    size_t len = strlen(text);
    char *line = malloc(len + 2);
    oi_status s = line ? OI_OK : oi_fail(&err, OI_ERR_NOMEM, "out of memory");
    if (line) {
        memcpy(line, text, len);
        memcpy(line + len, "\n", 2);
        s = oi_cli_write_file_atomic(path, line, len + 1, overwrite, &err);
    }
    free(line);
    json_object_put(doc);
    if (s)
        fprintf(stderr, "onnxinit: report: %s\n", err.msg);
    return s ? -1 : 0;
}

/* A message with the control bytes of a hostile path shown as \xNN, never
 * sent to the terminal. */
static void print_message(FILE *out, const char *msg)
{
    fputs("onnxinit: ", out);
    for (const unsigned char *c = (const unsigned char *)msg; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            fprintf(out, "\\x%02x", *c);
        else
            fputc(*c, out);
    fprintf(out, "%s\n", oi_cli_hint(msg));
}

static void print_results(const cli_args *a, const oi_batch_list *l, const oi_batch_result *r)
{
    for (size_t i = 0; i < l->n; i++) {
        if (r[i].state == OI_ITEM_FAILED)
            print_message(stderr, r[i].error);
        else if (a->verbose && r[i].state == OI_ITEM_DONE)
            printf("%s -> %s: re-initialized %llu of %llu learned tensors (%s), %.2fs\n",
                   l->items[i].input, l->items[i].output,
                   (unsigned long long)r[i].summary.rewritten,
                   (unsigned long long)r[i].summary.learned,
                   r[i].summary.rewritten ? r[i].summary.by_scheme : "none", r[i].seconds);
        if (!a->quiet && r[i].state == OI_ITEM_DONE && r[i].summary.warning)
            fprintf(stderr, "onnxinit: %s: warning: %s\n", l->items[i].input,
                    r[i].summary.warning);
        else if (a->verbose && r[i].state == OI_ITEM_SKIPPED)
            printf("%s: skipped (output is newer)\n", l->items[i].input);
    }
}

int oi_cli_batch(cli_args *a, atomic_int *cancel)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* -v lines as each model ends, piped too */
    oi_batch_list l = {0};
    oi_error err;
    oi_error_clear(&err);
    struct stat rst;
    if (a->report && !oi_cli_param(a, OI_P_OVERWRITE) && lstat(a->report, &rst) == 0) {   /* before any work */
        fprintf(stderr, "onnxinit: %s: already exists (use -f to overwrite the report)\n",
                a->report);
        return OI_EXIT_USAGE;
    }
    if (collect(a, &l, &err)) {
        fprintf(stderr, "onnxinit: %s\n", err.msg);
        oi_batch_list_free(&l);
        return err.status == OI_ERR_USAGE ? OI_EXIT_USAGE : OI_EXIT_FAILED;
    }
    oi_batch_result *res = calloc(l.n ? l.n : 1, sizeof *res);
    progress_state ps = {now(), 0};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t threads = oi_cli_param(a, OI_P_THREADS);   /* -j: models at a time (0: one per core) */
    oi_batch_opts o = {
        .model = a->ctx,
        .threads = (int)(cores > 0 ? cores : 1),   /* the whole budget, shared */
        .in_place = (int)oi_cli_param(a, OI_P_IN_PLACE),
        .jobs = threads > 0 ? (int)threads : (int)(cores > 0 ? cores : 1),
        .max_memory = a->max_memory,
        .fail_fast = a->fail_fast,
        .skip_existing = a->skip_existing,
        .want_sha256 = a->report != NULL,
        .cancel = cancel,
        .progress = !a->quiet && isatty(2) ? show_progress : NULL,
        .progress_ctx = &ps,
    };
    oi_error perr;
    if (oi_cli_param(a, OI_P_IN_PLACE) && oi_ctx_set_param(a->ctx, OI_P_OVERWRITE, 1, &perr)) {
        fprintf(stderr, "onnxinit: %s\n", perr.msg);
        free(res);
        oi_batch_list_free(&l);
        return OI_EXIT_FAILED;
    }
    if (!res) {
        fprintf(stderr, "onnxinit: out of memory\n");
        oi_batch_list_free(&l);
        return OI_EXIT_FAILED;
    }
    double t0 = now();
    oi_batch_run(&l, &o, res);
    double seconds = now() - t0;
    if (o.progress)
        fprintf(stderr, "\r\033[K");
    print_results(a, &l, res);
    size_t count[5] = {0};
    for (size_t i = 0; i < l.n; i++)
        count[res[i].state]++;
    int interrupted = cancel && atomic_load(cancel);
    if (!a->quiet || interrupted)
        fprintf(stderr, "%s%zu model%s: %zu done, %zu failed, %zu skipped, %zu interrupted, "
                "%zu not started (%.1fs)\n", interrupted ? "interrupted: " : "", l.n,
                l.n == 1 ? "" : "s", count[OI_ITEM_DONE], count[OI_ITEM_FAILED],
                count[OI_ITEM_SKIPPED], count[OI_ITEM_INTERRUPTED], count[OI_ITEM_PENDING], seconds);
    int rc = count[OI_ITEM_FAILED] || count[OI_ITEM_PENDING] ? OI_EXIT_FAILED : OI_EXIT_OK;
    if (interrupted)
        rc = OI_EXIT_INTERRUPTED;
    if (a->report && write_report(a, &l, res, seconds) && !interrupted)
        rc = OI_EXIT_FAILED;
    for (size_t i = 0; i < l.n; i++)
        oi_summary_clear(&res[i].summary);
    free(res);
    oi_batch_list_free(&l);
    return rc;
}
