/* Unit tests for the SVG charts: axis scaling, escaping, marker placement, n/a bars. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "assess/svg.h"

static void nice_max_steps(void **state)
{
	(void)state;
	double step;
	assert_true(gm_svg_nice_max(7, &step) == 10 && step == 2);
	assert_true(gm_svg_nice_max(1.2e6, &step) == 2e6 && step == 4e5);
	assert_true(gm_svg_nice_max(2.2, &step) == 2.5 && step == 0.5);
	assert_true(gm_svg_nice_max(100, &step) == 100);
	assert_true(gm_svg_nice_max(0, &step) == 1);
	assert_true(gm_svg_nice_max(NAN, &step) == 1);
}

static void escaping(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	gm_xml_escape(&b, "<a href=\"x\">R&D's</a>");
	assert_string_equal(b.data, "&lt;a href=&quot;x&quot;&gt;R&amp;D&#39;s&lt;/a&gt;");
	gm_buf_release(&b);
}

static void line_chart_geometry(void **state)
{
	(void)state;
	const double cloud[] = {0, 100, 200};
	const double onprem[] = {150, 160, 170};
	const struct gm_svg_series series[] = {{"cloud", "#e15759", cloud},
	                                       {"on-prem <new>", "#4e79a7", onprem}};
	struct gm_svg_line_chart c = {"Cumulative cost", "month", "USD", 3, series, 2, 1.5,
	                              "break-even"};
	struct gm_buf b = GM_BUF_INIT;
	gm_svg_line(&c, 600, 300, &b);
	/* plot: left 70, right 20 → 510 wide; top 36, bottom 44 → 220 high; ymax nice(200)=200 */
	assert_non_null(strstr(b.data, "points=\"70.0,256.0 325.0,146.0 580.0,36.0\""));
	assert_non_null(strstr(b.data, "points=\"70.0,91.0 325.0,80.0 580.0,69.0\""));
	/* marker at x = 1.5 of 2 → 70 + 0.75 * 510 */
	assert_non_null(strstr(b.data, "x1=\"452.5\""));
	assert_non_null(strstr(b.data, "on-prem &lt;new&gt;"));
	assert_int_equal(strncmp(b.data, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39), 0);
	assert_non_null(strstr(b.data, "</svg>\n"));
	gm_buf_release(&b);

	c.marker_x = -1;
	gm_svg_line(&c, 600, 300, &b);
	assert_null(strstr(b.data, "class=\"marker\""));
	gm_buf_release(&b);
}

static void bar_chart_values(void **state)
{
	(void)state;
	const struct gm_svg_bar bars[] = {{"training (bf16)", 1.16, NULL},
	                                  {"inference", NAN, "#f28e2b"}};
	struct gm_svg_bar_chart c = {"Capacity", "\xc3\x97", bars, 2, 1.0};
	struct gm_buf b = GM_BUF_INIT;
	gm_svg_bars(&c, 700, &b);
	assert_non_null(strstr(b.data, ">1.16\xc3\x97</text>"));
	assert_non_null(strstr(b.data, ">n/a</text>"));
	assert_non_null(strstr(b.data, "class=\"marker\""));
	/* 2 bars: height = 34 + 2 * 32 + 10 */
	assert_non_null(strstr(b.data, "height=\"108\""));
	gm_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(nice_max_steps),
	        cmocka_unit_test(escaping),
	        cmocka_unit_test(line_chart_geometry),
	        cmocka_unit_test(bar_chart_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
