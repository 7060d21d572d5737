/* The contract's names and numbers, spelled once.  State machines match the
 * error names in Retry and Catch; Step Functions refuses what is over the
 * limits.  The wrapper produces these names, `check` looks for them and
 * `template` writes them: all three include this header. */
#ifndef SFN_CONTRACT_H
#define SFN_CONTRACT_H

/* Error names the agent reports with SendTaskFailure. */
#define SFN_ERR_SCRIPT_FAILED "ScriptFailed"         /* the command exited non-zero or was killed */
#define SFN_ERR_SCRIPT_TIMED_OUT "ScriptTimedOut"    /* --timeout ran out */
#define SFN_ERR_CONTAINER_STOPPED "ContainerStopped" /* SIGTERM/SIGINT reached the agent (ECS StopTask) */
#define SFN_ERR_OUTPUT_INVALID "OutputInvalid"       /* the output is not JSON or is too large */
#define SFN_ERR_EXEC_FAILED "ExecFailed"             /* the command could not be started */

/* Step Functions' limits. */
#define OUTPUT_MAX_BYTES 262144 /* SendTaskSuccess output, UTF-8 bytes as sent */
#define INPUT_MAX_BYTES 262144  /* StartExecution input */
#define CAUSE_MAX_BYTES 32768   /* SendTaskFailure cause */
#define ERROR_NAME_MAX 256      /* SendTaskFailure error, in characters */
#define TOKEN_MAX_CHARS 2048    /* a task token */
/* ECS RunTask: the overrides, as JSON, in characters. */
#define RUNTASK_OVERRIDES_MAX 8192

#endif
