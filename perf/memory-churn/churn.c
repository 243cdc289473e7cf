/* The churn workloads of perf/memory-churn/run.sh: real syscalls, no
 * kestrel code. Each mode prints "phase NAME" lines on stdout as it moves
 * on, so that the script can sample the daemon at the right moments, and
 * waits for a line on stdin where the script wants to sample while the
 * churning process still holds (or has just closed) its descriptors.
 *
 *   churn procs N EXEC_EVERY      N processes, one after another: fork and
 *                                 _exit, except every EXEC_EVERY-th child,
 *                                 which execs /bin/true (0: never)
 *   churn files N HOLD DIR        N distinct files in DIR created, closed
 *                                 and unlinked; then HOLD more opened at
 *                                 once ("phase held", wait), closed
 *                                 ("phase closed", wait) and unlinked
 *   churn sockets N               N loopback TCP connections (connecting
 *                                 side here, accepted side in a helper
 *                                 process) and N UDP sockets (in another
 *                                 helper) that each send one datagram,
 *                                 all held at once ("phase held", wait),
 *                                 then closed ("phase closed", wait; the
 *                                 helpers are still alive), then the
 *                                 helpers exit
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "churn: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void phase(const char *name) {
    printf("phase %s\n", name);
    fflush(stdout);
}

/* Blocks until the script has sampled (one line on stdin). */
static void await_go(void) {
    char buf[64];
    if (!fgets(buf, sizeof buf, stdin)) {
        /* stdin closed: go on */
    }
}

/* Descriptors: at least `n` (the hard limit may be below what root could
 * set: containers often run without CAP_SYS_RESOURCE). */
static void raise_nofile(rlim_t n) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) die("getrlimit(RLIMIT_NOFILE)");
    if (r.rlim_max != RLIM_INFINITY && r.rlim_max < n) {
        struct rlimit want = {n, n};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) return;
        fprintf(stderr, "churn: needs %llu descriptors per process, the hard limit is %llu "
                        "(raise it with ulimit -Hn, or use smaller counts)\n",
                (unsigned long long)n, (unsigned long long)r.rlim_max);
        exit(2);
    }
    r.rlim_cur = n;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) die("setrlimit(RLIMIT_NOFILE)");
}

/* A helper process holding one set of descriptors: it runs `open_all`,
 * writes one byte on `ready`, waits for one byte on `go`, runs
 * `close_all`, writes one byte, and exits once `go` closes. */
struct holder {
    pid_t pid;
    int ready, go;
};

static struct holder holder_start(void (*open_all)(void *), void (*close_all)(void *), void *arg) {
    int r[2], g[2];
    if (pipe2(r, O_CLOEXEC) != 0 || pipe2(g, O_CLOEXEC) != 0) die("pipe2");
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        char c = 0;
        close(r[0]);
        close(g[1]);
        open_all(arg);
        if (write(r[1], &c, 1) != 1) _exit(2);
        if (read(g[0], &c, 1) != 1) _exit(2);
        close_all(arg);
        if (write(r[1], &c, 1) != 1) _exit(2);
        while (read(g[0], &c, 1) > 0) {
        }
        _exit(0);
    }
    close(r[1]);
    close(g[0]);
    return (struct holder){p, r[0], g[1]};
}

static void holder_step(struct holder *h) {
    char c = 0;
    if (write(h->go, &c, 1) != 1) die("write to holder");
}

static void holder_wait(struct holder *h) {
    char c;
    if (read(h->ready, &c, 1) != 1) {
        fprintf(stderr, "churn: a holder process failed\n");
        exit(2);
    }
}

static void holder_end(struct holder *h) {
    int st;
    close(h->go);
    if (waitpid(h->pid, &st, 0) < 0) die("waitpid (holder)");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "churn: a holder process exited with status %d\n", st);
        exit(2);
    }
}

static int procs(long n, long exec_every) {
    char *const argv[] = {"true", NULL};
    char *const envp[] = {NULL};
    long execs = 0;
    for (long i = 1; i <= n; i++) {
        int ex = exec_every > 0 && i % exec_every == 0;
        pid_t p = fork();
        if (p < 0) die("fork");
        if (p == 0) {
            if (ex) execve("/bin/true", argv, envp);
            _exit(ex ? 127 : 0);
        }
        int st;
        if (waitpid(p, &st, 0) < 0) die("waitpid");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "churn: child %ld exited with status %d\n", i, st);
            return 1;
        }
        execs += ex;
    }
    printf("processes %ld execs %ld\n", n, execs);
    phase("done");
    return 0;
}

