#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tandem/status.h"

struct td_error {
    td_code code;
    char message[512];
};

/* Returned when we cannot even allocate the error object; it is never freed. */
static const struct td_error td_oom_error = {TD_CODE_OUT_OF_MEMORY, "out of memory"};

td_status td_error_new(td_code code, const char *fmt, ...)
{
    td_error *e = malloc(sizeof *e);
    if (!e)
        return (td_status)&td_oom_error;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return e;
}

td_code td_status_code(td_status st)
{
    return st ? st->code : TD_CODE_OK;
}

const char *td_status_message(td_status st)
{
    return st ? st->message : "ok";
}

const char *td_code_name(td_code code)
{
    switch (code) {
    case TD_CODE_OK:
        return "ok";
    case TD_CODE_INVALID_ARGUMENT:
        return "invalid argument";
    case TD_CODE_UNSUPPORTED:
        return "unsupported";
    case TD_CODE_OUT_OF_MEMORY:
        return "out of memory";
    case TD_CODE_OVERFLOW:
        return "overflow";
    case TD_CODE_IO:
        return "i/o error";
    case TD_CODE_BAD_DATA:
        return "bad data";
    case TD_CODE_INTERNAL:
        return "internal error";
    }
    return "unknown";
}

void td_status_free(td_status st)
{
    if (st && st != &td_oom_error)
        free(st);
}
