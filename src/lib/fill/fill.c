/* Carrying out a plan: a list of independent jobs (chunks of elementwise
 * tensors, single orthogonal matrices, whole structured tensors) run by a
 * small pool of threads.  Every value is a function of its element index,
 * so the bytes never depend on how the jobs are shared out. */
#include "fill/fill_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK_BYTES (256u << 10)   /* output per elementwise job: in L2, few writes */

typedef struct {
    size_t tensor;
    uint64_t start, count;   /* elements */
    int64_t matrix;          /* ORTHOGONAL: which matrix; else -1 */
} fill_job;

typedef struct {
    oi_model *model;
    const oi_plan *plan;
    oi_seed seed;
    fill_job *jobs;
    size_t n_jobs;
    uint8_t **dst;           /* per tensor: where its raw bytes go in memory, or NULL:
                              * through target.write */
    oi_fill_target target;
    const oi_cancel *cancel;
    atomic_size_t next;
    _Atomic uint64_t done;   /* values written, for the progress report */
    uint64_t total;
    pthread_mutex_t lock;
    pthread_mutex_t file_lock;   /* one writer at a time: see flush_writes */
    pthread_mutex_t matrix_lock; /* one matrix at a time on a host's threaded BLAS */
    int one_matrix;
    oi_quant_cache *quant;       /* each quantized weight's scales, fit once */
    oi_status status;
    oi_error *err;
} fill_run;

static void record_error(fill_run *r, const oi_error *e)
{
    pthread_mutex_lock(&r->lock);
    if (r->status == OI_OK) {
        r->status = e->status;
        *r->err = *e;
    }
    pthread_mutex_unlock(&r->lock);
}

/* Finished bytes of tensor ti at byte `at` of its payload: to the caller's target. */
static oi_status put_bytes(fill_run *r, size_t ti, uint64_t at, const uint8_t *bytes, size_t len,
                           oi_error *e)
{
    return r->target.write(r->target.ctx, oi_model_tensor(r->model, ti), at, bytes, len, e);
}

/* A worker's buffers for one job, and the job's finished bytes while they
 * wait to be written (len > 0): workers take the output in turn, and one
 * that finds it busy fills its next job instead of waiting in the kernel on
 * the file's lock (where it spun: 12% of the CPU of a 1 GB run). */
typedef struct {
    float *scratch;
    uint8_t *bytes;
    size_t cap, cap_bytes;   /* scratch elements, bytes */
    size_t tensor;
    uint64_t at;
    const uint8_t *out;
    size_t len;
} out_slot;
#define SLOTS 3

/* Write a worker's waiting bytes if the output is free (or, with wait, once it is). */
static oi_status flush_writes(fill_run *r, out_slot *slot, int wait, oi_error *e)
{
    int waiting = 0;
    for (int i = 0; i < SLOTS; i++)
        waiting |= slot[i].len > 0;
    if (!waiting)
        return OI_OK;
    if (wait ? pthread_mutex_lock(&r->file_lock) : pthread_mutex_trylock(&r->file_lock))
        return OI_OK;
    oi_status s = OI_OK;
    for (int i = 0; i < SLOTS; i++)
        if (slot[i].len) {
            if (s == OI_OK)
                s = put_bytes(r, slot[i].tensor, slot[i].at, slot[i].out, slot[i].len, e);
            slot[i].len = 0;
        }
    pthread_mutex_unlock(&r->file_lock);
    return s;
}

/* Elementwise values bound for another dtype, or for memory, are made and
 * encoded a piece at a time: the floats stay in L1 on their way to the bytes
 * (a job's worth of them took a trip through L2 each way). */
#define PIECE 4096u

static int elementwise(oi_fill_kind k)
{
    return k == OI_FILL_CONSTANT || k == OI_FILL_UNIFORM || k == OI_FILL_NORMAL ||
           k == OI_FILL_TRUNC_NORMAL || k == OI_FILL_GATE_BIAS;
}

/* Folded tables, tied copies and weight norm's g are made whole from other tensors' values. */
static int from_other_tensors(oi_fill_kind k)
{
    return k == OI_FILL_DISTINCT || k == OI_FILL_COPY || k == OI_FILL_NORMS;
}

