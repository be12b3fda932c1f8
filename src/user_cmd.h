/*
 * user_cmd.h - `catchup-jobs user add` and `catchup-jobs user list` (SPEC §3,
 * §7): create a CatchUp user and its Google account without the web app,
 * and print every user.
 *
 *   user add --email E [--phone +E164] [--timezone IANA] [--notify sms|email]
 *            [--waking HH:MM-HH:MM] [--google-refresh-token T |
 *            --google-refresh-token-file PATH|-] [--id ID]
 *     prints the new id alone on stdout. Defaults: Etc/UTC, email,
 *     08:00-21:00, a random 128-bit hex id. The refresh token (a file's
 *     trailing newline stripped; "-" reads standard input) is sealed with
 *     the token key as `serve` loads it and never printed or logged. With a
 *     token, the user's first google-contacts-sync and calendar-sync are
 *     enqueued under task ids derived from the user id, best effort: a
 *     failure is one warning line on stderr and the command still succeeds.
 *   user list
 *     one JSON object per line, the items of GET /admin/users.
 *
 * Both open the database as `serve` does (pending migrations applied). Log
 * lines go to stderr (at LOG_LEVEL info, warnings and errors only): stdout
 * carries only the command's output. Exit
 * status as cli.h: 3 when the id or the e-mail (whatever its case) is
 * taken; 2 for a bad flag or value, named; 1 when the database fails.
 */
#ifndef CJ_USER_CMD_H
#define CJ_USER_CMD_H

/* argv[1] is "user". Returns the process exit status. */
int user_cmd_run(int argc, char **argv);

#endif
