/* utf8 — making arbitrary bytes (and numbers) safe for JSON text. */
#ifndef OI_UTF8_H
#define OI_UTF8_H

#include <json-c/json.h>

#include "onnxinit.h"

/* oi_utf8_clean (onnxinit.h): a malloc'd copy, invalid sequences as U+FFFD. */
/* A JSON string of s, cleaned. */
json_object *oi_json_string(const char *s);
/* A JSON number, or null for NaN and infinities (which JSON cannot write). */
json_object *oi_json_number(double x);

#endif
