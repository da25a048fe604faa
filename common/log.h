/* log: one-line diagnostics to stderr, prefixed with the role name and pid.
 * Promises: never allocates, never blocks for long (stderr is a pipe or tty),
 * safe to call from any role after log_init(). Secrets must never be passed in. */
#ifndef BULWARK_LOG_H
#define BULWARK_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_init(const char *role, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__);                         \
    } while (0)

#endif

#ifndef BULWARK_LOG_SANITIZE
#define BULWARK_LOG_SANITIZE
#include <stddef.h>
#include <stdint.h>
/* Copies untrusted bytes (client ids, topics) into out as printable ASCII, escaping the
 * rest as \xNN and truncating with "..." so a client cannot forge or flood log lines. */
const char *log_sanitize(const uint8_t *s, size_t len, char *out, size_t outlen);
#endif
