/* Shared by cli.c and cli_batch.c; not a public contract. */
#ifndef OI_CLI_INTERNAL_H
#define OI_CLI_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "onnxinit.h"

typedef struct {
    const char **items;
    size_t n, cap;
} cli_list;

typedef struct {
    oi_ctx *ctx;                /* built from the options below by oi_cli_make_ctx */
    uint64_t seed;
    int stream;                 /* --stream (0: not given) */
    const char *preset, *rules, *external_name;
    int overwrite, materialize, residual_scale, full_encode, no_forget_bias, no_sync;
    int externalize, threshold_given, layer_scale_given;
    int signal;                 /* --signal: 0 auto, 1 on, 2 off */
    double layer_scale;
    uint64_t external_threshold;
    cli_list only, exclude, inputs;
    const char *output;
    int quiet, verbose, json, all;
    int plan_mode;              /* 1 plan, 2 audit */
    int strict;
    int jobs;                   /* -j as given (0: not given) */
    /* batch */
    int recursive, in_place, skip_existing, fail_fast;
    const char *output_dir, *files_from, *backup, *report;
    unsigned shard_k, shard_n;
    uint64_t max_memory;
} cli_args;

/* argv (a leading "plan"/"audit" word included) into a; -1 to go on, else the
 * exit code (its message printed).  Safe to call again: getopt restarts. */
int oi_cli_parse(int argc, char **argv, cli_args *a);
/* a->ctx from the options; 0, or an exit code after a message. */
int oi_cli_make_ctx(cli_args *a);
void oi_cli_args_free(cli_args *a);

/* Whether these arguments ask for batch mode (several inputs, -r, ...). */
int oi_cli_is_batch(const cli_args *a);
/* Run batch mode; returns the exit code.  cancel is set by SIGINT/SIGTERM. */
int oi_cli_batch(cli_args *a, atomic_int *cancel);
/* Exit code for an interrupted run (128 + SIGINT). */
enum { OI_EXIT_INTERRUPTED = 130 };
int oi_cli_usage_error(const char *fmt, const char *arg);
/* ---- cli_hints.c ---- */
/* The program's flag for what a library message says (" (use -f to overwrite)"), or "". */
const char *oi_cli_hint(const char *msg);
/* Edits (insert, delete, change, swap neighbours) between two short words, up to 3. */
int oi_cli_edits(const char *a, const char *b);
/* "onnxinit plna m.onnx": prints the usage error and returns 1 for a misspelled command. */
int oi_cli_misspelled_command(const char *word);
/* Progress of one long run on a terminal (an oi_progress_fn; opaque: oi_cli_progress). */
typedef struct {
    struct timespec start;
    _Atomic long long last_ms;
    _Atomic int shown;
} oi_cli_progress;
void oi_cli_show_progress(void *opaque, uint64_t done, uint64_t total);

#endif
