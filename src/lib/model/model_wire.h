/* model_wire — where tensor payloads lie in an encoded model.
 *
 * A read-only walk of the protobuf wire format along the messages that hold
 * tensors (ModelProto.graph/functions, GraphProto.node/initializer,
 * NodeProto.attribute, AttributeProto.t/g/tensors/graphs, FunctionProto.node)
 * records, for each TensorProto, the file range of its raw_data (or packed
 * float_data/double_data) payload, keyed by the tensor's structural path.
 * It can also emit a skeleton: the same encoding with large raw_data
 * payloads left out and enclosing lengths fixed, for protobuf-c to decode
 * without copying the weights.  Anything unexpected makes it give up, and
 * the caller decodes the whole file as usual. */
#ifndef OI_MODEL_WIRE_H
#define OI_MODEL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"

typedef enum { OI_WIRE_RAW = 9, OI_WIRE_FLOAT = 4, OI_WIRE_DOUBLE = 10 } oi_wire_field;

typedef struct oi_wire_payload {
    uint64_t path;        /* oi_wire_path_* hash of the tensor's place */
    uint64_t offset, len; /* payload bytes in the file */
    int field;            /* oi_wire_field; 0 if the tensor's payload is ambiguous */
    int stripped;         /* left out of the skeleton */
} oi_wire_payload;

typedef struct oi_wire_scan {
    oi_wire_payload *items;
    size_t n, cap;
    uint8_t *skeleton;    /* NULL unless something was stripped */
    size_t skeleton_len, skeleton_cap;
} oi_wire_scan;

/* 0 on success; -1: not understood (the caller falls back, nothing to free). */
int oi_wire_scan_model(const uint8_t *data, size_t len, uint64_t strip_threshold,
                       oi_wire_scan *out);
void oi_wire_scan_free(oi_wire_scan *scan);
const oi_wire_payload *oi_wire_find(const oi_wire_scan *scan, uint64_t path);

/* Walk message fields by the schema before decoding: -1 if messages nest
 * deeper than max_depth (decoders recurse per level), -2 if a string field
 * holds a NUL byte (C readers would see a shorter name), else 0.  Malformed
 * input counts as 0 here; the decoder reports it.  *messages (if not NULL):
 * the messages seen, which is what decoding costs in memory. */
struct ProtobufCMessageDescriptor;
int oi_wire_check(const uint8_t *data, size_t len, const struct ProtobufCMessageDescriptor *d,
                  int max_depth, uint64_t *messages);

/* Structural paths: start from oi_wire_path_root(), extend per step with the
 * field number and the index among that field's occurrences. */
static inline uint64_t oi_wire_path_root(void) { return OI_FNV_OFFSET; }
static inline uint64_t oi_wire_path_step(uint64_t path, uint32_t field, uint64_t index)
{
    uint64_t x = (path ^ field) * OI_FNV_PRIME;
    x ^= index + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
    return x * OI_FNV_PRIME;
}

#endif
