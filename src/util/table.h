/* Aligned text tables for people: columns sized to their widest cell (by display width, so
 * UTF-8 names line up), optional ANSI colour per cell that never affects alignment. */
#ifndef GM_TABLE_H
#define GM_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum gm_color {
	GM_COLOR_NONE = 0,
	GM_COLOR_RED,
	GM_COLOR_GREEN,
	GM_COLOR_YELLOW,
	GM_COLOR_BLUE,
	GM_COLOR_DIM,
	GM_COLOR_BOLD,
};

struct gm_table_cell {
	char *text;
	enum gm_color color;
};

struct gm_table {
	size_t n_cols;
	size_t n_rows; /* including the header row */
	struct gm_table_cell *cells;
	bool *right_align; /* per column */
};

/* A table with the given header; n_cols headers follow. */
void gm_table_init(struct gm_table *t, size_t n_cols, const char *const *headers);
void gm_table_release(struct gm_table *t);
void gm_table_align_right(struct gm_table *t, size_t col);
/* Starts a new row; cells are then set with gm_table_set (missing ones stay empty). */
void gm_table_add_row(struct gm_table *t);
void gm_table_set(struct gm_table *t, size_t col, const char *text, enum gm_color color);
void gm_table_setf(struct gm_table *t, size_t col, enum gm_color color, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Renders with two spaces between columns; colour only when color is true. */
void gm_table_render(const struct gm_table *t, bool color, struct gm_buf *out);

/* Display width of a UTF-8 string (code points; invalid bytes count as one). */
size_t gm_display_width(const char *s);
/* The ANSI escape that starts a colour ("" for NONE); "\033[0m" ends it. */
const char *gm_color_code(enum gm_color c);

#endif
