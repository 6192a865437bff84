/* Running a batch: a pool of model workers sharing the thread budget, with
 * memory admission, skip-existing, cancellation, progress
 * and the --report document. */
#include "batch.h"
#include "common/utf8.h"   /* the library's own source, built into the program too */

#include <errno.h>
#include <libgen.h>
#include <malloc.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


typedef struct {
    const oi_batch_list *list;
    const oi_batch_opts *o;
    oi_batch_result *results;
    int threads_per_model;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    size_t next, running;
    uint64_t reserved;
    oi_batch_progress progress;
    oi_status first_failure;
} batch_run;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cancelled(const batch_run *b)
{
    return b->o->cancel && atomic_load(b->o->cancel);
}

static oi_status mkdir_parents(const char *file, oi_error *err)
{
    char *whole = strdup(file);
    char *p = whole ? strdup(dirname(whole)) : NULL;   /* dirname may return a static "." */
    free(whole);
    if (!p)
        return oi_fail(err, OI_ERR_NOMEM, "out of memory");
    char *dir = p;
    for (char *s = dir + 1; ; s++) {
        char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
                oi_status st = oi_fail(err, OI_ERR_IO, "%s: cannot create folder: %s", dir,
                                       strerror(errno));
                free(p);
                return st;
            }
            *s = c;
        }
        if (c == '\0')
            break;
    }
    free(p);
    return OI_OK;
}

static int newer_than(const char *out, const char *in)
{
    struct stat a, b;
    if (stat(out, &a) < 0 || stat(in, &b) < 0)
        return 0;
    return a.st_mtim.tv_sec > b.st_mtim.tv_sec ||
           (a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec >= b.st_mtim.tv_nsec);
}