/* One job's values, encoded into `to` (the model's payload or the slot's bytes). */
static oi_status encode_job(fill_run *r, const fill_job *j, float *scratch, uint8_t *to,
                            oi_error *e)
{
    oi_tensor *t = oi_model_tensor(r->model, j->tensor);
    const oi_decision *d = oi_plan_get(r->plan, j->tensor);
    if (from_other_tensors(d->kind)) {
        oi_status s = oi_fill_whole_values(d, t, r->seed, scratch, r->model, r->plan, e);
        if (s == OI_OK)
            oi_fill_encode(t->dtype, scratch, (size_t)j->count, to);
        return s;
    }
    oi_rng rng = oi_fill_tensor_rng(t, r->seed);
    size_t piece = elementwise(d->kind) ? PIECE : (size_t)j->count;
    oi_status s = OI_OK;
    for (uint64_t k = 0; s == OI_OK && k < j->count; k += piece) {
        size_t n = j->count - k < piece ? (size_t)(j->count - k) : piece;
        s = oi_fill_job_values(d, t, rng, j->start + k, n, j->matrix, scratch, e);
        if (s == OI_OK)
            oi_fill_encode(t->dtype, scratch, n, to + k * t->elem_size);
    }
    return s;
}

/* Whether a job bound for the output file needs its values encoded into
 * bytes of their own: float32 values made directly are their own bytes. */
static int encoded_to_file(const fill_run *r, const fill_job *j)
{
    const oi_tensor *t = oi_model_tensor(r->model, j->tensor);
    return !r->dst[j->tensor] && (t->dtype != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                                  from_other_tensors(oi_plan_get(r->plan, j->tensor)->kind));
}

/* One job's bytes: into the model's payload, or left in the slot for the
 * output file (float32 values are their own bytes: made in place). */
static oi_status write_job(fill_run *r, const fill_job *j, out_slot *slot, oi_error *e)
{
    size_t ti = j->tensor;
    oi_tensor *t = oi_model_tensor(r->model, ti);
    const oi_decision *d = oi_plan_get(r->plan, ti);
    if (r->dst[ti])   /* in memory: nothing to write */
        return encode_job(r, j, slot->scratch, r->dst[ti] + j->start * t->elem_size, e);
    slot->tensor = ti;
    slot->at = j->start * t->elem_size;
    oi_status s;
    if (!encoded_to_file(r, j)) {
        s = oi_fill_job_values(d, t, oi_fill_tensor_rng(t, r->seed), j->start, j->count,
                               j->matrix, slot->scratch, e);
        slot->out = (const uint8_t *)slot->scratch;
    } else {
        s = encode_job(r, j, slot->scratch, slot->bytes, e);
        slot->out = slot->bytes;
    }
    if (s == OI_OK)   /* bytes wait in the slot only when they are whole */
        slot->len = (size_t)j->count * t->elem_size;
    return s;
}

/* A quantized tensor's bytes, made whole (in place when its payload is in memory). */
static oi_status write_quant(fill_run *r, size_t ti, out_slot *slot, oi_error *e)
{
    uint8_t *to = r->dst[ti] ? r->dst[ti] : slot->bytes;
    if (oi_fill_quant_bytes(r->model, r->plan, r->quant, ti, r->seed, to, e))
        return e->status;
    if (!r->dst[ti]) {
        slot->tensor = ti;
        slot->at = 0;
        slot->out = slot->bytes;
        slot->len = (size_t)oi_model_tensor(r->model, ti)->n_bytes;
    }
    return OI_OK;
}

/* A slot with nothing waiting, its buffers sized for n scratch floats and
 * n_bytes of output; NULL when out of memory. */
