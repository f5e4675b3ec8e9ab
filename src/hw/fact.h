/* Facts about a host that may be unknown. Every field gpumigrate reports about a machine
 * carries its state: known (with a value), unsupported by this hardware/driver, or unknown
 * because it could not be read — always with the reason. Unsupported is never shown as 0. */
#ifndef GM_FACT_H
#define GM_FACT_H

#include <stdbool.h>
#include <stdint.h>

enum gm_fact_state {
	GM_FACT_UNKNOWN = 0, /* not collected (yet) */
	GM_FACT_OK,          /* value is valid */
	GM_FACT_UNSUPPORTED, /* this device/driver/host cannot report it */
	GM_FACT_ERROR,       /* reading it failed; why says how */
};

struct gm_fact {
	enum gm_fact_state state;
	char *why; /* owned; NULL when state is GM_FACT_OK */
};

struct gm_fint {
	struct gm_fact f;
	int64_t v;
};

struct gm_fbool {
	struct gm_fact f;
	bool v;
};

struct gm_fstr {
	struct gm_fact f;
	char *v; /* owned */
};

/* The state names used in JSON and tables: "ok", "unsupported", "error", "unknown". */
const char *gm_fact_state_name(enum gm_fact_state state);
/* Parses a state name; returns false for anything else. */
bool gm_fact_state_parse(const char *name, enum gm_fact_state *out);

static inline bool gm_fact_ok(const struct gm_fact *f)
{
	return f->state == GM_FACT_OK;
}

/* Marks a fact as known (for facts that carry no value of their own, such as "the list
 * below could be read"). */
void gm_fact_set_ok(struct gm_fact *f);
/* Marks a fact as not known: state must not be GM_FACT_OK; why is copied. */
void gm_fact_fail(struct gm_fact *f, enum gm_fact_state state, const char *why);
/* Copies state and reason from another fact (e.g. "driver not loaded" to every GPU field). */
void gm_fact_copy(struct gm_fact *dst, const struct gm_fact *src);
void gm_fact_release(struct gm_fact *f);

void gm_fint_set(struct gm_fint *f, int64_t v);
void gm_fbool_set(struct gm_fbool *f, bool v);
/* Copies s. */
void gm_fstr_set(struct gm_fstr *f, const char *s);
/* Takes ownership of s. */
void gm_fstr_take(struct gm_fstr *f, char *s);
void gm_fstr_release(struct gm_fstr *f);

#define gm_fint_release(x)  gm_fact_release(&(x)->f)
#define gm_fbool_release(x) gm_fact_release(&(x)->f)

#endif
