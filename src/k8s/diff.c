/* Myers' line diff and the unified-diff writer. */
#include "k8s/diff.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

/* Past this many cells of the edit trace the middle is shown as one replacement. */
#define MAX_TRACE (64u << 20)

struct line {
	const char *s;
	size_t len; /* with its '\n', if any */
};

enum op { EQ, DEL, INS };

static struct line *split(const char *t, size_t len, size_t *n)
{
	size_t cap = 16, k = 0;
	struct line *v = gm_xcalloc(cap, sizeof(*v));
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(t + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - t) + 1 : len;
		if (k == cap) {
			cap *= 2;
			v = gm_xreallocarray(v, cap, sizeof(*v));
		}
		v[k++] = (struct line){t + i, e - i};
		i = e;
	}
	*n = k;
	return v;
}

static bool same(const struct line *a, const struct line *b)
{
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

struct ops {
	enum op *v;
	size_t n, cap;
};

static void push(struct ops *o, enum op op)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		o->v = gm_xreallocarray(o->v, o->cap, sizeof(*o->v));
	}
	o->v[o->n++] = op;
}

/* Myers on a[0..n) and b[0..m): appends the ops in order. */
static void myers(const struct line *a, size_t n, const struct line *b, size_t m, struct ops *o)
{
	size_t max = n + m, width = 2 * max + 1;
	if (max == 0)
		return;
	int *v = gm_xcalloc(width, sizeof(*v));
	int **trace = gm_xcalloc(max + 1, sizeof(*trace));
	size_t cells = 0, d_end = 0;
	bool found = false;
	long off = (long)max;
	for (size_t d = 0; d <= max && !found; d++) {
		cells += width;
		if (cells > MAX_TRACE)
			break;
		trace[d] = gm_xmalloc(width * sizeof(int));
		for (long k = -(long)d; k <= (long)d; k += 2) {
			int x;
			if (k == -(long)d || (k != (long)d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			int y = (int)(x - k);
			while ((size_t)x < n && (size_t)y < m && same(&a[x], &b[y]))
				x++, y++;
			v[off + k] = x;
			if ((size_t)x >= n && (size_t)y >= m) {
				found = true;
				break;
			}
		}
		memcpy(trace[d], v, width * sizeof(int));
		d_end = d;
	}
	if (!found) {
		for (size_t i = 0; i < n; i++)
			push(o, DEL);
		for (size_t i = 0; i < m; i++)
			push(o, INS);
	} else {
		/* walk back from (n, m), collecting ops in reverse */
		struct ops rev = {NULL, 0, 0};
		long x = (long)n, y = (long)m;
		for (size_t d = d_end + 1; d-- > 0;) {
			long k = x - y;
			if (d == 0) {
				while (x > 0 && y > 0)
					push(&rev, EQ), x--, y--;
				break;
			}
			const int *pv = trace[d - 1];
			long pk;
			if (k == -(long)d || (k != (long)d && pv[off + k - 1] < pv[off + k + 1]))
				pk = k + 1;
			else
				pk = k - 1;
			long px = pv[off + pk], py = px - pk;
			while (x > px && y > py)
				push(&rev, EQ), x--, y--;
			if (x == px)
				push(&rev, INS), y--;
			else
				push(&rev, DEL), x--;
		}
		for (size_t i = rev.n; i-- > 0;)
			push(o, rev.v[i]);
		free(rev.v);
	}
	for (size_t d = 0; d <= max; d++)
		free(trace[d]);
	free(trace);
	free(v);
}

static void emit_line(struct gm_buf *out, char mark, const struct line *l)
{
	gm_buf_addch(out, mark);
	gm_buf_add(out, l->s, l->len);
	if (l->len == 0 || l->s[l->len - 1] != '\n')
		gm_buf_adds(out, "\n\\ No newline at end of file\n");
}

size_t gm_k8s_diff(const char *a_name, const char *a, size_t a_len, const char *b_name,
                   const char *b, size_t b_len, struct gm_buf *out)
{
	size_t na = 0, nb = 0, changed = 0;
	struct line *la = split(a, a_len, &na), *lb = split(b, b_len, &nb);
	size_t pre = 0, suf = 0;
	while (pre < na && pre < nb && same(&la[pre], &lb[pre]))
		pre++;
	while (suf < na - pre && suf < nb - pre && same(&la[na - 1 - suf], &lb[nb - 1 - suf]))
		suf++;
	struct ops o = {NULL, 0, 0};
	for (size_t i = 0; i < pre; i++)
		push(&o, EQ);
	myers(la + pre, na - pre - suf, lb + pre, nb - pre - suf, &o);
	for (size_t i = 0; i < suf; i++)
		push(&o, EQ);
	/* positions in a and b before each op */
	size_t *pa = gm_xcalloc(o.n + 1, sizeof(*pa)), *pb = gm_xcalloc(o.n + 1, sizeof(*pb));
	for (size_t i = 0; i < o.n; i++) {
		pa[i + 1] = pa[i] + (o.v[i] != INS);
		pb[i + 1] = pb[i] + (o.v[i] != DEL);
		changed += o.v[i] != EQ;
	}
	if (changed)
		gm_buf_addf(out, "--- %s\n+++ %s\n", a_name, b_name);
	const size_t ctx = 3;
	size_t i = 0;
	while (changed && i < o.n) {
		while (i < o.n && o.v[i] == EQ)
			i++;
		if (i == o.n)
			break;
		size_t start = i > ctx ? i - ctx : 0, end = i;
		/* extend while the next change is within 2*ctx equal lines */
		for (;;) {
			while (end < o.n && o.v[end] != EQ)
				end++;
			size_t eq = end;
			while (eq < o.n && o.v[eq] == EQ && eq - end < 2 * ctx + 1)
				eq++;
			if (eq < o.n && o.v[eq] != EQ && eq - end <= 2 * ctx) {
				end = eq;
				continue;
			}
			end = end + ctx < o.n ? end + ctx : o.n;
			break;
		}
		size_t ca = pa[end] - pa[start], cb = pb[end] - pb[start];
		gm_buf_addf(out, "@@ -%zu", ca ? pa[start] + 1 : pa[start]);
		if (ca != 1)
			gm_buf_addf(out, ",%zu", ca);
		gm_buf_addf(out, " +%zu", cb ? pb[start] + 1 : pb[start]);
		if (cb != 1)
			gm_buf_addf(out, ",%zu", cb);
		gm_buf_adds(out, " @@\n");
		for (size_t k = start; k < end; k++) {
			if (o.v[k] == EQ)
				emit_line(out, ' ', &la[pa[k]]);
			else if (o.v[k] == DEL)
				emit_line(out, '-', &la[pa[k]]);
			else
				emit_line(out, '+', &lb[pb[k]]);
		}
		i = end;
	}
	free(pa);
	free(pb);
	free(o.v);
	free(la);
	free(lb);
	return changed;
}