static out_slot *free_slot(fill_run *r, out_slot *slot, size_t n, size_t n_bytes, oi_error *e)
{
    int i = 0;
    while (i < SLOTS && slot[i].len)
        i++;
    if (i == SLOTS) {
        if (flush_writes(r, slot, 1, e))
            return NULL;
        i = 0;
    }
    if (n > slot[i].cap) {
        free(slot[i].scratch);
        slot[i].cap = n;
        if (!(slot[i].scratch = malloc(n * sizeof *slot[i].scratch)))
            slot[i].cap = 0;
    }
    if (n_bytes > slot[i].cap_bytes) {
        free(slot[i].bytes);
        slot[i].cap_bytes = n_bytes;
        if (!(slot[i].bytes = malloc(n_bytes)))
            slot[i].cap_bytes = 0;
    }
    if ((n && !slot[i].cap) || (n_bytes && !slot[i].cap_bytes)) {
        oi_fail(e, OI_ERR_NOMEM, "out of memory");   /* the caller names the model */
        return NULL;
    }
    return &slot[i];
}

static void *worker(void *arg)
{
    fill_run *r = arg;
    out_slot slots[SLOTS] = {{0}};
    oi_error e;
    for (size_t i; (i = atomic_fetch_add(&r->next, 1)) < r->n_jobs;) {
        const fill_job *j = &r->jobs[i];
        const oi_decision *d = oi_plan_get(r->plan, j->tensor);
        if (r->status != OI_OK)
            break;
        if (oi_cancelled(r->cancel)) {
            oi_fail(&e, OI_ERR_CANCELLED, "%s: interrupted", oi_model_label(r->model));
            record_error(r, &e);
            break;
        }
        /* a quantized tensor is made whole in its bytes; other jobs go through floats,
         * encoded up to float64 */
        int quant = oi_fill_is_quant(d->kind);
        size_t tb = r->dst[j->tensor] ? 0 : (size_t)oi_model_tensor(r->model, j->tensor)->n_bytes;
        size_t encoded = encoded_to_file(r, j) ? (size_t)j->count * 8 + 8 : 0;
        out_slot *slot = quant ? free_slot(r, slots, 0, tb, &e)
                               : free_slot(r, slots, (size_t)j->count, encoded, &e);
        int alone = r->one_matrix && j->matrix >= 0;
        if (alone)
            pthread_mutex_lock(&r->matrix_lock);
        oi_status made = !slot ? OI_ERR_NOMEM
                         : quant ? write_quant(r, j->tensor, slot, &e) : write_job(r, j, slot, &e);
        if (alone)
            pthread_mutex_unlock(&r->matrix_lock);
        if (made || flush_writes(r, slots, 0, &e)) {
            oi_fail_prefix(&e, "%s: ", oi_model_label(r->model));
            record_error(r, &e);
            break;
        }
        uint64_t done = atomic_fetch_add(&r->done, j->count) + j->count;
        if (r->cancel && r->cancel->progress)
            r->cancel->progress(r->cancel->progress_opaque, done, r->total);
    }
    if (r->status == OI_OK && flush_writes(r, slots, 1, &e)) {
        oi_fail_prefix(&e, "%s: ", oi_model_label(r->model));
        record_error(r, &e);
    }
    for (int i = 0; i < SLOTS; i++) {
        free(slots[i].scratch);
        free(slots[i].bytes);
    }
    return NULL;
}

static int push_job(fill_run *r, size_t *cap, fill_job job)
{
    if (r->n_jobs == *cap) {
        size_t c = *cap ? 2 * *cap : 256;
        fill_job *p = realloc(r->jobs, c * sizeof *p);
        if (!p)
            return -1;
        r->jobs = p;
        *cap = c;
    }
    r->jobs[r->n_jobs++] = job;
    return 0;
}

static int plan_jobs(fill_run *r, size_t ti, size_t *cap)
{
    const oi_decision *d = oi_plan_get(r->plan, ti);
    const oi_tensor *t = oi_model_tensor(r->model, ti);
    uint64_t n = t->n_elems;
    if (d->kind == OI_FILL_ORTHOGONAL) {
        uint64_t per = (uint64_t)(d->rows * d->cols);
        for (int64_t m = 0; m < d->matrices; m++)
            if (push_job(r, cap, (fill_job){ti, (uint64_t)m * per, per, m}))
                return -1;
    } else if (d->kind == OI_FILL_IDENTITY || d->kind == OI_FILL_SPARSE ||
               from_other_tensors(d->kind) || oi_fill_is_quant(d->kind)) {
        return push_job(r, cap, (fill_job){ti, 0, n, -1});
    } else {
        uint64_t chunk = CHUNK_BYTES / t->elem_size;
        for (uint64_t s = 0; s < n; s += chunk)
            if (push_job(r, cap, (fill_job){ti, s, n - s < chunk ? n - s : chunk, -1}))
                return -1;
    }
    return 0;
}

