/* Running somebody else's small program and reading what it prints: credential helpers
 * (docker-credential-*, an AWS profile's credential_process) are programs that may block
 * on a locked keyring or a network call, print without end, or chatter on stderr. One
 * careful runner serves them all: no shell, its own process group, a deadline, a cap on
 * its output, its stderr shown only at -v, and the whole group killed when it overstays.
 * A strict splitter turns a configured command line into the argv it runs. */
#ifndef GM_UTIL_SPAWN_H
#define GM_UTIL_SPAWN_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Runs argv (a NULL-terminated list; argv[0] is looked up in $PATH unless it holds a '/')
 * with no shell, in the environment of this process, in a process group of its own, and
 * appends what it prints on stdout to out.
 *
 * stdin: stdin_data (NUL-terminated) is written to it and then it is closed; NULL gives it
 * /dev/null. It is a socket, so a program that never reads it cannot raise SIGPIPE here.
 * stderr: this process's stderr at log level INFO (-v) or above, /dev/null below.
 * timeout_ms bounds the whole run (printing and exiting); past it, or past max_output bytes
 * of stdout, the program's process group is killed with SIGKILL and reaped.
 *
 * what names the program in messages ("credential helper 'docker-credential-x' (named by
 * 'config.json')"); neither its arguments nor its output ever appear in a message or a
 * log line (they may hold secrets), so the caller wipes out once done, on every path.
 *
 * On GM_OK the program exited (or was killed by a signal of its own) and *status holds its
 * wait status (see gm_spawn_status_text); judging it is the caller's.
 * Errors: GM_ERR_NOT_FOUND when argv[0] is not in $PATH (or the path does not exist):
 * "<what>: '<argv[0]>' is not in $PATH" (callers often replace it with a message that says
 * where the name came from); GM_ERR_PERMISSION when it is not executable; GM_ERR_UNREACHABLE
 * when it did not finish within timeout_ms ("<what> did not answer within N ms; it was
 * stopped", or "did not exit" when it closed stdout but kept running); GM_ERR_LIMIT when it
 * printed more than max_output ("<what> printed more than N KiB; it was stopped");
 * GM_ERR_USAGE for an empty argv; GM_ERR_IO when it cannot be started or waited for. */
enum gm_rc gm_spawn_capture(const char *const argv[], const char *stdin_data, unsigned timeout_ms,
                            size_t max_output, const char *what, struct gm_buf *out, int *status,
                            struct gm_err *err);

/* The value of environment variable var when it is a whole number of milliseconds from 1 to
 * 3600000, else dflt. Meant for tests, which need a short deadline. */
unsigned gm_spawn_timeout_ms(const char *var, unsigned dflt);

/* A wait status in words, appended to out: "exit status 3", "killed by signal 9". */
void gm_spawn_status_text(int status, struct gm_buf *out);

/* Splits a command line as a POSIX shell (and Python's shlex.split, which the AWS CLI uses)
 * would, without expanding anything: words are separated by blanks (space, tab, newline,
 * CR); '...' keeps everything inside as it is; "..." too, except that \" and \\ stand for
 * " and \; outside quotes a backslash keeps the next character as it is. '' and "" make an
 * empty word. No variables, globs, comments, redirections or pipes: $, *, #, | … are plain
 * characters.
 *
 * On GM_OK *argv is a NULL-terminated array of *argc >= 1 words (the array and each word
 * malloc'ed: free with gm_spawn_argv_free). Errors (GM_ERR_PARSE; the message never quotes
 * the line, which may hold a secret): an unbalanced ' or ", a backslash at the very end, a
 * line with no word at all. */
enum gm_rc gm_spawn_split(const char *line, char ***argv, size_t *argc, struct gm_err *err);

/* Frees an argv from gm_spawn_split, wiping each word first; accepts NULL. */
void gm_spawn_argv_free(char **argv);

#endif
