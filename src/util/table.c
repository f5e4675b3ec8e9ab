/* Aligned table rendering shared by every command's human output. */
#include "util/table.h"

#include <stdarg.h>
#include <stdlib.h>

#include "util/xalloc.h"
#include "util/banned.h"

void gm_table_init(struct gm_table *t, size_t n_cols, const char *const *headers)
{
	t->n_cols = n_cols;
	t->n_rows = 0;
	t->cells = NULL;
	t->right_align = gm_xcalloc(n_cols, sizeof(bool));
	gm_table_add_row(t);
	for (size_t c = 0; c < n_cols; c++)
		gm_table_set(t, c, headers[c], GM_COLOR_BOLD);
}

void gm_table_release(struct gm_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i].text);
	GM_FREE(t->cells);
	GM_FREE(t->right_align);
	t->n_rows = 0;
}

void gm_table_align_right(struct gm_table *t, size_t col)
{
	if (col < t->n_cols)
		t->right_align[col] = true;
}

void gm_table_add_row(struct gm_table *t)
{
	t->cells = gm_xreallocarray(t->cells, (t->n_rows + 1) * t->n_cols, sizeof(*t->cells));
	for (size_t c = 0; c < t->n_cols; c++)
		t->cells[t->n_rows * t->n_cols + c] = (struct gm_table_cell){NULL, GM_COLOR_NONE};
	t->n_rows++;
}

void gm_table_set(struct gm_table *t, size_t col, const char *text, enum gm_color color)
{
	if (col >= t->n_cols || t->n_rows == 0)
		return;
	struct gm_table_cell *cell = &t->cells[(t->n_rows - 1) * t->n_cols + col];
	free(cell->text);
	cell->text = gm_xstrdup(text ? text : "");
	cell->color = color;
}

void gm_table_setf(struct gm_table *t, size_t col, enum gm_color color, const char *fmt, ...)
{
	struct gm_buf b = GM_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	gm_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	gm_table_set(t, col, gm_buf_cstr(&b), color);
	gm_buf_release(&b);
}

size_t gm_display_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			w++;
	return w;
}

const char *gm_color_code(enum gm_color c)
{
	switch (c) {
	case GM_COLOR_RED: return "\033[31m";
	case GM_COLOR_GREEN: return "\033[32m";
	case GM_COLOR_YELLOW: return "\033[33m";
	case GM_COLOR_BLUE: return "\033[34m";
	case GM_COLOR_DIM: return "\033[2m";
	case GM_COLOR_BOLD: return "\033[1m";
	case GM_COLOR_NONE: break;
	}
	return "";
}

void gm_table_render(const struct gm_table *t, bool color, struct gm_buf *out)
{
	size_t *width = gm_xcalloc(t->n_cols, sizeof(size_t));
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_cols; c++) {
			const char *s = t->cells[r * t->n_cols + c].text;
			size_t w = s ? gm_display_width(s) : 0;
			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		size_t line_start = out->len;
		for (size_t c = 0; c < t->n_cols; c++) {
			const struct gm_table_cell *cell = &t->cells[r * t->n_cols + c];
			const char *s = cell->text ? cell->text : "";
			size_t pad = width[c] - gm_display_width(s);
			bool last = c + 1 == t->n_cols;
			if (c)
				gm_buf_adds(out, "  ");
			if (t->right_align[c])
				gm_buf_addpad(out, ' ', pad);
			bool colored = color && cell->color != GM_COLOR_NONE && *s;
			if (colored)
				gm_buf_adds(out, gm_color_code(cell->color));
			gm_buf_adds(out, s);
			if (colored)
				gm_buf_adds(out, "\033[0m");
			if (!t->right_align[c] && !last)
				gm_buf_addpad(out, ' ', pad);
		}
		/* no trailing blanks */
		while (out->len > line_start && out->data[out->len - 1] == ' ')
			gm_buf_truncate(out, out->len - 1);
		gm_buf_addch(out, '\n');
	}
	free(width);
}
