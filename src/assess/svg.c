/* SVG chart generation for reports (see svg.h). Coordinates are computed here; styling is
 * left to the page's CSS classes so the charts match the report. */
#include "assess/svg.h"

#include <math.h>
#include <string.h>

#include "util/banned.h"

void gm_xml_escape(struct gm_buf *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': gm_buf_adds(out, "&amp;"); break;
		case '<': gm_buf_adds(out, "&lt;"); break;
		case '>': gm_buf_adds(out, "&gt;"); break;
		case '"': gm_buf_adds(out, "&quot;"); break;
		case '\'': gm_buf_adds(out, "&#39;"); break;
		default: gm_buf_addch(out, *s);
		}
	}
}

double gm_svg_nice_max(double v, double *step)
{
	static const double steps[] = {1, 2, 2.5, 5, 10};
	if (!(v > 0) || !isfinite(v)) {
		*step = 0.25;
		return 1;
	}
	double mag = pow(10, floor(log10(v)));
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		double top = steps[i] * mag;
		if (top >= v * 0.999999) {
			*step = top / 5;
			return top;
		}
	}
	*step = mag * 2;
	return mag * 10;
}

/* Axis labels: 1.2M, 350k, 42, 0.5. */
static void add_short_number(struct gm_buf *out, double v)
{
	double a = fabs(v);
	if (a >= 1e9)
		gm_buf_addf(out, "%.3g G", v / 1e9);
	else if (a >= 1e6)
		gm_buf_addf(out, "%.3g M", v / 1e6);
	else if (a >= 1e3)
		gm_buf_addf(out, "%.3g k", v / 1e3);
	else
		gm_buf_addf(out, "%.3g", v);
}

static void text(struct gm_buf *out, double x, double y, const char *anchor, const char *cls,
                 const char *s)
{
	gm_buf_addf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"%s\">", x, y,
	            anchor, cls);
	gm_xml_escape(out, s);
	gm_buf_adds(out, "</text>\n");
}

void gm_svg_line(const struct gm_svg_line_chart *c, int width, int height, struct gm_buf *out)
{
	const double left = 70, right = 20, top = 36, bottom = 44;
	double plot_w = width - left - right, plot_h = height - top - bottom;
	double ymax = 0;
	for (size_t s = 0; s < c->n_series; s++)
		for (size_t i = 0; i < c->n_points; i++)
			if (isfinite(c->series[s].y[i]) && c->series[s].y[i] > ymax)
				ymax = c->series[s].y[i];
	double step;
	ymax = gm_svg_nice_max(ymax, &step);
	double xmax = c->n_points > 1 ? (double)(c->n_points - 1) : 1;

	gm_buf_addf(out,
	            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart line-chart\" "
	            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
	            width, height, width, height);
	gm_buf_adds(out, "<title>");
	gm_xml_escape(out, c->title);
	gm_buf_adds(out, "</title>\n");
	text(out, left, 20, "start", "chart-title", c->title);
	/* grid and y axis */
	for (int k = 0; k * step <= ymax * 1.000001; k++) {
		double v = k * step;
		double y = top + plot_h - v / ymax * plot_h;
		gm_buf_addf(
		        out,
		        "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
		        left, y, left + plot_w, y);
		struct gm_buf label = GM_BUF_INIT;
		add_short_number(&label, v);
		text(out, left - 6, y + 4, "end", "tick", gm_buf_cstr(&label));
		gm_buf_release(&label);
	}
	/* x ticks: about 10 */
	size_t xstep = c->n_points > 10 ? (c->n_points + 9) / 10 : 1;
	for (size_t i = 0; i < c->n_points; i += xstep) {
		double x = left + (double)i / xmax * plot_w;
		struct gm_buf label = GM_BUF_INIT;
		gm_buf_addf(&label, "%zu", i);
		text(out, x, top + plot_h + 16, "middle", "tick", gm_buf_cstr(&label));
		gm_buf_release(&label);
	}
	text(out, left + plot_w / 2, height - 6, "middle", "axis-label", c->x_label);
	/* series */
	for (size_t s = 0; s < c->n_series; s++) {
		gm_buf_addf(out,
		            "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" "
		            "stroke-width=\"2\" points=\"",
		            c->series[s].color);
		for (size_t i = 0; i < c->n_points; i++) {
			double v = isfinite(c->series[s].y[i]) ? c->series[s].y[i] : 0;
			gm_buf_addf(out, "%s%.1f,%.1f", i ? " " : "",
			            left + (double)i / xmax * plot_w,
			            top + plot_h - v / ymax * plot_h);
		}
		gm_buf_adds(out, "\"/>\n");
		/* legend */
		double lx = left + 10 + (double)s * 160, ly = top + 8;
		gm_buf_addf(
		        out,
		        "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n",
		        lx, ly, c->series[s].color);
		text(out, lx + 16, ly + 10, "start", "legend", c->series[s].name);
	}
	if (c->marker_x >= 0 && c->marker_x <= xmax) {
		double x = left + c->marker_x / xmax * plot_w;
		gm_buf_addf(
		        out,
		        "<line class=\"marker\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		        "stroke-dasharray=\"4 3\"/>\n",
		        x, top, x, top + plot_h);
		if (c->marker_label)
			text(out, x + 4, top + plot_h - 8, "start", "marker-label",
			     c->marker_label);
	}
	gm_buf_adds(out, "</svg>\n");
}

void gm_svg_bars(const struct gm_svg_bar_chart *c, int width, struct gm_buf *out)
{
	const double left = 110, right = 70, top = 34, bar_h = 22, gap = 10;
	int height = (int)(top + (double)c->n_bars * (bar_h + gap) + 10);
	double plot_w = width - left - right;
	double vmax = c->reference > 0 ? c->reference : 0;
	for (size_t i = 0; i < c->n_bars; i++)
		if (isfinite(c->bars[i].value) && c->bars[i].value > vmax)
			vmax = c->bars[i].value;
	double step;
	vmax = gm_svg_nice_max(vmax, &step);

	gm_buf_addf(out,
	            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart bar-chart\" "
	            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
	            width, height, width, height);
	gm_buf_adds(out, "<title>");
	gm_xml_escape(out, c->title);
	gm_buf_adds(out, "</title>\n");
	text(out, 8, 20, "start", "chart-title", c->title);
	for (size_t i = 0; i < c->n_bars; i++) {
		const struct gm_svg_bar *b = &c->bars[i];
		double y = top + (double)i * (bar_h + gap);
		double v = isfinite(b->value) && b->value > 0 ? b->value : 0;
		text(out, left - 8, y + bar_h * 0.7, "end", "bar-label", b->label);
		gm_buf_addf(
		        out,
		        "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		        "fill=\"%s\"/>\n",
		        left, y, v / vmax * plot_w, bar_h, b->color ? b->color : "#4e79a7");
		struct gm_buf label = GM_BUF_INIT;
		if (isfinite(b->value))
			gm_buf_addf(&label, "%.2f%s", b->value, c->unit ? c->unit : "");
		else
			gm_buf_adds(&label, "n/a");
		text(out, left + v / vmax * plot_w + 6, y + bar_h * 0.7, "start", "bar-value",
		     gm_buf_cstr(&label));
		gm_buf_release(&label);
	}
	if (c->reference > 0) {
		double x = left + c->reference / vmax * plot_w;
		gm_buf_addf(out,
		            "<line class=\"marker\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%d\" "
		            "stroke-dasharray=\"4 3\"/>\n",
		            x, top - 6, x, height - 4);
	}
	gm_buf_adds(out, "</svg>\n");
}
