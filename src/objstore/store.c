/* What both object stores share of store.h: the object description's lifecycle and its
 * user-metadata pairs, and closing a store through its ops. */
#include "objstore/store.h"

#include <string.h>

#include "util/banned.h"

void gm_os_object_init(struct gm_os_object *o)
{
	memset(o, 0, sizeof(*o));
}

void gm_os_object_release(struct gm_os_object *o)
{
	if (!o)
		return;
	gm_buf_release(&o->key);
	gm_buf_release(&o->etag);
	gm_buf_release(&o->meta);
}

void gm_os_object_reset(struct gm_os_object *o)
{
	struct gm_buf key = o->key, etag = o->etag, meta = o->meta;
	gm_buf_reset(&key);
	gm_buf_reset(&etag);
	gm_buf_reset(&meta);
	memset(o, 0, sizeof(*o));
	o->key = key, o->etag = etag, o->meta = meta;
}

const char *gm_os_object_meta(const struct gm_os_object *o, const char *name)
{
	const char *p = o->meta.data, *end = p ? p + o->meta.len : NULL;
	while (p && p < end) {
		const char *value = p + strlen(p) + 1;
		if (value >= end)
			break;
		if (strcmp(p, name) == 0)
			return value;
		p = value + strlen(value) + 1;
	}
	return NULL;
}

void gm_os_object_meta_add(struct gm_os_object *o, const char *name, size_t name_len,
                           const char *value, size_t value_len)
{
	name_len = strnlen(name, name_len); /* a NUL inside would split the pair */
	value_len = strnlen(value, value_len);
	for (size_t i = 0; i < name_len; i++) {
		char ch = name[i];
		gm_buf_addch(&o->meta, ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch);
	}
	gm_buf_addch(&o->meta, '\0');
	gm_buf_add(&o->meta, value, value_len);
	gm_buf_addch(&o->meta, '\0');
}

void gm_os_close(struct gm_os *s)
{
	if (s)
		s->ops->close(s);
}
