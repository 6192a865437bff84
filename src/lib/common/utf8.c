/* Text that goes into JSON must be UTF-8: names and paths from a model or a
 * file system may be any bytes.  Invalid sequences become U+FFFD. */
#include "common/utf8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static size_t valid_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    /* lead bytes: C2-DF two, E0-EF three, F0-F4 four; 80-C1 and F5-FF never lead */
    size_t n = s[0] > 0xf4 ? 0 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0;   /* overlong, surrogate, beyond U+10FFFF */
    return n;
}

char *oi_utf8_clean(const char *s)
{
    if (!s)
        s = "";
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1), *o = out;   /* each bad byte becomes 3 bytes */
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = valid_seq(p);
        if (n) {
            memcpy(o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        }
    }
    *o = '\0';
    return out;
}

json_object *oi_json_string(const char *s)
{
    char *clean = oi_utf8_clean(s);
    json_object *o = json_object_new_string(clean ? clean : "");
    free(clean);
    return o;
}

json_object *oi_json_number(double x)
{
    return isfinite(x) ? json_object_new_double(x) : NULL;   /* json-c writes NULL as null */
}
