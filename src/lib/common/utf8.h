/* utf8 — making arbitrary bytes (and numbers) safe for JSON text. */
#ifndef OI_UTF8_H
#define OI_UTF8_H

#include <json-c/json.h>

#include "onnxinit.h"

/* A malloc'd copy of s (NULL: "") that is valid UTF-8: invalid sequences
 * become U+FFFD, so names and paths of any bytes can go into JSON. */
char *oi_utf8_clean(const char *s);
/* A JSON string of s, cleaned. */
json_object *oi_json_string(const char *s);
/* A JSON number, or null for NaN and infinities (which JSON cannot write). */
json_object *oi_json_number(double x);

#endif