/* Orthogonal matrices are computed for milliseconds and then written; the
 * other jobs are written about as fast as they are made.  Interleaved, one
 * worker writes the quick jobs' bytes while another computes a matrix (in
 * tensor order a model's quick jobs came in runs that left a worker waiting
 * for the file, and the first matrix's LAPACK load stalled the other).  The
 * last quarter of the quick jobs follow the last matrix, so that the workers
 * finish together. */
static int interleave_jobs(fill_run *r, size_t heavy)
{
    size_t n = r->n_jobs;
    if (heavy == 0 || heavy == n)
        return 0;
    fill_job *out = malloc(n * sizeof *out);
    if (!out)
        return -1;
    size_t h = 0, l = 0, k = 0, spread = (n - heavy) - (n - heavy) / 4;
    for (size_t made = 1; made <= heavy; made++) {   /* each heavy job, then the light ones due */
        while (r->jobs[h].matrix < 0)
            h++;
        out[k++] = r->jobs[h++];
        for (size_t due = made * spread / heavy; k - made < due; l++)
            if (r->jobs[l].matrix < 0)
                out[k++] = r->jobs[l];
    }
    for (; l < n; l++)
        if (r->jobs[l].matrix < 0)
            out[k++] = r->jobs[l];
    free(r->jobs);
    r->jobs = out;
    return 0;
}

static int touches(const oi_plan *plan, oi_model *m, size_t i)
{
    const oi_tensor *t = oi_model_tensor(m, i);
    oi_fill_kind k = oi_plan_get(plan, i)->kind;
    if (oi_fill_is_quant(k))
        return oi_tensor_sized(t) && t->storage != OI_STORE_NONE;
    return k != OI_FILL_NONE && t->elem_size && oi_dtype_is_float(t->dtype);
}

static int draws_distinct(const oi_decision *d)
{
    return d->kind == OI_FILL_DISTINCT || (d->kind == OI_FILL_QUANT && d->draw == OI_FILL_DISTINCT);
}

/* Tensors whose stored values some fill reads (a folded table's pattern: its own,
 * through a tie, or a quantized one's codes, scales and zero points).  They are
 * never rewritten in place, so no fill sees them half done. */
static unsigned char *read_by_fills(const oi_plan *plan, size_t n)
{
    unsigned char *mark = calloc(n ? n : 1, 1);
    for (size_t i = 0; mark && i < n; i++) {
        const oi_decision *d = oi_plan_get(plan, i);
        const oi_decision *src = d->source >= 0 && (size_t)d->source < n
                                     ? oi_plan_get(plan, (size_t)d->source) : NULL;
        int copy = d->kind == OI_FILL_COPY || d->kind == OI_FILL_NORMS ||
                   (d->kind == OI_FILL_QUANT && d->draw == OI_FILL_COPY);
        if (copy && src && draws_distinct(src))
            mark[d->source] = 1;
        if (d->kind == OI_FILL_QUANT && d->draw == OI_FILL_DISTINCT) {
            mark[i] = 1;
            if (d->q->scale >= 0 && (size_t)d->q->scale < n)
                mark[d->q->scale] = 1;
            if (d->q->zero >= 0 && (size_t)d->q->zero < n)
                mark[d->q->zero] = 1;
        }
    }
    return mark;
}

/* Where tensor i's bytes go: the output file, its payload in memory, or a
 * buffer handed over at the end (aside: another fill reads its stored values). */
static int place(fill_run *r, size_t i, int aside)
{
    oi_tensor *t = oi_model_tensor(r->model, i);
    if (r->target.takes && r->target.takes(r->target.ctx, t))
        return 0;   /* written straight into the output file */
    r->dst[i] = aside ? NULL : oi_model_raw_payload(r->model, t);
    if (!r->dst[i])
        r->dst[i] = malloc(t->n_bytes ? t->n_bytes : 1);
    return r->dst[i] ? 0 : -1;
}