static void sha256_file(const char *path, char hex[65])
{
    hex[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    uint8_t buf[1 << 16], digest[SHA256_DIGEST_SIZE];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(&ctx, n, buf);
    fclose(f);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

static void run_item(batch_run *b, size_t i)
{
    const oi_batch_item *it = &b->list->items[i];
    oi_batch_result *r = &b->results[i];
    const oi_batch_opts *o = b->o;
    oi_error err;
    oi_error_clear(&err);
    double t0 = now();
    if (o->skip_existing && !o->in_place && newer_than(it->output, it->input)) {
        r->state = OI_ITEM_SKIPPED;
        return;
    }
    oi_ctx *ctx = oi_ctx_clone(o->model);
    oi_status s = ctx ? OI_OK : oi_fail(&err, OI_ERR_NOMEM, "out of memory");
    if (s == OI_OK)
        s = oi_ctx_set_param(ctx, OI_P_THREADS, b->threads_per_model, &err);
    struct stat in;   /* no folder is made for an input that is not there */
    if (s == OI_OK && stat(it->input, &in) < 0)
        s = oi_fail(&err, OI_ERR_IO, "%s: cannot open: %s", it->input, strerror(errno));
    if (s == OI_OK && !o->in_place)
        s = mkdir_parents(it->output, &err);
    r->summary = (oi_summary)OI_SUMMARY_INIT;
    if (s == OI_OK)
        s = oi_reinit_file(ctx, it->input, it->output, &r->summary, &err);
    oi_ctx_free(ctx);
    if (s != OI_OK) {
        r->state = cancelled(b) ? OI_ITEM_INTERRUPTED : OI_ITEM_FAILED;
        snprintf(r->error, sizeof r->error, "%s", err.msg);
    } else {
        struct stat st;
        r->state = OI_ITEM_DONE;
        r->output_bytes = stat(it->output, &st) == 0 ? (uint64_t)st.st_size : 0;
        if (o->want_sha256)
            sha256_file(it->output, r->sha256);
    }
    r->seconds = now() - t0;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OI_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define OI_ASAN 1
#endif

/* Give a finished model's memory back to the system: a budget counts what is held.
 * (Under ASan malloc is ASan's: glibc's trim would walk arenas that do not exist.) */
static void give_back_memory(void)
{
#ifndef OI_ASAN
    malloc_trim(0);
#endif
}

static void report_progress(batch_run *b, const char *current)
{
    b->progress.current = current;
    if (b->o->progress)
        b->o->progress(b->o->progress_ctx, &b->progress);
}

/* Wait until this model's input fits the memory budget (alone always fits). */
static void admit(batch_run *b, uint64_t bytes)
{
    while (b->o->max_memory && b->running > 0 && b->reserved + bytes > b->o->max_memory &&
           !cancelled(b))
        pthread_cond_wait(&b->freed, &b->lock);
}

static void *worker(void *arg)
{
    batch_run *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (cancelled(b) || (b->o->fail_fast && b->first_failure) || b->next >= b->list->n)
            break;
        size_t i = b->next++;
        uint64_t bytes = b->list->items[i].bytes;
        admit(b, bytes);
        if (cancelled(b)) {
            b->next = i;   /* not started: leave it pending */
            break;
        }
        b->running++;
        b->reserved += bytes;
        report_progress(b, b->list->items[i].input);
        pthread_mutex_unlock(&b->lock);
        run_item(b, i);
        give_back_memory();
        pthread_mutex_lock(&b->lock);
        b->running--;
        b->reserved -= bytes;
        oi_batch_result *r = &b->results[i];
        b->progress.done += r->state == OI_ITEM_DONE;
        b->progress.failed += r->state == OI_ITEM_FAILED;
        b->progress.skipped += r->state == OI_ITEM_SKIPPED;
        b->progress.bytes_done += bytes;
        if (r->state == OI_ITEM_FAILED && !b->first_failure)
            b->first_failure = OI_ERR_IO;
        pthread_cond_broadcast(&b->freed);
        report_progress(b, NULL);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

oi_status oi_batch_run(const oi_batch_list *l, const oi_batch_opts *o, oi_batch_result *results)
{
    batch_run b = {.list = l, .o = o, .results = results};
    memset(results, 0, l->n * sizeof *results);
    int jobs = o->jobs > 0 ? o->jobs : 1;
    if ((size_t)jobs > l->n)
        jobs = l->n ? (int)l->n : 1;
    int budget = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    b.threads_per_model = budget / jobs > 0 ? budget / jobs : 1;
    b.progress.total = l->n;
    for (size_t i = 0; i < l->n; i++)
        b.progress.bytes_total += l->items[i].bytes;
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.freed, NULL);
    pthread_t tid[64];
    int started = 0;
    for (int i = 1; i < jobs && i < 64; i++)
        if (pthread_create(&tid[started], NULL, worker, &b) == 0)
            started++;
    worker(&b);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_cond_destroy(&b.freed);
    pthread_mutex_destroy(&b.lock);
    return b.first_failure;
}

/* Paths are bytes; JSON is UTF-8. */
static json_object *json_text(const char *s)
{
    char *clean = oi_utf8_clean(s);
    json_object *o = json_object_new_string(clean ? clean : "");
    free(clean);
    return o;
}

json_object *oi_batch_report(const oi_batch_list *l, const oi_batch_result *results,
                             double seconds)
{
    static const char *const state[] = {"not started", "ok", "failed", "skipped", "interrupted"};
    json_object *root = json_object_new_object(), *models = json_object_new_array();
    size_t count[5] = {0};
    uint64_t in = 0, out = 0;
    size_t rewritten = 0, left = 0;
    for (size_t i = 0; i < l->n; i++) {
        const oi_batch_result *r = &results[i];
        json_object *m = json_object_new_object();
        json_object_object_add(m, "input", json_text(l->items[i].input));
        json_object_object_add(m, "output", json_text(l->items[i].output));
        json_object_object_add(m, "status", json_text(state[r->state]));
        if (r->state == OI_ITEM_FAILED)
            json_object_object_add(m, "error", json_text(r->error));
        if (r->state == OI_ITEM_DONE) {
            json_object_object_add(m, "rewritten", json_object_new_int64((int64_t)r->summary.rewritten));
            json_object_object_add(m, "left_alone", json_object_new_int64((int64_t)r->summary.left_alone));
            json_object_object_add(m, "learned", json_object_new_int64((int64_t)r->summary.learned));
            if (r->summary.warning)
                json_object_object_add(m, "warning", json_text(r->summary.warning));
            json_object_object_add(m, "output_bytes", json_object_new_int64((int64_t)r->output_bytes));
            if (r->sha256[0])
                json_object_object_add(m, "sha256", json_text(r->sha256));
            rewritten += r->summary.rewritten;
            left += r->summary.left_alone;
            out += r->output_bytes;
        }
        json_object_object_add(m, "seconds", json_object_new_double(r->seconds));
        json_object_array_add(models, m);
        count[r->state]++;
        in += l->items[i].bytes;
    }
    json_object *t = json_object_new_object();
    json_object_object_add(t, "models", json_object_new_int64((int64_t)l->n));
    json_object_object_add(t, "ok", json_object_new_int64((int64_t)count[OI_ITEM_DONE]));
    json_object_object_add(t, "failed", json_object_new_int64((int64_t)count[OI_ITEM_FAILED]));
    json_object_object_add(t, "skipped", json_object_new_int64((int64_t)count[OI_ITEM_SKIPPED]));
    json_object_object_add(t, "interrupted", json_object_new_int64((int64_t)count[OI_ITEM_INTERRUPTED]));
    json_object_object_add(t, "not_started", json_object_new_int64((int64_t)count[OI_ITEM_PENDING]));
    json_object_object_add(t, "tensors_rewritten", json_object_new_int64((int64_t)rewritten));
    json_object_object_add(t, "tensors_left_alone", json_object_new_int64((int64_t)left));
    json_object_object_add(t, "bytes_in", json_object_new_int64((int64_t)in));
    json_object_object_add(t, "bytes_out", json_object_new_int64((int64_t)out));
    json_object_object_add(t, "seconds", json_object_new_double(seconds));
    json_object_object_add(root, "models", models);
    json_object_object_add(root, "totals", t);
    return root;
}
