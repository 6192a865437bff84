/* batch — many models: collect the inputs (files, folders, lists), map each to
 * its output, and run them on a pool of workers sharing one thread budget.
 * Each model is still one atomic job (job.c); a failed model leaves nothing
 * behind and the batch goes on (unless fail_fast).  Output bytes never depend
 * on the worker count or on the shard. */
#ifndef OI_BATCH_H
#define OI_BATCH_H

#include <json-c/json.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "onnxinit.h"

typedef struct oi_batch_item {
    char *input;
    char *output;              /* the input itself with in_place */
    uint64_t bytes;            /* input size, data file included */
} oi_batch_item;

typedef enum {
    OI_ITEM_PENDING, OI_ITEM_DONE, OI_ITEM_FAILED, OI_ITEM_SKIPPED, OI_ITEM_INTERRUPTED
} oi_item_state;

typedef struct oi_batch_result {
    oi_item_state state;
    char error[OI_ERROR_MSG_MAX];
    oi_summary summary;
    double seconds;
    uint64_t output_bytes;
    char sha256[65];           /* of the output model file (report only) */
} oi_batch_result;

typedef struct oi_batch_list {
    oi_batch_item *items;
    size_t n, cap;
} oi_batch_list;

typedef struct oi_batch_progress {
    size_t done, failed, skipped, total;
    uint64_t bytes_done, bytes_total;
    const char *current;       /* a model being worked on, or NULL */
} oi_batch_progress;

typedef struct oi_batch_opts {
    const oi_ctx *model;       /* per-model options (cloned per model) */
    int threads;               /* the whole thread budget, shared by the models at once */
    int in_place;
    int jobs;                  /* models at once (>= 1) */
    uint64_t max_memory;       /* bytes of input held at once, 0: no limit */
    int fail_fast;
    int skip_existing;         /* outputs newer than their input are left */
    int want_sha256;
    atomic_int *cancel;        /* set (e.g. by a signal): start nothing new, stop in flight */
    void (*progress)(void *ctx, const oi_batch_progress *p);
    void *progress_ctx;
} oi_batch_opts;

/* Add one input; output is `out_dir`/INPUT (leading "/" and "./" dropped) or,
 * with in_place, the input itself. */
oi_status oi_batch_add_file(oi_batch_list *l, const char *input, const char *out_dir,
                            int in_place, oi_error *err);
/* One input with an explicit output (-o). */
oi_status oi_batch_add_pair(oi_batch_list *l, const char *input, const char *output,
                            oi_error *err);
/* Every *.onnx below dir (sorted later by oi_batch_finish_list). */
oi_status oi_batch_add_tree(oi_batch_list *l, const char *dir, const char *out_dir, int in_place,
                            oi_error *err);
/* One path a line from a file ("-": stdin). */
oi_status oi_batch_add_list_file(oi_batch_list *l, const char *list, const char *out_dir,
                                 int in_place, oi_error *err);
/* Sort, drop duplicates, keep shard k of n (1-based; n 0: all). */
void oi_batch_finish_list(oi_batch_list *l, unsigned shard_k, unsigned shard_n);
void oi_batch_list_free(oi_batch_list *l);

/* Run every item; results[i] for items[i].  Returns OI_OK when every model
 * succeeded or was skipped, else the status of the first failure. */
oi_status oi_batch_run(const oi_batch_list *l, const oi_batch_opts *o, oi_batch_result *results);

/* The --report document: one record per model and the totals. */
json_object *oi_batch_report(const oi_batch_list *l, const oi_batch_result *results,
                             double seconds);

#endif
