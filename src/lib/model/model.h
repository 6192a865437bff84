/* model — ONNX bytes <-> Onnx__ModelProto, and a catalogue of every tensor.
 *
 * Load maps the file, decodes it with protobuf-c and checks every tensor it
 * can reach (initializers, Constant nodes and tensor attributes, at any
 * subgraph depth, in model-local functions) against the bytes actually there:
 * dims, raw_data/typed-field sizes, external data confined to the model's
 * folder and inside its file.  Save writes atomically (temp file in the
 * destination folder, fsync, rename) and streams the encoding to disk. */
#ifndef OI_MODEL_H
#define OI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/dtype.h"
#include "common/status.h"
#include "onnx.pb-c.h"

typedef struct oi_model oi_model;

typedef enum {
    OI_STORE_NONE,      /* declared only: a shape, no data */
    OI_STORE_RAW,       /* raw_data, little-endian */
    OI_STORE_TYPED,     /* float_data / int32_data / ... */
    OI_STORE_EXTERNAL,  /* data_location = EXTERNAL */
} oi_storage;

typedef struct oi_tensor {
    Onnx__TensorProto *proto;
    const char *name;        /* the tensor's name; a Constant node's output */
    const char *scope;       /* "" at top level, else e.g. "If 'cond'/then_branch" */
    const char *kind;        /* "initializer", "Constant", "attribute" */
    Onnx__NodeProto *node;   /* the node holding it (Constant/attribute), else NULL */
    int32_t dtype;           /* ONNX__TENSOR_PROTO__DATA_TYPE__* */
    size_t elem_size;        /* bytes per element when raw; 0 if unknown/string */
    uint64_t n_elems;
    uint64_t n_bytes;        /* its payload's bytes (4-bit types: two elements a byte) */
    oi_storage storage;
    char *ext_path;          /* EXTERNAL: resolved path of the data file */
    uint64_t ext_offset;
    uint64_t file_offset;    /* where its raw_data / packed float payload lies in the input */
    uint64_t file_len;
    int file_field;          /* 9 raw_data, 4 float_data, 10 double_data; 0: unknown */
    int borrowed;            /* raw_data points into the input's mapping (read-only) */
} oi_tensor;


/* Is the payload's size known from dims and dtype (elem_size, or a packed 4-bit type)? */
static inline int oi_tensor_sized(const oi_tensor *t)
{
    return t->elem_size != 0 || oi_dtype_bits(t->dtype) == 4;
}

oi_status oi_model_load(const char *path, oi_model **out, oi_error *err);
/* Decode a model from memory; external data (if any) resolves against dir.
 * label names the model in messages. */
oi_status oi_model_load_buffer(const void *data, size_t len, const char *dir,
                               const char *label, oi_model **out, oi_error *err);
void oi_model_free(oi_model *model);
/* OI_OK if the input file still has the size and mtime it had at load: what
 * was read from its mapping is what the file holds.  Saves call it before
 * they commit, so a file truncated or rewritten mid-run yields no output.
 * (A program reading a mapping that shrinks gets SIGBUS; onnxinit's maps
 * zeros there and lets this check fail the job.) */
oi_status oi_model_check_unchanged(const oi_model *model, oi_error *err);
/* 1 if path names the very file the model was loaded from (same device and
 * inode as the descriptor it holds), 0 if another file or none, -1 if the
 * model was not loaded from a file. */
int oi_model_is_file(const oi_model *model, const char *path);

/* Decoding costs memory per message, not per byte: 2 million empty nodes
 * (4 MB on disk) measured 231 B each (protobuf-c's struct, its pointer, the
 * allocator's header, the graph's node).  A re-initialization of `path` holds
 * about its size (mapped) plus this much per message: *bytes, found by one
 * read-only walk of the file's messages (no decoding). */
#define OI_BYTES_PER_MESSAGE 256u
oi_status oi_model_memory_estimate(const char *path, uint64_t *bytes, oi_error *err);

Onnx__ModelProto *oi_model_proto(oi_model *model);
const char *oi_model_label(const oi_model *model);
size_t oi_model_tensor_count(const oi_model *model);
oi_tensor *oi_model_tensor(oi_model *model, size_t index);

/* A tensor's payload as n_bytes little-endian bytes, whatever its storage. */
oi_status oi_model_read(oi_model *model, const oi_tensor *t, void *dst, oi_error *err);
/* Replace a tensor's payload (n_bytes) keeping dtype, shape and storage form.
 * External payloads are kept until save writes them to the new data file. */
oi_status oi_model_write(oi_model *model, oi_tensor *t, const void *src, oi_error *err);

/* --materialize, step 1: every top-level graph input with a static float
 * shape and no initializer gets a declared-only initializer (no data), so
 * the analysis can judge it. */
oi_status oi_model_declare_inputs(oi_model *model, size_t *added, oi_error *err);
/* Step 2: give a declared-only tensor zeroed raw_data, ready to be filled. */
oi_status oi_model_materialize(oi_model *model, oi_tensor *t, oi_error *err);
/* Step 3: drop the declared initializers that were not materialized (they
 * were data inputs), take materialized ones out of the graph inputs
 * (IR >= 4, so the model runs without them), and rebuild the catalogue:
 * tensor indices change. */
oi_status oi_model_settle_declared(oi_model *model, oi_error *err);

/* The tensor's raw_data bytes, writable in place (NULL unless stored as raw_data). */
void *oi_model_raw_payload(oi_model *model, oi_tensor *t);
/* A float tensor's values widened to float32 (malloc'd, t->n_elems of them),
 * or NULL (err says why) for other dtypes or when unreadable. */
float *oi_model_read_floats(oi_model *model, const oi_tensor *t, oi_error *err);
/* Elements [first, first+count) of the tensor's payload (count * elem_size
 * bytes).  Reads a mapped input with pread, so sampling a large weight does
 * not fault it into memory. */
oi_status oi_model_read_elems(oi_model *model, const oi_tensor *t, uint64_t first,
                              uint64_t count, void *dst, oi_error *err);
/* The "location" string the external tensors give (the first), or NULL. */
const char *oi_model_data_location(const oi_model *model);


#endif
