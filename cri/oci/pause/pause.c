// flint-pause: the infra process of a Flint pod sandbox. It holds the pod's
// namespaces open, reaps zombies when it runs as PID 1 (shared PID namespace),
// and exits 0 on SIGTERM or SIGINT.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void reap_children(void) {
  for (;;) {
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid <= 0) return;
  }
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts("flint-pause 0.1.0");
    return 0;
  }
  // Block the signals we care about and take them synchronously: no handler
  // runs asynchronously, so there is nothing async-signal-unsafe to get wrong.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
    fprintf(stderr, "flint-pause: sigprocmask: %s\n", strerror(errno));
    return 1;
  }
  if (getpid() != 1) {
    fprintf(stderr, "flint-pause: not PID 1, zombies of other processes will not be reaped here\n");
  }
  for (;;) {
    int sig = 0;
    int rc = sigwait(&set, &sig);
    if (rc != 0) {
      fprintf(stderr, "flint-pause: sigwait: %s\n", strerror(rc));
      return 1;
    }
    if (sig == SIGCHLD) {
      reap_children();
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) {
      reap_children();
      return 0;
    }
  }
}
