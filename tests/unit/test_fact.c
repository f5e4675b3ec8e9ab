/* Unit tests for facts: values, failure reasons, ownership, state names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hw/fact.h"

static void set_and_fail(void **state)
{
	(void)state;
	struct gm_fint i = {0};
	assert_int_equal(i.f.state, GM_FACT_UNKNOWN);
	gm_fint_set(&i, 7);
	assert_true(gm_fact_ok(&i.f));
	assert_null(i.f.why);
	gm_fact_fail(&i.f, GM_FACT_UNSUPPORTED, "Not Supported");
	assert_int_equal(i.f.state, GM_FACT_UNSUPPORTED);
	assert_string_equal(i.f.why, "Not Supported");
	/* failing "as OK" is a caller bug: it becomes an error, never a valid value */
	gm_fact_fail(&i.f, GM_FACT_OK, NULL);
	assert_int_equal(i.f.state, GM_FACT_ERROR);
	assert_string_equal(i.f.why, "error");
	gm_fint_set(&i, 8);
	assert_null(i.f.why);
	gm_fint_release(&i);

	struct gm_fstr s = {0};
	gm_fstr_set(&s, "A100");
	gm_fstr_set(&s, s.v); /* setting from its own value is safe */
	assert_string_equal(s.v, "A100");
	gm_fstr_release(&s);
	assert_null(s.v);
	assert_int_equal(s.f.state, GM_FACT_UNKNOWN);

	struct gm_fbool b = {0}, c = {0};
	gm_fact_fail(&b.f, GM_FACT_ERROR, "cannot read /proc/modules");
	gm_fact_copy(&c.f, &b.f);
	assert_int_equal(c.f.state, GM_FACT_ERROR);
	assert_string_equal(c.f.why, "cannot read /proc/modules");
	assert_ptr_not_equal(c.f.why, b.f.why);
	gm_fbool_set(&b, true);
	gm_fact_copy(&c.f, &b.f);
	assert_true(gm_fact_ok(&c.f));
	gm_fbool_release(&b);
	gm_fbool_release(&c);
}

static void state_names_round_trip(void **state)
{
	(void)state;
	enum gm_fact_state s;
	for (int i = GM_FACT_UNKNOWN; i <= GM_FACT_ERROR; i++) {
		assert_true(gm_fact_state_parse(gm_fact_state_name((enum gm_fact_state)i), &s));
		assert_int_equal(s, i);
	}
	assert_false(gm_fact_state_parse("fine", &s));
	assert_false(gm_fact_state_parse(NULL, &s));
	assert_string_equal(gm_fact_state_name(GM_FACT_UNSUPPORTED), "unsupported");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(set_and_fail),
	        cmocka_unit_test(state_names_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
