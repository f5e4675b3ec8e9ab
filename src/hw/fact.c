/* Setting, failing and freeing facts; the one place their ownership rules live. */
#include "hw/fact.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

static const char *const state_names[] = {
        [GM_FACT_UNKNOWN] = "unknown",
        [GM_FACT_OK] = "ok",
        [GM_FACT_UNSUPPORTED] = "unsupported",
        [GM_FACT_ERROR] = "error",
};

const char *gm_fact_state_name(enum gm_fact_state state)
{
	if ((unsigned)state < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[state];
	return "unknown";
}

bool gm_fact_state_parse(const char *name, enum gm_fact_state *out)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (name && strcmp(name, state_names[i]) == 0) {
			*out = (enum gm_fact_state)i;
			return true;
		}
	}
	return false;
}

void gm_fact_release(struct gm_fact *f)
{
	if (!f)
		return;
	GM_FREE(f->why);
	f->state = GM_FACT_UNKNOWN;
}

void gm_fact_fail(struct gm_fact *f, enum gm_fact_state state, const char *why)
{
	free(f->why);
	f->state = state == GM_FACT_OK ? GM_FACT_ERROR : state;
	f->why = gm_xstrdup(why ? why : gm_fact_state_name(f->state));
}

void gm_fact_copy(struct gm_fact *dst, const struct gm_fact *src)
{
	if (src->state == GM_FACT_OK) {
		GM_FREE(dst->why);
		dst->state = GM_FACT_OK;
		return;
	}
	gm_fact_fail(dst, src->state, src->why);
}

void gm_fact_set_ok(struct gm_fact *f)
{
	GM_FREE(f->why);
	f->state = GM_FACT_OK;
}

void gm_fint_set(struct gm_fint *f, int64_t v)
{
	gm_fact_set_ok(&f->f);
	f->v = v;
}

void gm_fbool_set(struct gm_fbool *f, bool v)
{
	gm_fact_set_ok(&f->f);
	f->v = v;
}

void gm_fstr_take(struct gm_fstr *f, char *s)
{
	gm_fact_set_ok(&f->f);
	free(f->v);
	f->v = s;
}

void gm_fstr_set(struct gm_fstr *f, const char *s)
{
	gm_fstr_take(f, gm_xstrdup(s));
}

void gm_fstr_release(struct gm_fstr *f)
{
	if (!f)
		return;
	gm_fact_release(&f->f);
	GM_FREE(f->v);
}
