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

/* Room for every oi_param (the header's enum counts up from 1). */
#define OI_CLI_PARAMS 32

typedef struct {
    oi_ctx *ctx;                /* built from the options below by oi_cli_make_ctx */
    uint64_t seed;
    /* The context's integer parameters the options gave (cli_params.c); the
     * others keep the library's defaults. */
    int64_t param[OI_CLI_PARAMS];
    unsigned char given[OI_CLI_PARAMS];
    const char *preset, *rules, *external_name;
    int layer_scale_given;
    double layer_scale;
    cli_list only, exclude, inputs;
    const char *output;
    int quiet, verbose, json, all;
    int plan_mode;              /* 1 plan, 2 audit */
    int strict;
    /* batch */
    int recursive, skip_existing, fail_fast;
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
/* ---- cli_params.c: the options that are context parameters ---- */
/* getopt codes of those options: OI_CLI_PARAM_OPTION + their row */
enum { OI_CLI_PARAM_OPTION = 1000 };
struct option;
/* Their getopt entries into out (room for all); how many. */
size_t oi_cli_param_longopts(struct option *out);
/* The code of the option with this short name, or -1. */
int oi_cli_param_code(int short_name);
/* Read option `code`'s argument into a; -1 to go on, else the exit code. */
int oi_cli_param_option(cli_args *a, int code, const char *arg);
void oi_cli_param_set(cli_args *a, oi_param p, int64_t value);
int oi_cli_param_given(const cli_args *a, oi_param p);
/* As given, else the library's default. */
int64_t oi_cli_param(const cli_args *a, oi_param p);
/* The given ones into ctx. */
oi_status oi_cli_params_apply(const cli_args *a, oi_ctx *ctx, oi_error *err);
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
