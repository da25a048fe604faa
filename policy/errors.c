/* errors: a policy is reviewed as a whole, so every problem is collected and shown in file
 * order rather than stopping at the first. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pol_err(struct pol_errors *e, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (e->count < POL_ERRORS_MAX) {
        struct pol_error *x = &e->list[e->count];
        x->line = mark.line + 1;
        x->column = mark.column + 1;
        x->seq = e->count++;
        /* clang-tidy reports ap uninitialised only when it checks several files in one run */
        vsnprintf(x->msg, sizeof(x->msg), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
    } else {
        e->overflow = true;
    }
    va_end(ap);
}

static int by_position(const void *a, const void *b)
{
    const struct pol_error *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Whole lines only, except the first, which is cut to fit rather than lost. */
void pol_err_render(struct pol_errors *e, char *out, size_t outlen)
{
    if (!out || !outlen)
        return;
    out[0] = '\0';
    qsort(e->list, e->count, sizeof(e->list[0]), by_position);
    size_t off = 0;
    for (unsigned i = 0; i <= e->count; i++) {
        int n;
        if (i < e->count)
            n = snprintf(out + off, outlen - off, "%s%s:%zu:%zu: %s", i ? "\n" : "", e->path,
                         e->list[i].line, e->list[i].column, e->list[i].msg);
        else if (e->overflow)
            n = snprintf(out + off, outlen - off, "\n%s: more than %u errors, the rest not shown",
                         e->path, POL_ERRORS_MAX);
        else
            break;
        if (n < 0 || (size_t)n >= outlen - off) {
            if (i > 0)
                out[off] = '\0'; /* drop the partial line */
            break;
        }
        off += (size_t)n;
    }
}
