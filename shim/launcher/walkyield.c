/* walkyield.c: the turn a long walk gives the launcher's loop. See walkyield.h. */
#include "walkyield.h"

#include <stdbool.h>
#include <stddef.h>

static void (*turn_fn)(void *context);
static void *turn_context;
static bool turning;

void walk_yield_set(void (*turn)(void *context), void *context)
{
    turn_fn = turn;
    turn_context = context;
}

void walk_yield(void)
{
    if (!turn_fn || turning)
        return;
    turning = true; /* the turn's own walks (a stand-in's scan) do not start another */
    turn_fn(turn_context);
    turning = false;
}
