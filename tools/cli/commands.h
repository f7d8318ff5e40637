/* The CLI's subcommands; each returns the process exit code (a varia_status). */
#ifndef VARIA_CLI_COMMANDS_H
#define VARIA_CLI_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_reconstruct(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_ais(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_parzen(int argc, char **argv);

#endif
