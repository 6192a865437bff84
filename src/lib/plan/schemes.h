/* schemes — the decisions each fill kind is made of, built by the presets and
 * the rules (plan.c) alike. */
#ifndef OI_SCHEMES_H
#define OI_SCHEMES_H

#include "plan/plan.h"

void oi_scheme_constant(oi_decision *d, double v, const char *scheme);
/* U(-bound, bound) */
void oi_scheme_uniform(oi_decision *d, double bound, double gain, const char *scheme);
void oi_scheme_normal(oi_decision *d, double mean, double std, double gain, const char *scheme);
/* mean 0, std exactly `std` (OI_FILL_TRUNC_NORMAL) */
void oi_scheme_trunc_normal(oi_decision *d, double std, const char *scheme);
void oi_scheme_xavier_uniform(oi_decision *d, int64_t fan_in, int64_t fan_out, double gain);
void oi_scheme_orthogonal(oi_decision *d, int64_t matrices, int64_t rows, int64_t cols,
                          double gain);
/* Left alone; why: a literal, the analysis's reason or the plan's arena text
 * (it is not copied). */
void oi_scheme_untouched(oi_decision *d, const char *why);
/* LSTM bias: zeros, with the input-side forget gate (ranges found by analyze)
 * at `forget`. */
void oi_scheme_lstm_bias(oi_decision *d, const oi_weight *w, double forget);

#endif
