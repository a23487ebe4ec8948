#ifndef CINDER_CMD_H
#define CINDER_CMD_H
/* The command-line verbs. Each returns the process exit status:
 * 0 success, 1 usage or I/O error, 2 malformed input. */

int cmd_main(int argc, char **argv);
int cmd_serve(int argc, char **argv);  /* cmd_serve.c */
int cmd_yjs(int argc, char **argv);    /* cmd_yjs.c: argv[0] is "yjs" */
int cmd_doc(int argc, char **argv);    /* cmd_doc.c: argv[0] is "doc" */

#endif
