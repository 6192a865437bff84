/* decimal — numbers written by people and by files: digits only.
 * Self-contained: the program builds it too, for its options. */
#ifndef OI_DECIMAL_H
#define OI_DECIMAL_H

#include <stdint.h>

/* Decimal digits only, no sign, space or suffix: "010" is ten (not octal 8);
 * "-1" (which strtoull would wrap), " 1", "1x" and overflow are refused (-1). */
int oi_parse_u64(const char *s, uint64_t *out);

#endif
