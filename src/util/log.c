/* The stderr logger: one line per message, lowercase, with an optional coloured tag. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/buf.h"
#include "util/banned.h"

static enum gm_log_level current_level = GM_LOG_WARN;
static bool use_color;

void gm_log_set_level(enum gm_log_level level)
{
	current_level = level;
}

enum gm_log_level gm_log_get_level(void)
{
	return current_level;
}

void gm_log_set_color(bool on)
{
	use_color = on;
}

__attribute__((format(printf, 3, 0))) static void emit(const char *tag, const char *color,
                                                       const char *fmt, va_list ap)
{
	struct gm_buf line = GM_BUF_INIT;
	gm_buf_adds(&line, "gpumigrate: ");
	if (tag && use_color)
		gm_buf_addf(&line, "%s%s\033[0m: ", color, tag);
	else if (tag)
		gm_buf_addf(&line, "%s: ", tag);
	gm_buf_vaddf(&line, fmt, ap);
	gm_buf_addch(&line, '\n');
	fputs(gm_buf_cstr(&line), stderr);
	gm_buf_release(&line);
}

void gm_hint(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("hint", "\033[1;36m", fmt, ap);
	va_end(ap);
}

void gm_log(enum gm_log_level level, const char *fmt, ...)
{
	static const char *const tags[] = {"error", "warning", "info", "debug"};
	static const char *const colors[] = {"\033[1;31m", "\033[1;33m", "\033[1;36m", "\033[2m"};
	if (level > current_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	emit(level == GM_LOG_INFO ? NULL : tags[level], colors[level], fmt, ap);
	va_end(ap);
}
