/* onnxinit — give ONNX models the right starting weights.
 *
 * This header is the whole public contract of libonnxinit.  Three tiers, as
 * zstd's: file to file (what the onnxinit program does), in memory (model
 * bytes in, plan records or JSON out, the new model through a caller's sink
 * or into a buffer), and one tensor at a time (fill a buffer the application
 * owns with the same bytes the file path would write).
 *
 * Every fallible call returns an oi_status and, given an oi_error (err may be
 * NULL everywhere), leaves one line there naming the file and the tensor.
 * Options live in an opaque context set through functions, so the ABI can
 * grow.  A context may be used by several threads at once as long as nobody
 * changes it meanwhile.  Nothing here prints, exits or changes global state. */
#ifndef ONNXINIT_H
#define ONNXINIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ONNXINIT_BUILDING) && defined(__GNUC__)
#define OI_API __attribute__((visibility("default")))
#else
#define OI_API
#endif

#define ONNXINIT_VERSION_MAJOR 0
#define ONNXINIT_VERSION_MINOR 3
#define ONNXINIT_VERSION_PATCH 0
#define ONNXINIT_VERSION_NUMBER \
    (ONNXINIT_VERSION_MAJOR * 10000 + ONNXINIT_VERSION_MINOR * 100 + ONNXINIT_VERSION_PATCH)
#define ONNXINIT_VERSION "0.3.0"

/* The library actually loaded (may differ from the header compiled against). */
OI_API unsigned oi_version_number(void);
OI_API const char *oi_version_string(void);

/* ---- status ---------------------------------------------------------- */

typedef enum oi_status {
    OI_OK = 0,
    OI_ERR_IO,          /* a read, write, rename or fsync failed */
    OI_ERR_FORMAT,      /* the model is malformed or lies about its sizes */
    OI_ERR_UNSAFE,      /* refused to protect a file: overwrite, escape, same file */
    OI_ERR_NOMEM,
    OI_ERR_USAGE,       /* a caller or option error */
    OI_ERR_UNSUPPORTED, /* well-formed, but not something onnxinit handles (or a library it
                         * needs for it, LAPACKE, is missing) */
    OI_ERR_CANCELLED,   /* the cancel callback asked to stop; nothing was written */
    OI_ERR_INTERNAL,    /* a library onnxinit calls failed where it must not (LAPACK's QR) */
} oi_status;

#define OI_ERROR_MSG_MAX 768

typedef struct oi_error {
    oi_status status;
    char msg[OI_ERROR_MSG_MAX];
} oi_error;

/* "io", "format", ... (stable, for scripts) and a sentence for people. */
OI_API const char *oi_status_name(oi_status status);
OI_API const char *oi_status_message(oi_status status);
OI_API void oi_error_clear(oi_error *err);
/* Free anything this library handed out (buffers, JSON strings). */
OI_API void oi_free(void *p);

/* ---- the context: every option ----------------------------------------- */

typedef struct oi_ctx oi_ctx;

typedef enum oi_param {
    OI_P_THREADS = 1,          /* fill workers; 0 (default): one per online CPU */
    OI_P_FORGET_BIAS,          /* LSTM forget-gate bias 1 (default 1; 0: zeros) */
    OI_P_MATERIALIZE,          /* give weights declared only as graph inputs data */
    OI_P_RESIDUAL_SCALE,       /* transformer preset: scale residual projections */
    OI_P_FULL_ENCODE,          /* always encode the whole model (no patch save) */
    OI_P_OVERWRITE,            /* file output may replace an existing file */
    OI_P_IN_PLACE,             /* file output may be the input itself */
    OI_P_EXTERNALIZE,          /* move tensors >= OI_P_EXTERNAL_THRESHOLD bytes to a side file */
    OI_P_EXTERNAL_THRESHOLD,   /* bytes (default 1024) */
    OI_P_STREAM,               /* random stream version: 2 (default), or 1 for 0.1's bytes */
    OI_P_SIGNAL,               /* signal-preserving gains: 0 auto (default: where the graph
                                  has no normalization), 1 on, 2 off */
    OI_P_NO_SYNC,              /* 1: a new output is renamed into place without fsync (as cp);
                                * after a power loss it may be empty or missing.  Replacing an
                                * existing file (overwrite, in place) is always fsynced. */
} oi_param;

OI_API oi_ctx *oi_ctx_new(void);                 /* NULL when out of memory */
OI_API oi_ctx *oi_ctx_clone(const oi_ctx *ctx);  /* an independent copy */
OI_API void oi_ctx_free(oi_ctx *ctx);

