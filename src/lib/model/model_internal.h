/* Shared between model.c, model_tensor.c and model_save.c; not a public contract. */
#ifndef OI_MODEL_INTERNAL_H
#define OI_MODEL_INTERNAL_H

#include "model/model.h"

#include "model/model_wire.h"

struct oi_model {
    char *label;                 /* the path as the user gave it */
    const uint8_t *map;          /* the input, mapped for the model's life (NULL: in memory) */
    int fd;                      /* the input, open for sampled reads that must not fault
                                    pages into the mapping (-1: none) */
    size_t map_len;
    int64_t src_size, src_mtime_ns;   /* the input as loaded: a change is caught before commit */
    oi_wire_scan *wire;          /* payload places, while walking */
    int borrow;                  /* while walking a skeleton: borrow stripped payloads */
    size_t n_borrowed;
    char *dir;                   /* real path of the folder external data lives in */
    Onnx__ModelProto *proto;
    oi_tensor *tensors;
    size_t n_tensors, cap_tensors;
    uint8_t **pending;           /* per tensor: new external payload awaiting save */
    char **owned;                /* scope strings to free */
    size_t n_owned, cap_owned;
    Onnx__TensorProto **declared;  /* initializers added by oi_model_declare_inputs */
    size_t n_declared;
};

/* Walk the model again after its structure changed (pending must be empty). */
oi_status oi_model_recatalogue(oi_model *m, oi_error *err);

/* Validate t->proto and fill the derived fields of t (sizes, storage, external). */
oi_status oi_tensor_check(oi_model *m, oi_tensor *t, oi_error *err);
/* "tensor 'w' (initializer)" or "tensor 'w' (Constant in If 'c'/then_branch)". */
void oi_tensor_describe(const oi_tensor *t, char *buf, size_t size);
/* Encode typed-field data as raw little-endian bytes (dst holds t->n_bytes). */
void oi_tensor_typed_to_raw(const oi_tensor *t, uint8_t *dst);
void oi_tensor_raw_to_typed(oi_tensor *t, const uint8_t *src);
/* pread() all of [offset, offset+len) of path into dst. */
oi_status oi_read_file_range(const char *path, uint64_t offset, uint64_t len, void *dst,
                             oi_error *err);

#endif
