/* The plan as a table people can read: learned tensors first, the constants
 * left alone grouped by reason with counts (all=1 lists them one by one),
 * a name too long for its column on a line of its own (elided names of one
 * layer's tensors look alike), and an honest summary. */
#include "readout/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readout/format.h"

#define NAME_WIDTH 40

static void weight_row(FILE *out, const oi_tensor *t, const oi_weight *w, const oi_decision *d)
{
    char name[NAME_WIDTH + 1], module[33], shape[64], nums[224], op[160];
    if (strlen(t->name) > NAME_WIDTH) {   /* whole, above its row */
        fprintf(out, "%s\n", t->name);
        name[0] = '\0';
    } else {
        snprintf(name, sizeof name, "%s", t->name);
    }
    oi_format_elide(w->module[0] ? w->module : "-", 32, module, sizeof module);
    oi_format_shape(t, shape, sizeof shape);
    oi_format_numbers(d, nums, sizeof nums);
    snprintf(op, sizeof op, "%s%s%s", w->op, *w->via ? " via " : "", w->via);
    fprintf(out, "%-40s %-32s %-18s %-13s %-8s %-16s %7lld %7lld %-11s %6.4f  %s %s\n", name,
            module, op, oi_role_name(oi_plan_role(w, d)), oi_dtype_name(t->dtype), shape,
            (long long)w->fan_in, (long long)w->fan_out,
            w->role == OI_ROLE_WEIGHT ? oi_act_name(w->act) : "-", d->gain ? d->gain : 1.0,
            d->scheme, nums);
    if (*w->note)
        fprintf(out, "%40s   note: %s\n", "", w->note);
    if (d->signal > 0)
        fprintf(out, "%40s   %s\n", "", d->reason);
    if (t->scope && *t->scope)
        fprintf(out, "%40s   in: %s\n", "", t->scope);
}

static void left_row(FILE *out, const oi_tensor *t, const char *why)
{
    char name[NAME_WIDTH + 1], where[96];
    if (strlen(t->name) > NAME_WIDTH) {
        fprintf(out, "  %s\n", t->name);
        name[0] = '\0';
    } else {
        snprintf(name, sizeof name, "%s", t->name);
    }
    oi_format_where(t, where, sizeof where);
    fprintf(out, "  %-40s %-12s %s\n", name, where, why);
}

/* The reasons constants were kept, one line per kind, most frequent first. */
static void kept_groups(FILE *out, char **kinds, size_t n)
{
    oi_tally_entry *e;
    size_t k = oi_report_groups((const char *const *)kinds, n, &e);
    for (size_t i = 0; e && i < k; i++)
        fprintf(out, "  %6zu  %s\n", e[i].count, e[i].name);
    free(e);
}

void oi_report_plan_table(FILE *out, oi_model *m, const oi_analysis *a, const oi_plan *p, int all)
{
    size_t n = oi_model_tensor_count(m), counts[OI_ROLE_COUNT] = {0};
    size_t learned = 0, done = 0, kept = 0;
    char **kinds = calloc(n ? n : 1, sizeof *kinds);
    fprintf(out, "%-40s %-32s %-18s %-13s %-8s %-16s %7s %7s %-11s %6s  %s\n", "tensor", "module",
            "op", "role", "dtype", "shape", "fan_in", "fan_out", "activation", "gain", "scheme");
    for (size_t i = 0; i < n; i++) {
        const oi_weight *w = oi_analysis_get(a, i);
        const oi_decision *d = oi_plan_get(p, i);
        oi_role role = oi_plan_role(w, d);
        learned += role != OI_ROLE_NONE;
        if (role != OI_ROLE_NONE && d->kind != OI_FILL_NONE) {
            counts[role]++;
            done++;
            weight_row(out, oi_model_tensor(m, i), w, d);
        }
    }
    if (learned > done) {
        fprintf(out, "\nlearned, but left alone as asked:\n");
        for (size_t i = 0; i < n; i++)
            if (oi_analysis_get(a, i)->role != OI_ROLE_NONE && oi_plan_get(p, i)->kind == OI_FILL_NONE)
                left_row(out, oi_model_tensor(m, i), oi_plan_get(p, i)->reason);
    }
    for (size_t i = 0; kinds && i < n; i++)
        if (oi_plan_role(oi_analysis_get(a, i), oi_plan_get(p, i)) == OI_ROLE_NONE &&
            (kinds[i] = malloc(192))) {
            oi_format_reason_kind(oi_plan_get(p, i)->reason, kinds[i], 192);
            kept++;
        }
    if (kept) {
        fprintf(out, "\nkept %zu constant%s (not learned parameters), by reason:\n", kept,
                kept == 1 ? "" : "s");
        if (all) {
            for (size_t i = 0; i < n; i++)
                if (oi_plan_role(oi_analysis_get(a, i), oi_plan_get(p, i)) == OI_ROLE_NONE)
                    left_row(out, oi_model_tensor(m, i), oi_plan_get(p, i)->reason);
        } else if (kinds) {
            kept_groups(out, kinds, n);
            fprintf(out, "  (a full listing shows them one by one)\n");
        }
    }
    fprintf(out, "\nsummary: re-initialized %zu of %zu learned tensors", done, learned);
    const char *sep = " (";
    for (int r = 1; r < OI_ROLE_COUNT; r++)
        if (counts[r]) {
            fprintf(out, "%s%s %zu", sep, oi_role_name((oi_role)r), counts[r]);
            sep = ", ";
        }
    fprintf(out, "%s; kept %zu constant%s\n", *sep == ',' ? ")" : "", kept, kept == 1 ? "" : "s");
    if (*oi_plan_warning(p, a))
        fprintf(out, "%s: %s\n", oi_plan_signal_layers(p) ? "note" : "warning", oi_plan_warning(p, a));
    for (size_t i = 0; kinds && i < n; i++)
        free(kinds[i]);
    free(kinds);
}
