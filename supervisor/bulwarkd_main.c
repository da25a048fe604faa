/* bulwarkd: one binary, three roles chosen by --role (see docs/ARCHITECTURE.md). */
#include <stdio.h>
#include <stdlib.h>

#include "auth_daemon.h"
#include "cmdline.h"
#include "log.h"
#include "sandbox_selftest.h"
#include "supervisor.h"
#include "worker.h"

#define BULWARK_VERSION "0.1.0"
#ifdef BULWARK_TEST_HOOKS
#define BUILD_NOTE " (test build: SIGUSR2 makes a role break its sandbox)"
#else
#define BUILD_NOTE ""
#endif

int main(int argc, char **argv)
{
    static struct config cfg; /* large (user table): not on the stack */
    struct cmdline cl;
    char err[1024];
    log_init("bulwarkd", LOG_INFO);
    if (cmdline_parse(argc, argv, &cl, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "bulwarkd: %s\n", err);
        return 2;
    }
    if (cl.help) {
        cmdline_usage();
        return 0;
    }
    if (cl.version) {
        printf("bulwarkd %s%s\n", BULWARK_VERSION, BUILD_NOTE);
        return 0;
    }
    if (cl.selftest) return sandbox_selftest((enum sandbox_role)cl.selftest_role);
    log_init(role_name(cl.role), (enum log_level)cfg.log_level);
    switch (cl.role) {
    case ROLE_WORKER:
        return worker_main(&cl, &cfg);
    case ROLE_AUTH:
        return auth_main(argc, argv, &cl, &cfg);
    default:
        return supervisor_main(argc, argv, &cl, &cfg);
    }
}