OI_API oi_status oi_ctx_set_seed(oi_ctx *ctx, uint64_t seed);
/* "default", "torch", "keras", "transformer" or "normfree". */
OI_API oi_status oi_ctx_set_preset(oi_ctx *ctx, const char *name, oi_error *err);
OI_API const char *oi_ctx_preset(const oi_ctx *ctx);
OI_API oi_status oi_ctx_set_param(oi_ctx *ctx, oi_param param, int64_t value, oi_error *err);
OI_API oi_status oi_ctx_get_param(const oi_ctx *ctx, oi_param param, int64_t *value);
/* What a parameter is: its name ("external_threshold": the binding's keyword,
 * the program's option with '-' for '_'), default and range (any pointer may
 * be NULL).  OI_ERR_USAGE for a number that names none, so the parameters can
 * be listed by counting up from 1. */
OI_API oi_status oi_param_describe(oi_param param, const char **name, int64_t *dflt, int64_t *min,
                                   int64_t *max);
/* Rules (README, "Rules"): read and checked now, so errors surface here. */
OI_API oi_status oi_ctx_set_rules_file(oi_ctx *ctx, const char *path, oi_error *err);
OI_API oi_status oi_ctx_set_rules_json(oi_ctx *ctx, const char *json, oi_error *err);
/* Globs over tensor names: re-initialize only these / never these. */
OI_API oi_status oi_ctx_add_only(oi_ctx *ctx, const char *glob, oi_error *err);
OI_API oi_status oi_ctx_add_exclude(oi_ctx *ctx, const char *glob, oi_error *err);
/* Side data file name for externalized tensors (NULL: "<output>.data"). */
OI_API oi_status oi_ctx_set_external_name(oi_ctx *ctx, const char *name, oi_error *err);
/* Folder an in-memory model's external data is read from (NULL: none allowed). */
OI_API oi_status oi_ctx_set_base_dir(oi_ctx *ctx, const char *dir, oi_error *err);
/* LayerScale's initial value (default 1e-6, ConvNeXt's); ReZero scalars get 0. */
OI_API oi_status oi_ctx_set_layer_scale(oi_ctx *ctx, double value, oi_error *err);
/* The name messages use for an in-memory model (default "(memory)"). */
OI_API oi_status oi_ctx_set_label(oi_ctx *ctx, const char *label, oi_error *err);
/* A run that replaces its input (OI_P_IN_PLACE, output = input) first keeps the
 * original as INPUT+suffix (and its one data file as DATA+suffix); removed again
 * if the run fails.  NULL: no backup.  Given with an output that is not the
 * input, the run stops with OI_ERR_USAGE. */
OI_API oi_status oi_ctx_set_backup_suffix(oi_ctx *ctx, const char *suffix, oi_error *err);
/* Polled during long work: non-zero stops it with OI_ERR_CANCELLED and
 * nothing is written.  fn must be safe to call from any thread. */
typedef int (*oi_cancel_fn)(void *opaque);
OI_API oi_status oi_ctx_set_cancel(oi_ctx *ctx, oi_cancel_fn fn, void *opaque);
/* Called as the fill goes, from its worker threads: values written so far of
 * the total.  fn must be quick and safe to call from any thread. */
typedef void (*oi_progress_fn)(void *opaque, uint64_t done, uint64_t total);
OI_API oi_status oi_ctx_set_progress(oi_ctx *ctx, oi_progress_fn fn, void *opaque);

/* ---- what a run did ------------------------------------------------------ */

/* Caller-allocated and versioned by its size: set `size` (OI_SUMMARY_INIT does)
 * and the library writes no byte past it; fields are only ever added at the end,
 * so a program built against an older header keeps working with a newer library.
 * (Any other change of a public layout bumps the soname: libonnxinit.so.1 since
 * 0.3, when this field came.)  A size smaller than 0.3's struct is refused. */
typedef struct oi_summary {
    size_t size;                  /* sizeof(oi_summary) as the caller was compiled */
    uint64_t tensors;             /* tensors found in the model */
    uint64_t rewritten;
    uint64_t left_alone;          /* tensors - rewritten */
    uint64_t elements;            /* values written */
    double seconds_load, seconds_work, seconds_save;
    char *by_scheme;              /* "he_normal 4, zeros 3" (malloc'd, or NULL) */
    char *left_why;               /* "INT64 tensor, not a float weight 12, ..." */
    uint64_t learned;             /* tensors the analysis found to be learned parameters */
    char *warning;                /* about the model as a whole (folded BatchNorm), or NULL */
} oi_summary;

#ifdef __cplusplus
#define OI_SUMMARY_INIT {sizeof(oi_summary)}
#else
#define OI_SUMMARY_INIT {.size = sizeof(oi_summary)}
#endif