static int files(long n, long hold, const char *dir) {
    char path[4096];
    raise_nofile((rlim_t)hold + 64);
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/f%08ld", dir, i);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) die("open");
        if (close(fd) != 0) die("close");
        if (unlink(path) != 0) die("unlink");
    }
    phase("churned");
    int *fds = calloc((size_t)hold, sizeof *fds);
    if (!fds) die("calloc");
    for (long i = 0; i < hold; i++) {
        snprintf(path, sizeof path, "%s/h%08ld", dir, i);
        fds[i] = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fds[i] < 0) die("open (held)");
    }
    phase("held");
    await_go();
    for (long i = 0; i < hold; i++) {
        if (close(fds[i]) != 0) die("close (held)");
        snprintf(path, sizeof path, "%s/h%08ld", dir, i);
        if (unlink(path) != 0) die("unlink (held)");
    }
    printf("files %ld held %ld\n", n, hold);
    phase("closed");
    await_go();
    return 0;
}

struct tcp_server {
    long n;
    int l;
    int *fds;
};

static void tcp_accept_all(void *a) {
    struct tcp_server *t = a;
    raise_nofile((rlim_t)t->n + 64);
    for (long i = 0; i < t->n; i++) {
        t->fds[i] = accept4(t->l, NULL, NULL, SOCK_CLOEXEC);
        if (t->fds[i] < 0) die("accept4");
    }
}

static void tcp_close_all(void *a) {
    struct tcp_server *t = a;
    for (long i = 0; i < t->n; i++)
        if (close(t->fds[i]) != 0) die("close (accepted)");
    close(t->l);
}

struct udp_senders {
    long n;
    int *fds;
};

/* One UDP receiver; each sender sends one datagram to it from its own
 * socket (a new peer for every socket: fd.name_changed state). */
static void udp_open_all(void *a) {
    struct udp_senders *u = a;
    raise_nofile((rlim_t)u->n + 64);
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t ual = sizeof ua;
    int r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (r < 0 || bind(r, (struct sockaddr *)&ua, sizeof ua) != 0) die("udp bind");
    if (getsockname(r, (struct sockaddr *)&ua, &ual) != 0) die("getsockname (udp)");
    char buf[16];
    for (long i = 0; i < u->n; i++) {
        u->fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (u->fds[i] < 0) die("socket (udp)");
        if (sendto(u->fds[i], "x", 1, 0, (struct sockaddr *)&ua, sizeof ua) != 1) die("sendto");
        (void)recv(r, buf, sizeof buf, MSG_DONTWAIT);
    }
    close(r);
}

static void udp_close_all(void *a) {
    struct udp_senders *u = a;
    for (long i = 0; i < u->n; i++)
        if (close(u->fds[i]) != 0) die("close (udp)");
}

/* The connecting ends in this process, the accepted ends and the UDP
 * sockets in two helper processes (one process may hold fewer descriptors
 * than all of them). */
static int sockets(long n) {
    raise_nofile((rlim_t)n + 64);
    struct udp_senders us = {n, calloc((size_t)n, sizeof(int))};
    if (!us.fds) die("calloc");
    /* First, while this process holds no socket for it to inherit. */
    struct holder udp = holder_start(udp_open_all, udp_close_all, &us);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) die("socket");
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0) die("bind");
    if (listen(l, 4096) != 0) die("listen");
    if (getsockname(l, (struct sockaddr *)&a, &al) != 0) die("getsockname");
    int *c = calloc((size_t)n, sizeof *c);
    struct tcp_server ts = {n, l, calloc((size_t)n, sizeof(int))};
    if (!c || !ts.fds) die("calloc");
    struct holder srv = holder_start(tcp_accept_all, tcp_close_all, &ts);
    close(l);
    for (long i = 0; i < n; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c[i] < 0) die("socket (tcp)");
        if (connect(c[i], (struct sockaddr *)&a, sizeof a) != 0) die("connect");
    }
    holder_wait(&srv);
    holder_wait(&udp);
    phase("held");
    await_go();
    for (long i = 0; i < n; i++)
        if (close(c[i]) != 0) die("close (tcp)");
    holder_step(&srv);
    holder_step(&udp);
    holder_wait(&srv);
    holder_wait(&udp);
    printf("tcp %ld udp %ld\n", n, n);
    phase("closed");
    await_go();
    holder_end(&srv);
    holder_end(&udp);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "procs") == 0)
        return procs(atol(argv[2]), atol(argv[3]));
    if (argc >= 5 && strcmp(argv[1], "files") == 0)
        return files(atol(argv[2]), atol(argv[3]), argv[4]);
    if (argc >= 3 && strcmp(argv[1], "sockets") == 0)
        return sockets(atol(argv[2]));
    fprintf(stderr, "usage: churn procs N EXEC_EVERY | files N HOLD DIR | sockets N\n");
    return 2;
}
