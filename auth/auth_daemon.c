#include "auth_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "decider.h"
#include "fdpass.h"
#include "ipc.h"
#include "log.h"
#include "mqtt_codec.h"
#include "sandbox.h"
#include "tls_keys.h"

#define AUTH_OUT_MAX (4u * 1024u * 1024u)

struct auth_state {
    int argc;
    char **argv;
    struct config *cfg;
    struct decider *d;
    struct ipc_chan chan;
    bool have_chan;
    struct tls_keys *keys;
    int key_fd; /* handshake signatures for the worker (common/keysign.h), -1 if none */
};

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void open_channel(struct auth_state *st, int fd)
{
    if (st->have_chan) {
        close(st->chan.fd);
        ipc_chan_free(&st->chan);
        st->have_chan = false;
    }
    set_nonblock(fd);
    if (ipc_chan_init(&st->chan, fd, AUTH_OUT_MAX) != 0) {
        log_error("cannot set up the worker channel");
        close(fd);
        return;
    }
    st->have_chan = true;
    decider_worker_reset(st->d); /* a new worker: every counted connection is gone */
    struct ipc_msg hello = {.type = IPC_HELLO, .u.hello.generation = decider_generation(st->d)};
    ipc_chan_send(&st->chan, &hello);
    ipc_chan_flush(&st->chan);
}

static void handle(struct auth_state *st, const struct ipc_msg *m)
{
    struct ipc_msg out = {.req_id = m->req_id};
    char principal[256];
    switch (m->type) {
    case IPC_CONNECT_REQ:
        out.type = IPC_CONNECT_RESP;
        decider_connect(st->d, &m->u.connect_req, &out.u.connect_resp, principal,
                        sizeof(principal));
        break;
    case IPC_AUTH_REQ:
        out.type = IPC_CONNECT_RESP;
        decider_auth_step(st->d, &m->u.connect_req, &out.u.connect_resp, principal,
                          sizeof(principal));
        break;
    case IPC_ACL_REQ:
        out.type = IPC_ACL_RESP;
        decider_acl(st->d, &m->u.acl_req, &out.u.acl_resp);
        break;
    case IPC_SESSION_CHECK_REQ:
        out.type = IPC_SESSION_CHECK_RESP;
        out.u.check_resp.allow = decider_session_check(st->d, &m->u.check_req);
        out.u.check_resp.generation = decider_generation(st->d);
        break;
    case IPC_SESSION_END:
        decider_session_end(st->d, &m->u.session_end);
        return; /* a notification: no answer */
    case IPC_TLS_REFUSED:
        decider_tls_refused(st->d, &m->u.tls_refused);
        return;
    default:
        log_warn("unexpected message type %u from the worker; ignored", m->type);
        return;
    }
    if (ipc_chan_send(&st->chan, &out) != 0)
        log_error("worker channel output full; reply %u dropped", m->req_id);
}

static void reload(struct auth_state *st)
{
    struct config *next = malloc(sizeof(*next));
    struct cmdline cl;
    char err[4096];
    if (!next) {
        log_error("reload: out of memory; keeping the current configuration");
        return;
    }
    bool cfg_ok = cmdline_parse(st->argc, st->argv, &cl, next, err, sizeof(err)) == 0;
    if (!cfg_ok)
        decider_reload_refused(st->d, err);
    if (!cfg_ok || decider_reload(st->d, next, err, sizeof(err)) != 0) {
        log_error("reload failed, keeping the current configuration and policy:\n%s", err);
        free(next);
        return;
    }
    *st->cfg = *next;
    free(next);
    log_info("configuration reloaded: policy %s, anonymous %s, generation %u",
             st->cfg->policy[0] ? st->cfg->policy : "(built-in rules)",
             st->cfg->allow_anonymous ? "allowed" : "refused", decider_generation(st->d));
    if (st->have_chan) {
        struct ipc_msg g = {.type = IPC_GENERATION,
                            .u.generation.generation = decider_generation(st->d)};
        ipc_chan_send(&st->chan, &g);
    }
}

static void drop_channel(struct auth_state *st, const char *why)
{
    log_warn("worker channel closed: %s", why);
    close(st->chan.fd);
    ipc_chan_free(&st->chan);
    st->have_chan = false;
}

static void serve_channel(struct auth_state *st)
{
    for (;;) {
        long n = ipc_chan_read(&st->chan);
        if (n == 0) {
            drop_channel(st, "end of file");
            return;
        }
        if (n == -1) {
            drop_channel(st, strerror(errno));
            return;
        }
        struct ipc_msg m;
        int rc;
        while ((rc = ipc_chan_next(&st->chan, &m)) == IPC_OK)
            handle(st, &m);
        if (rc != IPC_NEED_MORE) {
            drop_channel(st, ipc_err_str(rc));
            return;
        }
        if (n == -2)
            return;
    }
}

