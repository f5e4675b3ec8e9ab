/* Diagnostics to stderr. stdout carries data only; everything a person should read about
 * what happened goes through here, prefixed "gpumigrate: " and filtered by verbosity.
 * The level and colour choice are the only process-wide state besides signal flags. */
#ifndef GM_LOG_H
#define GM_LOG_H

#include <stdbool.h>

enum gm_log_level {
	GM_LOG_ERROR = 0,
	GM_LOG_WARN,
	GM_LOG_INFO,
	GM_LOG_DEBUG,
};

void gm_log_set_level(enum gm_log_level level);
enum gm_log_level gm_log_get_level(void);
/* Colour for diagnostics on stderr: decided once by the CLI (--color, NO_COLOR, isatty). */
void gm_log_set_color(bool on);

void gm_log(enum gm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A "hint: …" line after an error: what to do next. Shown unless the level is below ERROR. */
void gm_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define gm_error(...) gm_log(GM_LOG_ERROR, __VA_ARGS__)
#define gm_warn(...)  gm_log(GM_LOG_WARN, __VA_ARGS__)
#define gm_info(...)  gm_log(GM_LOG_INFO, __VA_ARGS__)
#define gm_debug(...) gm_log(GM_LOG_DEBUG, __VA_ARGS__)

#endif
