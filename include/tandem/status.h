/* Status codes and error messages.
 *
 * Every fallible function returns a td_status. Success is NULL (TD_OK), so the
 * common path costs nothing; a failure is a heap object carrying a code and a
 * message that names what was wrong. The caller owns it and releases it with
 * td_status_free(). Keeping the message in the returned object (rather than in
 * a global "last error") keeps the library free of mutable global state. */
#ifndef TANDEM_STATUS_H
#define TANDEM_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_code {
    TD_CODE_OK = 0,
    TD_CODE_INVALID_ARGUMENT, /* bad option, shape or value */
    TD_CODE_UNSUPPORTED,      /* valid request this build or CPU cannot do */
    TD_CODE_OUT_OF_MEMORY,
    TD_CODE_OVERFLOW, /* a size or byte count does not fit */
    TD_CODE_IO,       /* file could not be read or written */
    TD_CODE_BAD_DATA, /* NaN/Inf or corrupt input */
    TD_CODE_INTERNAL,
} td_code;

typedef struct td_error td_error;
typedef td_error *td_status;

#define TD_OK ((td_status)0)

/* Creates an error with a printf-style message. Never returns NULL: if memory
 * is exhausted it returns a static out-of-memory error (freeing it is a no-op). */
td_status td_error_new(td_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

td_code td_status_code(td_status st);
const char *td_status_message(td_status st); /* "ok" for TD_OK */
const char *td_code_name(td_code code);
void td_status_free(td_status st);

/* Propagate an error to the caller. */
#define TD_TRY(expr)                                                                               \
    do {                                                                                           \
        td_status td_try_st_ = (expr);                                                             \
        if (td_try_st_)                                                                            \
            return td_try_st_;                                                                     \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