int auth_main(int argc, char **argv, const struct cmdline *cl, struct config *cfg)
{
    static struct auth_state st;
    if (!cl->no_sandbox)
        sandbox_watch(SANDBOX_AUTH, cl->ctl_fd);
    st.argc = argc;
    st.argv = argv;
    st.cfg = cfg;
    char err[4096];
    /* Policy, plugins and the audit log are opened before the sandbox closes the door. */
    st.d = decider_new(cfg, err, sizeof(err));
    if (!st.d) {
        log_error("cannot start the auth daemon:\n%s", err);
        return 1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
#ifdef BULWARK_TEST_HOOKS
    sigaddset(&mask, SIGUSR2); /* tests: make a forbidden system call */
#endif
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    set_nonblock(cl->ctl_fd);
    open_channel(&st, cl->ipc_fd);
    /* TLS private keys: read now (they may be root-only), never by the worker. */
    st.keys = tls_keys_load(cfg, err, sizeof(err));
    if (!st.keys) {
        log_error("cannot start the auth daemon: TLS key: %s", err);
        return 1;
    }
    st.key_fd = cl->key_fd;
    set_nonblock(st.key_fd);

    /* Setup is done: no network, no exec; files only read, beneath the directories of the
     * configuration and the policy, which SIGHUP re-reads (docs/HARDENING.md). */
    int keep[6] = {sigfd, cl->ctl_fd, st.key_fd, st.have_chan ? st.chan.fd : -1, -1, -1};
    size_t n_keep = 4 + decider_fds(st.d, keep + 4, 2);
    char policy[CONFIG_PATH_MAX + sizeof(cfg->path)];
    struct sandbox_plan plan = {.role = SANDBOX_AUTH,
                                .switch_user = cl->run_as,
                                .uid = cl->run_uid,
                                .gid = cl->run_gid,
                                .allow_root = cfg->sandbox.allow_root,
                                .keep_fds = keep,
                                .n_keep = n_keep,
                                .report_fd = cl->ctl_fd};
    if (cl->config_path)
        plan.read_files[plan.n_read_files++] = cl->config_path;
    if (config_policy_path(cfg, policy, sizeof(policy))[0])
        plan.read_files[plan.n_read_files++] = policy;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const char *rev = cfg->listeners[i].tls.revoked;
        if (!cfg->listeners[i].tls.enabled || !rev[0])
            continue;
        if (plan.n_read_files == SANDBOX_MAX_PATHS) {
            log_error("too many revocation lists in different places (at most %d files)",
                      SANDBOX_MAX_PATHS - 2);
            return 1;
        }
        plan.read_files[plan.n_read_files++] = rev;
    }
    if (sandbox_start_role(&plan, cl->no_sandbox) != 0)
        return 1;
    log_info("auth daemon ready (generation %u, policy %s)", decider_generation(st.d),
             cfg->policy[0] ? cfg->policy : "(built-in rules)");

    for (;;) {
        struct pollfd p[4] = {{.fd = sigfd, .events = POLLIN},
                              {.fd = cl->ctl_fd, .events = POLLIN},
                              {.fd = st.have_chan ? st.chan.fd : -1, .events = POLLIN},
                              {.fd = st.key_fd, .events = POLLIN}};
        if (st.have_chan && ipc_chan_pending_output(&st.chan))
            p[2].events |= POLLOUT;
        if (poll(p, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            return 1;
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    reload(&st);
#ifdef BULWARK_TEST_HOOKS
                } else if (si.ssi_signo == SIGUSR2) {
                    sandbox_test_violation();
#endif
                } else {
                    log_info("stopping");
                    decider_free(st.d);
                    tls_keys_free(st.keys);
                    return 0;
                }
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            char tag;
            int fd;
            int r = fdpass_recv(cl->ctl_fd, &tag, &fd);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                log_info("supervisor gone; stopping");
                decider_free(st.d);
                tls_keys_free(st.keys);
                return 0;
            }
            if (r > 0 && tag == 'P' && fd >= 0) {
                log_info("new worker channel");
                open_channel(&st, fd);
                continue;
            }
            if (r > 0 && tag == 'K' && fd >= 0) {
                if (st.key_fd >= 0)
                    close(st.key_fd);
                st.key_fd = fd;
                set_nonblock(fd);
                continue;
            }
            if (r > 0 && fd >= 0)
                close(fd);
        }
        /* Signatures first: a handshake in the worker waits for each one. */
        if (st.key_fd >= 0 && (p[3].revents & (POLLIN | POLLHUP | POLLERR)) &&
            tls_keys_serve(st.keys, st.key_fd) != 0) {
            close(st.key_fd);
            st.key_fd = -1;
        }
        if (st.have_chan && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
            serve_channel(&st);
        if (st.have_chan && ipc_chan_flush(&st.chan) < 0)
            drop_channel(&st, strerror(errno));
    }
}
