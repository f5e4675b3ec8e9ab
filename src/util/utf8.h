/* UTF-8 validation, shared by the JSON writer (which replaces bad bytes) and the document
 * reader (which refuses them: YAML and JSON files must be UTF-8, and libfyaml 0.7 can loop
 * forever on some invalid bytes). */
#ifndef GM_UTF8_H
#define GM_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence at s, of which left bytes are readable; 0 when
 * the bytes there are not valid UTF-8 (overlong forms and surrogates included). */
size_t gm_utf8_len(const unsigned char *s, size_t left);

/* True when all len bytes of s are valid UTF-8; otherwise false with *bad set to the offset
 * of the first invalid byte. */
bool gm_utf8_valid(const char *s, size_t len, size_t *bad);

#endif
