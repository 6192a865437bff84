/* save — writes a re-initialized model safely: the whole model encoded
 * (encode.c) or the input's bytes patched in place (patch.c), always through
 * atomic.c's temp-file-and-rename.  Below the library's API, above fill. */
#ifndef OI_SAVE_H
#define OI_SAVE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "model/model.h"
#include "save/atomic.h"

typedef struct oi_save_opts {
    int overwrite;                /* -f: replace an existing output */
    int allow_same_file;          /* --in-place: the output may be the input */
    const char *external_name;    /* data file name for external tensors; NULL: "<out>.data" */
    int externalize;              /* --external-data: move embedded tensors out too */
    uint64_t external_threshold;  /* ... those of at least this many bytes */
    int no_sync;                  /* --no-sync: new files are renamed in without fsync */
} oi_save_opts;

oi_status oi_model_save(oi_model *model, const char *path, const oi_save_opts *opts,
                        oi_error *err);
/* Patch save: when nothing but tensor values changes, the output is the
 * input's bytes with the rewritten payloads written in place (the model file,
 * or for external-data models a copy of their one data file beside a newly
 * encoded model; several data files are gathered into one new file, each
 * tensor's bytes copied or written once).  Begin with the tensors to rewrite flagged; fill writes
 * each payload at its target; commit makes it durable and renames. */
typedef struct oi_patch oi_patch;
/* Can the model be saved this way with these tensors rewritten? */
int oi_patch_possible(const oi_model *model, const unsigned char *rewrite,
                      const oi_save_opts *opts);
oi_status oi_patch_begin(oi_model *model, const char *path, const oi_save_opts *opts,
                         const unsigned char *rewrite, oi_patch **out, oi_error *err);
/* 1 if tensor t's new payload goes into the output file through oi_patch_write, 0 if
 * into the model (it is encoded with it). */
int oi_patch_takes(const oi_patch *patch, const oi_tensor *t);
/* Bytes [at, at + len) of tensor t's new payload, into its place in the output file.
 * Called by one thread at a time. */
oi_status oi_patch_write(oi_patch *patch, const oi_tensor *t, uint64_t at, const void *bytes,
                         size_t len, oi_error *err);
oi_status oi_patch_commit(oi_patch *patch, oi_error *err);
/* Remove what was written (if not committed) and free. */
void oi_patch_free(oi_patch *patch);

/* Save with every external tensor pointing at `data_name` (a file beside the
 * output, offsets unchanged; the caller provides its bytes).  For backups. */
oi_status oi_model_save_pointing(oi_model *model, const char *path, const char *data_name,
                                 int overwrite, oi_error *err);
/* The one external data file the model reads (NULL: none); *several if more. */
const char *oi_model_data_file(const oi_model *model, int *several);

/* Refuse `path` as an output when it is a file the model reads: the input
 * model (allowed for the model output with allow_same_file) or one of its
 * external data files (allowed for the data output with allow_same_file). */
oi_status oi_save_check_inputs(const oi_model *model, const char *path, int model_output,
                               const oi_save_opts *opts, oi_error *err);

/* In place, just before the rename: the input path must still name the file
 * that was read.  A file renamed over it (or its removal) during the run is
 * someone else's: it stays, and nothing is written. */
oi_status oi_save_check_still_input(const oi_model *model, const char *path,
                                    const oi_save_opts *opts, oi_error *err);

/* The new side data file at path: never a file the model reads except its own
 * data in place, never an unrelated existing file in place, else as overwrite says. */
oi_status oi_save_check_data_target(const oi_model *model, const char *path,
                                    const oi_save_opts *opts, oi_error *err);

/* Encode through append (non-zero return: stop, OI_ERR_IO); external tensors
 * are read and embedded, so the bytes stand alone. */
oi_status oi_model_save_sink(oi_model *model, int (*append)(void *ctx, const void *data, size_t len),
                             void *ctx, oi_error *err);
/* Encode to memory (embedded tensors only); *data is malloc'd. */
oi_status oi_model_save_buffer(oi_model *model, uint8_t **data, size_t *len, oi_error *err);


/* The side data file beside output `out`: opts->external_name or "<out>.data";
 * *name must be a plain file name (refused otherwise).  Both malloc'd. */
oi_status oi_data_file_path(const char *out, const oi_save_opts *o, char **path, char **name,
                            oi_error *err);

/* The side data file of a full encode (oi_data_file_path's), or its alternate
 * ("NAME.1" <-> "NAME") when the model being replaced reads it; then
 * *retire is the old one, to remove once the new model is in place. */
oi_status oi_data_file_choose(const oi_model *model, const char *model_path,
                              const oi_save_opts *opts, char **path, char **name, char **retire,
                              oi_error *err);

/* Encode the model into a new temporary file (f, begun here, not committed),
 * its external tensors pointing at data_name, at placed[i] (NULL: their
 * offsets unchanged). */
oi_status oi_model_save_relocated(oi_model *m, const char *path, const oi_save_opts *o,
                                  const char *data_name, const uint64_t *placed,
                                  oi_save_file *f, oi_error *err);
/* Where big tensors start in a new data file (page-aligned: runtimes mmap them). */
#define OI_BIG_TENSOR_ALIGN 4096
uint64_t oi_data_file_place(uint64_t at, uint64_t n_bytes);

#endif
