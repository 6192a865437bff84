/* onnxinit — give ONNX models the right starting weights.
 *
 * The public contract of libonnxinit: re-initialize one model file.  The
 * stages behind it (model, graph, analyze, plan, fill, save) are internal. */
#ifndef ONNXINIT_H
#define ONNXINIT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define ONNXINIT_VERSION "0.1.0"

typedef struct oi_options {
    uint64_t seed;
    int preset;                   /* 0 default, 1 torch, 2 keras, 3 transformer */
    int no_forget_bias;           /* LSTM forget-gate bias 0 instead of 1 */
    int threads;                  /* fill workers; 0: one per online CPU */
    const char *rules_path;       /* --rules FILE.json, or NULL */
    int materialize;              /* create weights declared only as graph inputs / shapes */
    int residual_scale;           /* transformer preset: scale residual projections */
    int full_encode;              /* always encode the whole model (no in-place patching) */
    atomic_int *cancel;           /* when set non-zero, stop: nothing is written (or NULL) */
    const char *const *only;      /* tensor-name globs to re-initialize (NULL-terminated) */
    const char *const *exclude;   /* tensor-name globs to leave alone (NULL-terminated) */
    int overwrite;                /* replace an existing output */
    int in_place;                 /* the output may be the input */
    const char *external_name;    /* side-file name for external tensors, NULL: "<out>.data" */
    int externalize;              /* move tensors >= external_threshold bytes out */
    uint64_t external_threshold;
} oi_options;

typedef struct oi_summary {
    size_t tensors;               /* tensors found in the model */
    size_t rewritten;
    size_t left_alone;
    uint64_t elements;            /* values written */
    char by_scheme[256];          /* "he_normal 4, zeros 3, ..." */
    char left_why[256];           /* "INT64 tensor, not a float weight 12, ..." (first few) */
    double seconds_load, seconds_work, seconds_save;
} oi_summary;

void oi_options_init(oi_options *opts);
/* "default" | "torch" | "keras" | "transformer" -> preset number, -1 if unknown. */
int oi_options_preset(const char *name);

/* Load `input`, re-initialize it under opts, save it as `output`. */
oi_status oi_reinit_file(const char *input, const char *output, const oi_options *opts,
                         oi_summary *summary, oi_error *err);

/* Analyze `input` and write what would be done per tensor to out: a table,
 * or (json) one JSON document.  Nothing is written to disk. */
oi_status oi_plan_file(const char *input, const oi_options *opts, int json, FILE *out,
                       oi_error *err);

/* Read `input`'s current weights and write the audit (audit.h) to out as
 * tables or JSON; *flagged counts tensors and paths flagged.  Writes no model. */
oi_status oi_audit_file(const char *input, const oi_options *opts, int json, FILE *out,
                        int *flagged, oi_error *err);

#endif
