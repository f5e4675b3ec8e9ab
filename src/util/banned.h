/* Functions that are easy to misuse with untrusted sizes. Including this header last in a .c
 * file turns any call to them into a compile error that names the function. Use gm_buf and
 * gm_parse_* instead. */
#ifndef GM_BANNED_H
#define GM_BANNED_H

#define GM_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) GM_BANNED(strcpy)
#undef strcat
#define strcat(x, y) GM_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) GM_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) GM_BANNED(strncat)
#undef sprintf
#define sprintf(...) GM_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) GM_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) GM_BANNED(strtok)
#undef atoi
#define atoi(x) GM_BANNED(atoi)
#undef atol
#define atol(x) GM_BANNED(atol)
#undef gets
#define gets(x) GM_BANNED(gets)

#endif
