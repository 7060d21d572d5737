/* The subcommands.  Each lives in a file of its own and returns the process
 * exit status. */
#ifndef SFN_COMMANDS_H
#define SFN_COMMANDS_H

int cmd_run(int argc, char **argv);           /* src/cmd_run.c */
int cmd_send_success(int argc, char **argv);  /* src/cmd_send.c */
int cmd_send_failure(int argc, char **argv);
int cmd_send_heartbeat(int argc, char **argv);
int cmd_start(int argc, char **argv);         /* src/cmd_start.c */
int cmd_check(int argc, char **argv);         /* src/cmd_check.c */
int cmd_template(int argc, char **argv);      /* src/cmd_template.c */

#endif
