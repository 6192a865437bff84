/* What the program says beside the library: its flags as hints to library
 * messages, did-you-mean for commands and options, progress on a terminal. */
#include "cli_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The program's flag for what a library message says, or "". */
const char *oi_cli_hint(const char *msg)
{
    static const struct { const char *says, *hint; } hints[] = {
        {": already exists", " (use -f to overwrite)"},
        {"output is the input file", " (use --in-place to replace it)"},
        {"the 'only' glob", " (onnxinit plan lists the names and modules --only matches)"},
        {"a backup of a model with several data files", " (--backup)"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof *hints; i++)
        if (strstr(msg, hints[i].says))
            return hints[i].hint;
    return "";
}

/* Edits (insert, delete, change, swap neighbours) between two short words, up to 3. */
int oi_cli_edits(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 12 || lb > 12)
        return 3;
    int d[13][13];
    for (size_t i = 0; i <= la; i++)
        for (size_t j = 0; j <= lb; j++) {
            if (!i || !j) {
                d[i][j] = (int)(i + j);
                continue;
            }
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            best = d[i - 1][j] + 1 < best ? d[i - 1][j] + 1 : best;
            best = d[i][j - 1] + 1 < best ? d[i][j - 1] + 1 : best;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* "onnxinit plna m.onnx": a misspelled command, not a model named plna. */
int oi_cli_misspelled_command(const char *word)
{
    static const char *const commands[] = {"plan", "audit"};
    if (strchr(word, '.') || strchr(word, '/') || word[0] == '-' || !strcmp(word, "plan") ||
        !strcmp(word, "audit") || access(word, F_OK) == 0)
        return 0;
    for (size_t i = 0; i < 2; i++)
        if (oi_cli_edits(word, commands[i]) <= 2) {
            char msg[64];
            snprintf(msg, sizeof msg, "'%.20s' (did you mean '%s'?)", word, commands[i]);
            oi_cli_usage_error("unknown command %s", msg);
            return 1;
        }
    return 0;
}

/* Progress of one long run on a terminal: after half a second, ten times a
 * second at most, on stderr (never with -q, never into JSON). */
static long long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

void oi_cli_show_progress(void *opaque, uint64_t done, uint64_t total)
{
    oi_cli_progress *p = opaque;
    long long now = ms_since(&p->start), last = atomic_load(&p->last_ms);
    if (now < 500 || now - last < 100 || !total ||
        !atomic_compare_exchange_strong(&p->last_ms, &last, now))
        return;
    fprintf(stderr, "\r\033[Kre-initializing: %3d%% (%.1f of %.1f M values)",
            (int)(100.0 * (double)done / (double)total), (double)done / 1e6, (double)total / 1e6);
    atomic_store(&p->shown, 1);
}
