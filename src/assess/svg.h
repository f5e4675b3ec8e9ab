/* Small SVG charts for the self-contained HTML report: a line chart (cumulative cost of
 * cloud vs on-prem, with the break-even marked) and a horizontal bar chart (capacity per
 * workload profile). Pure text generation into a gm_buf; no scripts, no external assets. */
#ifndef GM_SVG_H
#define GM_SVG_H

#include <stddef.h>

#include "util/buf.h"

struct gm_svg_series {
	const char *name;
	const char *color; /* CSS colour, e.g. "#1f77b4" */
	const double *y;   /* n_points values */
};

struct gm_svg_line_chart {
	const char *title;
	const char *x_label; /* "month" */
	const char *y_label; /* "USD" */
	size_t n_points;     /* x runs 0 .. n_points-1 */
	const struct gm_svg_series *series;
	size_t n_series;
	double marker_x; /* a vertical marker (break-even); < 0 for none */
	const char *marker_label;
};

struct gm_svg_bar {
	const char *label;
	double value;
	const char *color;
};

struct gm_svg_bar_chart {
	const char *title;
	const char *unit; /* appended to values: "×", "GPUs" … */
	const struct gm_svg_bar *bars;
	size_t n_bars;
	double reference; /* a vertical reference line (e.g. 1.0 = parity); <= 0 for none */
};

/* Appends an <svg> element (width × height px) to out. Text is XML-escaped. */
void gm_svg_line(const struct gm_svg_line_chart *c, int width, int height, struct gm_buf *out);
void gm_svg_bars(const struct gm_svg_bar_chart *c, int width, struct gm_buf *out);

/* Appends s with &, <, >, " and ' escaped (for HTML and SVG text and attributes). */
void gm_xml_escape(struct gm_buf *out, const char *s);

/* A "nice" axis maximum ≥ v (1, 2, 2.5, 5 × 10^k) and its tick step. */
double gm_svg_nice_max(double v, double *step);

#endif
