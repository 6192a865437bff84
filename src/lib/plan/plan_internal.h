/* Shared inside plan/: the plan's decisions, which plan_signal.c rescales. */
#ifndef OI_PLAN_INTERNAL_H
#define OI_PLAN_INTERNAL_H

#include "plan/plan.h"
#include "common/arena.h"

struct oi_plan {
    oi_decision *items;
    size_t n;
    int signal;            /* signal-preserving gains were chosen */
    size_t signal_layers;  /* ... for this many layers */
    char note[400];        /* oi_plan_warning when signal is set */
    oi_arena *arena;        /* the decisions' formatted reasons */
};

#endif