static oi_status prepare(fill_run *r, oi_fill_stats *st, oi_error *err)
{
    size_t n = oi_model_tensor_count(r->model), cap = 0;
    r->dst = calloc(n ? n : 1, sizeof *r->dst);
    unsigned char *aside = read_by_fills(r->plan, n);
    oi_status s = r->dst && aside
                      ? OI_OK : oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(r->model));
    for (size_t i = 0; s == OI_OK && i < n; i++) {
        const oi_tensor *t = oi_model_tensor(r->model, i);
        if (!touches(r->plan, r->model, i))
            continue;
        if (place(r, i, aside[i]) || plan_jobs(r, i, &cap))
            s = oi_fail(err, OI_ERR_NOMEM, "%s: out of memory for tensor '%s'",
                        oi_model_label(r->model), t->name);
        st->tensors++;
        st->elements += t->n_elems;
    }
    free(aside);
    return s;
}

/* Typed and external tensors were filled into scratch buffers: hand them over. */
static oi_status hand_over(fill_run *r, oi_error *err)
{
    oi_status s = OI_OK;
    for (size_t i = 0; i < oi_model_tensor_count(r->model); i++) {
        oi_tensor *t = oi_model_tensor(r->model, i);
        if (!r->dst[i] || r->dst[i] == oi_model_raw_payload(r->model, t))
            continue;
        if (s == OI_OK)
            s = oi_model_write(r->model, t, r->dst[i], err);
        free(r->dst[i]);
    }
    return s;
}

static void run_pool(fill_run *r, int threads)
{
    if (threads < 1)
        threads = 1;
    if ((size_t)threads > r->n_jobs)
        threads = r->n_jobs ? (int)r->n_jobs : 1;
    pthread_t tid[64];
    int started = 0;
    for (int i = 1; i < threads && i < 64; i++)
        if (pthread_create(&tid[started], NULL, worker, r) == 0)
            started++;
    worker(r);   /* the caller works too; with -j1 nothing else runs */
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
}

unsigned char *oi_fill_selection(oi_model *model, const oi_plan *plan)
{
    size_t n = oi_model_tensor_count(model);
    unsigned char *sel = calloc(n ? n : 1, 1);
    for (size_t i = 0; sel && i < n; i++)
        sel[i] = (unsigned char)touches(plan, model, i);
    return sel;
}

oi_status oi_fill_model(oi_model *model, const oi_plan *plan, oi_seed seed, int threads,
                        oi_fill_target target, const oi_cancel *cancel, oi_fill_stats *stats,
                        oi_error *err)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    oi_fill_stats st = {0};
    fill_run r = {.model = model, .plan = plan, .seed = seed, .target = target, .cancel = cancel,
                  .err = err, .status = OI_OK};
    atomic_init(&r.next, 0);
    atomic_init(&r.done, 0);
    pthread_mutex_init(&r.lock, NULL);
    pthread_mutex_init(&r.file_lock, NULL);
    pthread_mutex_init(&r.matrix_lock, NULL);
    oi_status s = prepare(&r, &st, err);
    size_t matrices = 0;
    for (size_t i = 0; s == OI_OK && i < r.n_jobs; i++)
        matrices += r.jobs[i].matrix >= 0;
    if (s == OI_OK && interleave_jobs(&r, matrices))
        s = oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    r.one_matrix = matrices && oi_fill_hosts_threaded_blas();
    if (s == OI_OK && !(r.quant = oi_quant_cache_new(oi_model_tensor_count(model))))
        s = oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    for (size_t i = 0; s == OI_OK && i < r.n_jobs; i++)
        r.total += r.jobs[i].count;
    if (s == OI_OK) {
        run_pool(&r, threads);
        s = r.status;
    }
    oi_status h = r.dst ? hand_over(&r, s == OI_OK ? err : NULL) : OI_OK;
    if (s == OI_OK)
        s = h;
    pthread_mutex_destroy(&r.lock);
    pthread_mutex_destroy(&r.file_lock);
    pthread_mutex_destroy(&r.matrix_lock);
    oi_quant_cache_free(r.quant);
    free(r.dst);
    free(r.jobs);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st.seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (stats)
        *stats = st;
    return s;
}
