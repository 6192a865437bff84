/* hash — FNV-1a, the one string hash of onnxinit (stream keys, wire paths,
 * name tables, shards).  Stream keys depend on its exact bytes: never change it. */
#ifndef OI_HASH_H
#define OI_HASH_H

#include <stdint.h>

#define OI_FNV_OFFSET 1469598103934665603ULL
#define OI_FNV_PRIME 1099511628211ULL

static inline uint64_t oi_fnv1a_byte(uint64_t h, unsigned char c) { return (h ^ c) * OI_FNV_PRIME; }

/* Continue hash h over the NUL-terminated string s (NULL: nothing). */
static inline uint64_t oi_fnv1a_str(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = oi_fnv1a_byte(h, (unsigned char)*s);
    return h;
}

#endif