/* Free the strings of a summary and zero it (its size stays). */
OI_API void oi_summary_clear(oi_summary *summary);

/* ---- file to file ---------------------------------------------------------- */

/* Load `input`, re-initialize it, save it atomically as `output`.  summary
 * (may be NULL) is filled on success and zeroed on failure, as by every call
 * that takes one. */
OI_API oi_status oi_reinit_file(const oi_ctx *ctx, const char *input, const char *output,
                                oi_summary *summary, oi_error *err);

typedef enum oi_format {
    OI_FORMAT_TABLE = 0,       /* learned tensors, then kept constants counted by reason */
    OI_FORMAT_JSON = 1,
    OI_FORMAT_TABLE_ALL = 2,   /* the table with every kept constant listed */
} oi_format;

/* What would be done per tensor, written to out.  Writes no model. */
OI_API oi_status oi_plan_file(const oi_ctx *ctx, const char *input, oi_format format, FILE *out,
                              oi_error *err);
/* The current weights against the default policy; *flagged counts findings. */
OI_API oi_status oi_audit_file(const oi_ctx *ctx, const char *input, oi_format format, FILE *out,
                               int *flagged, oi_error *err);

/* About how much memory re-initializing `input` holds at its peak: the file's
 * bytes plus 256 per protobuf message in it (from one read-only walk, no
 * decoding; a file of tiny messages costs ~100x its size).  External data
 * files are not counted. */
OI_API oi_status oi_memory_estimate(const char *input, uint64_t *bytes, oi_error *err);


/* ---- in memory --------------------------------------------------------------- */

/* Where an in-memory model goes, as protobuf-c's ProtobufCBuffer: append is
 * called with consecutive pieces; non-zero stops the run (OI_ERR_IO). */
typedef struct oi_sink oi_sink;
struct oi_sink {
    int (*append)(oi_sink *self, const void *data, size_t len);
};

/* Re-initialize the model in `model` (len bytes) and stream the result to sink.
 * External tensors are read below the context's base folder and embedded. */
OI_API oi_status oi_reinit_buffer(const oi_ctx *ctx, const void *model, size_t len,
                                  oi_sink *sink, oi_summary *summary, oi_error *err);
/* The same into one malloc'd buffer (*out, oi_free). */
OI_API oi_status oi_reinit_to_memory(const oi_ctx *ctx, const void *model, size_t len,
                                     void **out, size_t *out_len, oi_summary *summary,
                                     oi_error *err);

/* The plan as the JSON document `onnxinit plan --json` prints (*json: oi_free). */
OI_API oi_status oi_plan_json(const oi_ctx *ctx, const void *model, size_t len, char **json,
                              oi_error *err);

#define OI_MAX_RANK 8

/* One tensor's decision.  Strings point into the list and live as long as it.
 * Fields are only ever added at the end. */
typedef struct oi_plan_record {
    const char *name;
    const char *scope;            /* "" at top level, else the subgraph path */
    const char *role;             /* "conv_weight", "norm_scale", ... or "none" */
    const char *scheme;           /* "he_normal", ... or "none" (left alone) */
    const char *reason;           /* why left alone, else "" */
    const char *activation;       /* the activation after the layer, or "" */
    int32_t dtype;                /* ONNX TensorProto.DataType code */
    int rank;                     /* dims used (<= OI_MAX_RANK; -1 when larger) */
    int64_t shape[OI_MAX_RANK];
    uint64_t fan_in, fan_out;
    double gain;
    /* The library's own entry for this record, which oi_fill_record reads (valid
     * while its list lives, also in a copy of the record); do not touch. */
    const void *internal;
    double reserved[6];
} oi_plan_record;

typedef struct oi_plan_list oi_plan_list;

OI_API oi_status oi_plan_records(const oi_ctx *ctx, const void *model, size_t len,
                                 oi_plan_list **out, oi_error *err);
OI_API size_t oi_plan_list_count(const oi_plan_list *list);
OI_API const oi_plan_record *oi_plan_list_get(const oi_plan_list *list, size_t index);
OI_API const oi_plan_record *oi_plan_list_find(const oi_plan_list *list, const char *scope,
                                               const char *name);
OI_API void oi_plan_list_free(oi_plan_list *list);

/* ---- one tensor --------------------------------------------------------------- */

/* Fill dst (dst_len bytes: the record's element count times its dtype's size)
 * with the values the file path writes for this record under ctx's seed:
 * same bytes.  Records with scheme "none" are refused (OI_ERR_USAGE). */
OI_API oi_status oi_fill_record(const oi_ctx *ctx, const oi_plan_record *record, void *dst,
                                size_t dst_len, oi_error *err);

#ifdef __cplusplus
}
#endif

#endif
