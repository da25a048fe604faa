#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_role[16] = "bulwarkd";
static enum log_level log_level_now = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *role, enum log_level level)
{
    snprintf(log_role, sizeof(log_role), "%s", role);
    log_level_now = level;
}

void log_set_level(enum log_level level)
{
    log_level_now = level;
}

enum log_level log_get_level(void)
{
    return log_level_now;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_level_now)
        return;
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), log_role, (int)getpid(), level_names[level]);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap); /* NOLINT */
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line so lines from different roles do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

const char *log_sanitize(const uint8_t *s, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (outlen < 8) {
        if (outlen)
            out[0] = '\0';
        return out;
    }
    for (size_t i = 0; i < len; i++) {
        if (o + 8 >= outlen) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}
